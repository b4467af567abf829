import {
  type Backend,
  createReferenceBackend,
  createRelaxedQuantizer,
  createTapeBackend,
  fusedMixture,
  fusedQuantizer,
  type Granularity,
  parseConfig,
  Random,
  type TensorQuantConfig,
} from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../src/addon.js';
import { createFusedQuantizers, type QuantAddon } from '../src/fused.js';
import { createNativeCpuBackend } from '../src/index.js';
import { createNativeKernels } from '../src/kernels.js';

/**
 * The relaxations on native-cpu, where `quantize`, PACT and the DQA / Binary-Relax mixtures run
 * the fused kernels, against the reference backend (plain references and core's host paths):
 * the same relaxed weights, hard quantizer, loss and gradients for w, DQA's α and PACT's α.
 */

const addon = loadAddon().addon!;

/** A native-cpu backend whose fused kernels count their calls. */
function countingBackend(): { b: Backend; calls: { forward: number; dots: number; pact: number } } {
  const calls = { forward: 0, dots: 0, pact: 0 };
  const counting: QuantAddon = {
    quantForward: (...a) => {
      calls.forward++;
      return addon.quantForward(...a);
    },
    quantDots: (...a) => {
      calls.dots++;
      addon.quantDots(...a);
    },
    quantPactBackward: (...a) => {
      calls.pact++;
      return addon.quantPactBackward(...a);
    },
  };
  const b = createTapeBackend(createNativeKernels(addon), 'native-cpu', { hostMemory: true });
  Object.defineProperty(b, 'fusedQuantizers', { value: createFusedQuantizers(b, counting) });
  return { b, calls };
}

interface Case {
  label: string;
  relaxation: string;
  quantizers: { id: string; bits: number; granularity?: Granularity; channelAxis?: number }[];
  shape: number[];
  target?: 'weights' | 'activations';
  /** Mean of the drawn values (PACT: mostly positive activations around its clip level). */
  mean?: number;
}

function relaxed(b: Backend, c: Case) {
  const config = parseConfig(
    { model: { name: 'm' }, data: { name: 'd' }, relaxation: { dqa: { lambda: 3 } } },
    { quantizers },
  );
  const spec: TensorQuantConfig = {
    relaxation: c.relaxation,
    quantizers: c.quantizers.map((q) => ({
      id: q.id,
      bits: q.bits,
      granularity: q.granularity ?? 'tensor',
      channelAxis: q.channelAxis ?? -1,
    })),
  };
  return createRelaxedQuantizer(b, spec, {
    name: `${c.label}/${c.target ?? 'weights'}`,
    rank: c.shape.length,
    target: c.target ?? 'weights',
    quantizers,
    relaxationConfig: config.relaxation,
  });
}

/** Relaxed values, hard values, loss and gradients at an early, middle and late step. */
function run(b: Backend, c: Case) {
  const n = c.shape.reduce((a, d) => a * d, 1);
  const rng = new Random(21);
  const w0 = rng.normalArray(n, c.mean ?? 0, c.mean ? 4 : 1);
  const r = rng.normalArray(n, 0, 1);
  const w = b.tidy(() => b.variable(b.tensor(w0, c.shape), { name: `${c.label}-w` }));
  const rq = relaxed(b, c);
  const out: Record<string, Float32Array> = {};
  try {
    for (const s of [0, 50, 97]) {
      const step = { step: s, totalSteps: 100, stepsPerEpoch: 10 };
      rq.beforeStep(step);
      const { value, grads } = b.valueAndGrads(() => {
        const loss = b.sum(b.mul(rq.forward(w, step), b.tensor(r, c.shape)));
        const reg = rq.regularizer(step, 1000);
        return reg ? b.add(loss, reg) : loss;
      }, [w, ...rq.variables]);
      out[`loss@${s}`] = b.readSync(value);
      out[`q@${s}`] = b.tidy(() => b.readSync(rq.forward(w, step)));
      out[`hard@${s}`] = b.tidy(() => b.readSync(rq.hard(w)));
      grads.forEach((g, i) => {
        out[`grad${i}@${s}`] = b.readSync(g);
      });
      b.dispose([value, ...grads]);
    }
  } finally {
    rq.dispose();
    b.dispose(w);
  }
  return out;
}

function expectClose(got: Record<string, Float32Array>, want: Record<string, Float32Array>) {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const [k, v] of Object.entries(want)) {
    const g = got[k]!;
    expect(g.length, k).toBe(v.length);
    for (let i = 0; i < v.length; i++) {
      const d = Math.abs(g[i]! - v[i]!);
      if (!(d <= 1e-5 * Math.max(1, Math.abs(v[i]!))))
        expect.fail(`${k}[${i}]: native-cpu ${g[i]}, reference ${v[i]}`);
    }
  }
}

const cases: Case[] = [
  {
    label: 'dqa-minmax-248',
    relaxation: 'dqa',
    quantizers: [2, 4, 8].map((bits) => ({ id: 'minmax', bits })),
    shape: [3, 3, 5, 7],
  },
  {
    label: 'dqa-minmax-channel',
    relaxation: 'dqa',
    quantizers: [1, 3, 5, 6, 7].map((bits) => ({
      id: 'minmax',
      bits,
      granularity: 'channel' as const,
      channelAxis: 3,
    })),
    shape: [3, 3, 64, 60],
  },
  {
    label: 'dqa-sawb-fp',
    relaxation: 'dqa',
    quantizers: [
      { id: 'sawb', bits: 2, granularity: 'channel', channelAxis: 0 },
      { id: 'sawb', bits: 4 },
      { id: 'fp', bits: 32 },
    ],
    shape: [17, 13],
  },
  {
    label: 'br-twn-minmax-fp',
    relaxation: 'binary-relax',
    quantizers: [
      { id: 'twn', bits: 2 },
      { id: 'minmax', bits: 8, granularity: 'channel', channelAxis: 1 },
      { id: 'fp', bits: 32 },
    ],
    shape: [31, 9],
  },
  {
    label: 'br-bwn-fp',
    relaxation: 'binary-relax',
    quantizers: [
      { id: 'bwn', bits: 1, granularity: 'channel', channelAxis: 1 },
      { id: 'fp', bits: 32 },
    ],
    shape: [200, 10],
  },
  {
    label: 'ste-sawb-channel',
    relaxation: 'ste',
    quantizers: [{ id: 'sawb', bits: 3, granularity: 'channel', channelAxis: 1 }],
    shape: [5, 11, 3],
  },
  {
    label: 'ste-pact',
    relaxation: 'ste',
    quantizers: [{ id: 'pact', bits: 4 }],
    shape: [8, 33],
    target: 'activations',
    mean: 3,
  },
  {
    label: 'dqa-pact',
    relaxation: 'dqa',
    quantizers: [
      { id: 'pact', bits: 2 },
      { id: 'pact', bits: 8 },
    ],
    shape: [4, 45],
    target: 'activations',
    mean: 3,
  },
];

describe('relaxations on native-cpu’s fused quantizers', () => {
  it('createNativeCpuBackend offers the capability for every built-in plugin', () => {
    const b = createNativeCpuBackend();
    expect(b.fusedQuantizers).toBeDefined();
    for (const p of quantizers.list()) {
      const bits = 'values' in p.bits ? p.bits.values[0]! : p.bits.min;
      const lq = { plugin: p, bits, granularity: 'tensor' as const, channelAxis: 0, params: {} };
      // PACT without its α parameter still has a fused kernel (with its own backward).
      expect(fusedQuantizer(b, lq), p.id).toBeDefined();
    }
    b.close?.();
  });

  for (const c of cases) {
    it(`${c.label}: values and gradients (w and every α) as on the reference backend`, () => {
      const { b, calls } = countingBackend();
      const got = run(b, c);
      const want = run(createReferenceBackend(), c);
      expectClose(got, want);
      // The fused kernels ran: a mixture's forward and its dots for DQA, PACT's backward.
      expect(calls.forward).toBeGreaterThan(0);
      if (c.relaxation === 'dqa' && !c.quantizers.some((q) => q.id === 'pact'))
        expect(calls.dots).toBe(3);
      if (c.quantizers.some((q) => q.id === 'pact')) expect(calls.pact).toBeGreaterThan(0);
      // Something to compare: gradients that are not all zero.
      const nonZero = Object.entries(got).filter(
        ([k, v]) => k.startsWith('grad') && v.some((g) => g !== 0),
      );
      expect(nonZero.length).toBeGreaterThan(c.quantizers.some((q) => q.id === 'pact') ? 3 : 2);
    });
  }

  it('DQA over straight-through plugins runs one fused mixture, not K quantizers', () => {
    const { b, calls } = countingBackend();
    const c = cases[0]!;
    const rq = relaxed(b, c);
    expect(fusedMixture(b, rq.quantizers)).toBeDefined();
    const step = { step: 3, totalSteps: 10, stepsPerEpoch: 5 };
    const x = b.tensor(new Random(1).normalArray(315, 0, 1), c.shape);
    b.tidy(() => rq.forward(x, step));
    expect(calls.forward).toBe(1);
    rq.dispose();
    b.dispose(x);
  });
});
