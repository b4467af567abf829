import {
  type Backend,
  type FusedQuantizerSpec,
  type Granularity,
  NonFiniteInputError,
  type QuantizerPlugin,
  Random,
  type ReferenceOptions,
  type Tensor,
} from '@dqa/core';
import { bwn, fp, minmax, pact, quantizers, sawb, twn } from '@dqa/quantizers';
import { afterAll, describe, expect, it } from 'vitest';
import { createNativeCpuBackend } from '../src/index.js';

/**
 * The fused C++ quantizer kernels (native/quant.cc through src/fused.ts) against the plugins'
 * plain references: Q(x) with its calibration for every plugin, bits and granularity; the K-way
 * mixture and its dot products; PACT's gradient. Min-max, SAWB, PACT and FP equal the reference
 * bit for bit (±0 included); BWN and TWN sum E|x| in parallel, so their β may differ by one
 * float32 ulp (in practice they are equal too).
 */

const b: Backend = createNativeCpuBackend();
afterAll(() => b.close?.());
const fused = b.fusedQuantizers!;

/** Distance in float32 units in the last place (0 for equal values, ±0 counted apart). */
function ulps(a: number, c: number): number {
  if (Object.is(a, c)) return 0;
  const f = Float32Array.of(a, c);
  const i = new Int32Array(f.buffer);
  const ordered = (v: number) => (v < 0 ? -(v & 0x7fffffff) : v);
  return Math.max(1, Math.abs(ordered(i[0]!) - ordered(i[1]!)));
}

function maxUlps(got: Float32Array, want: Float32Array, label: string): number {
  expect(got.length, label).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const u = ulps(got[i]!, want[i]!);
    if (u > worst) worst = u;
    if (u > 1) expect.fail(`${label}: element ${i} is ${got[i]}, the reference gives ${want[i]}`);
  }
  return worst;
}

/** Whether a plugin's fused kernel may be one ulp off its reference (parallel mean |x|). */
const meanBased = (p: QuantizerPlugin) => p === bwn || p === twn;

function spec(
  plugin: QuantizerPlugin,
  bits: number,
  granularity: Granularity = 'tensor',
  channelAxis = 0,
): FusedQuantizerSpec {
  return { plugin, bits, granularity, channelAxis };
}

function options(s: FusedQuantizerSpec, shape: number[]): ReferenceOptions {
  return { granularity: s.granularity, shape, channelAxis: s.channelAxis };
}

function bitsOf(p: QuantizerPlugin): number[] {
  const bits = p.bits;
  if ('values' in bits) return [...bits.values];
  return Array.from({ length: Math.min(bits.max, 8) - bits.min + 1 }, (_, i) => bits.min + i);
}

/** Shapes: odd sizes, channels on every axis, and one above the kernels' parallel threshold. */
const shapes = [[7], [6, 25], [3, 3, 4, 5], [5, 3, 17], [3, 3, 64, 60]];

/** Q(x) by the fused kernel, read back. */
function fusedQ(s: FusedQuantizerSpec, x: Float32Array, shape: number[], alpha?: number) {
  const q = fused.quantizer(s);
  expect(q, `${s.plugin.id}: a fused kernel`).toBeDefined();
  return b.tidy(() => {
    const params: Record<string, Tensor> = alpha === undefined ? {} : { alpha: b.scalar(alpha) };
    return b.readSync(q!.forward(b.tensor(x, shape), params));
  });
}

describe('fused quantizer kernels match the plugins’ references', () => {
  const rng = new Random(3);
  for (const plugin of [minmax, sawb, bwn, twn, pact, fp] as QuantizerPlugin[]) {
    it(`${plugin.id}: every bitwidth, per tensor and per channel on every axis`, () => {
      let worst = 0;
      for (const shape of shapes) {
        const x = rng.normalArray(
          shape.reduce((a, d) => a * d, 1),
          0.2,
          1.5,
        );
        for (const bits of bitsOf(plugin)) {
          const specs =
            plugin.granularities.includes('channel') && shape.length > 1
              ? [spec(plugin, bits), ...shape.map((_, axis) => spec(plugin, bits, 'channel', axis))]
              : [spec(plugin, bits)];
          for (const s of specs) {
            const label = `${plugin.id} ${bits}-bit ${s.granularity} axis ${s.channelAxis} [${shape}]`;
            if (plugin === pact) {
              // The learned clip level, and the calibrated one (α = max x) without a parameter.
              const ref = plugin.reference(x, bits, { params: { alpha: 1.3 } });
              expect(maxUlps(fusedQ(s, x, shape, 1.3), ref, label)).toBe(0);
              expect(maxUlps(fusedQ(s, x, shape), plugin.reference(x, bits), label)).toBe(0);
              continue;
            }
            const got = fusedQ(s, x, shape);
            const u = maxUlps(got, plugin.reference(x, bits, options(s, shape)), label);
            if (!meanBased(plugin)) expect(u, label).toBe(0);
            worst = Math.max(worst, u);
          }
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
    });
  }

  it('values half-way between two levels round as the reference (ties up)', () => {
    // ⌊(x − lo)/Δ + ½⌋ at exact ties: the kernels' multiply-by-1/Δ shortcut must fall back.
    for (const bits of [1, 2, 3, 5, 8]) {
      const L = 2 ** bits - 1;
      for (const scale of [1, 0.37, 3e-3, 7.1]) {
        const x = Float32Array.from(
          { length: 4 * L + 1 },
          (_, i) => (scale * i) / (2 * L) - 0.3 * scale,
        );
        const shape = [x.length];
        for (const s of [spec(minmax, bits), spec(sawb, bits)])
          expect(maxUlps(fusedQ(s, x, shape), s.plugin.reference(x, bits), `${s.plugin.id}`)).toBe(
            0,
          );
        const ref = pact.reference(x, bits, { params: { alpha: 0.7 * scale } });
        expect(maxUlps(fusedQ(spec(pact, bits), x, shape, 0.7 * scale), ref, 'pact')).toBe(0);
      }
    }
  });

  it('constant tensors, signed zeros and single values', () => {
    const cases: [number[], number[]][] = [
      [[-0, 0, -0], [3]],
      [
        [0, -0, 0, 0],
        [2, 2],
      ],
      [[2.5], [1]],
      [
        [-1, -1, -1, -1],
        [2, 2],
      ],
      [[-3, -2, -1, -0.5], [4]],
    ];
    for (const [values, shape] of cases) {
      const x = Float32Array.from(values);
      for (const plugin of [minmax, sawb, bwn, twn]) {
        for (const bits of plugin === bwn ? [1] : plugin === twn ? [2] : [1, 2, 8]) {
          for (const g of ['tensor', 'channel'] as const) {
            const s = spec(plugin, bits, g, shape.length - 1);
            const label = `${plugin.id} ${bits}-bit ${g} ${values}`;
            expect(
              maxUlps(fusedQ(s, x, shape), plugin.reference(x, bits, options(s, shape)), label),
            ).toBe(0);
          }
        }
      }
      for (const bits of [1, 2, 8])
        expect(maxUlps(fusedQ(spec(pact, bits), x, shape), pact.reference(x, bits), 'pact')).toBe(
          0,
        );
    }
  });

  it('rejects non-finite values with the plugin’s own error', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const x = Float32Array.of(1, 2, bad, 3);
      for (const plugin of [minmax, sawb, bwn, twn, pact]) {
        const q = fused.quantizer(spec(plugin, plugin === bwn ? 1 : 2))!;
        const t = b.tensor(x, [4]);
        let want: unknown;
        try {
          plugin.reference(x, plugin === bwn ? 1 : 2);
        } catch (e) {
          want = e;
        }
        expect(want).toBeInstanceOf(NonFiniteInputError);
        expect(() => q.forward(t, {})).toThrow((want as Error).message);
        b.dispose(t);
      }
      const mix = fused.mixture([spec(minmax, 2), spec(fp, 32)])!;
      const t = b.tensor(x, [4]);
      expect(() => mix.forward(t, [0.5, 0.5])).toThrow(NonFiniteInputError);
      b.dispose(t);
    }
  });
});

describe('fused mixtures Σ_k a_k·Q_k(w) and their dot products', () => {
  const rng = new Random(4);
  const mixtures: [string, FusedQuantizerSpec[]][] = [
    ['DQA minmax 2/4/8', [spec(minmax, 2), spec(minmax, 4), spec(minmax, 8)]],
    [
      'DQA minmax 2/4/8 per channel (last axis)',
      [2, 4, 8].map((n) => spec(minmax, n, 'channel', 3)),
    ],
    [
      'mixed kinds and groupings',
      [spec(bwn, 1, 'channel', 0), spec(twn, 2), spec(sawb, 3, 'channel', 2), spec(fp, 32)],
    ],
    ['BR minmax 2 + fp', [spec(minmax, 2), spec(fp, 32)]],
  ];
  for (const [label, specs] of mixtures) {
    it(`${label}: the reference mixture's values, dL/da_k to double rounding`, () => {
      for (const shape of [
        [3, 3, 4, 5],
        [3, 3, 64, 60],
      ]) {
        const n = shape.reduce((a, d) => a * d, 1);
        const x = rng.normalArray(n, 0, 1);
        const dy = rng.normalArray(n, 0, 1);
        const weights = specs.map((_, k) => 1 / (k + 1.7));
        const mix = fused.mixture(specs)!;
        expect(mix).toBeDefined();
        const { got, dots } = b.tidy(() => {
          const r = mix.forward(b.tensor(x, shape), weights);
          return { got: b.readSync(r.value), dots: r.dots(b.tensor(dy, shape)) };
        });
        // The host mixture of DQA (packages/core/src/relaxation/dqa.ts): out += a_k·Q_k in float32.
        const qs = specs.map((s) => s.plugin.reference(x, s.bits, options(s, shape)));
        const want = new Float32Array(n);
        qs.forEach((q, k) => {
          for (let i = 0; i < n; i++) want[i]! += weights[k]! * q[i]!;
        });
        const u = maxUlps(got, want, label);
        if (!specs.some((s) => meanBased(s.plugin))) expect(u).toBe(0);
        qs.forEach((q, k) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += dy[i]! * q[i]!;
          expect(Math.abs(dots[k]! - s), `${label} dot ${k}`).toBeLessThanOrEqual(
            1e-12 * Math.max(1, Math.abs(s)),
          );
        });
      }
    });
  }

  it('no fused mixture over PACT (its α needs its own gradient) or an unknown plugin', () => {
    expect(fused.mixture([spec(pact, 2), spec(pact, 4)])).toBeUndefined();
    const foreign = { ...minmax, id: 'foreign', reference: (x: Float32Array) => x.slice() };
    expect(fused.mixture([spec(foreign, 2), spec(minmax, 4)])).toBeUndefined();
  });
});

describe('PACT’s fused gradient rule', () => {
  it('dx and dα as referenceGrad, with a learned and a calibrated α', () => {
    const rng = new Random(5);
    for (const shape of [
      [6, 25],
      [3, 3, 64, 60],
    ]) {
      const n = shape.reduce((a, d) => a * d, 1);
      const x = rng.normalArray(n, 1, 2);
      const dy = rng.normalArray(n, 0, 1);
      for (const bits of [1, 2, 4, 8]) {
        const q = fused.quantizer(spec(pact, bits))!;
        expect(q.backward).toBeDefined();
        for (const alpha of [2.5, undefined]) {
          const got = b.tidy(() => {
            const params: Record<string, Tensor> =
              alpha === undefined ? {} : { alpha: b.scalar(alpha) };
            const g = q.backward!(b.tensor(x, shape), b.tensor(dy, shape), params);
            return {
              dx: b.readSync(g.dx),
              dAlpha: g.params.alpha ? b.readSync(g.params.alpha)[0] : undefined,
            };
          });
          const want = pact.referenceGrad(
            x,
            bits,
            dy,
            alpha === undefined ? {} : { params: { alpha } },
          );
          expect(maxUlps(got.dx, want.dx, 'pact dx')).toBe(0);
          if (alpha === undefined) expect(got.dAlpha).toBeUndefined();
          else {
            // Summed in double, handed back as a float32 scalar tensor.
            const w = want.params!.alpha!;
            expect(Math.abs(got.dAlpha! - w)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w)));
          }
        }
      }
    }
  });
});

describe('results are the caller’s', () => {
  it('a later call of the same size leaves earlier results as they were', () => {
    // The kernels write into scratch arrays reused by length; `b.tensor` must have copied them.
    const rng = new Random(6);
    const x1 = rng.normalArray(5000, 0, 1);
    const x2 = rng.normalArray(5000, 0, 1);
    const q = fused.quantizer(spec(minmax, 2))!;
    const mix = fused.mixture([spec(minmax, 2), spec(fp, 32)])!;
    const t1 = q.forward(b.tensor(x1, [5000]), {});
    const m1 = mix.forward(b.tensor(x1, [5000]), [0.5, 0.5]).value;
    const t2 = q.forward(b.tensor(x2, [5000]), {});
    const m2 = mix.forward(b.tensor(x2, [5000]), [0.5, 0.5]).value;
    expect(b.readSync(t1)).toEqual(minmax.reference(x1, 2));
    expect(b.readSync(t2)).toEqual(minmax.reference(x2, 2));
    const half = (x: Float32Array) => {
      const out = new Float32Array(x.length);
      const q = minmax.reference(x, 2);
      for (let i = 0; i < x.length; i++) out[i]! += 0.5 * q[i]!;
      for (let i = 0; i < x.length; i++) out[i]! += 0.5 * x[i]!;
      return out;
    };
    expect(b.readSync(m1)).toEqual(half(x1));
    expect(b.readSync(m2)).toEqual(half(x2));
    b.dispose([t1, t2, m1, m2]);
  });
});

describe('which plugins have fused kernels', () => {
  it('the built-ins, a built-in spread under another id; not a foreign plugin or bad bits', () => {
    for (const p of quantizers.list())
      expect(fused.quantizer(spec(p, bitsOf(p)[0]!))).toBeDefined();
    // Same reference and gradient rule: the same quantizer, whatever its id.
    expect(fused.quantizer(spec({ ...minmax, id: 'my-minmax' }, 2))).toBeDefined();
    // The same id with other semantics is not ours.
    const impostor = { ...minmax, reference: (x: Float32Array) => x.slice() };
    expect(fused.quantizer(spec(impostor, 2))).toBeUndefined();
    expect(fused.quantizer(spec(sawb, 12))).toBeUndefined();
    expect(fused.quantizer(spec(pact, 2, 'channel', 0))).toBeUndefined();
  });
});
