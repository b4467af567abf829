import { describe, expect, it } from 'vitest';
import { conformanceQuantizer } from '../src/conformance/index.js';
import {
  type Backend,
  ConfigError,
  createQuantizerRegistry,
  createReferenceBackend,
  createRelaxedQuantizer,
  createTapeBackend,
  defineQuantizer,
  type Granularity,
  parseConfig,
  type QnetOptions,
  type QuantizerPlugin,
  qnetAutoTemperature,
  qnetRelaxation,
  qnetSteps,
  qnetTemperature,
  qnetValue,
  Random,
  type RelaxedQuantizer,
  referenceKernels,
  relaxations,
  risingTemperature,
  type StepInfo,
  type TrainableModel,
  type TrainEvent,
  train,
  type Variable,
} from '../src/index.js';
import { blobs } from './blobs.js';
import { fakeMinmax, fakeQuantizers } from './fake-plugins.js';
import { quantizedMlp } from './mlp.js';
import { expectResumeBitForBit } from './resume.js';

/** Fixed levels −0.6, −0.2, 0.2, 0.6 whatever x is: finite differences see no recalibration. */
const fixedLevels = defineQuantizer({
  ...conformanceQuantizer,
  id: 'fixed-levels',
  description: 'four fixed levels (tests only)',
  bits: { values: [2] },
  levels: () => [Float32Array.of(-0.6, -0.2, 0.2, 0.6)],
});

/** Symmetric uniform levels on ±max|x| of each channel (last axis): per-channel level sets. */
const channelLevels = defineQuantizer({
  ...conformanceQuantizer,
  id: 'channel-levels',
  description: 'per-channel symmetric uniform levels (tests only)',
  granularities: ['tensor', 'channel'],
  levels(x, bits, options) {
    const C = options?.granularity === 'channel' ? options.shape!.at(-1)! : 1;
    const L = 2 ** bits - 1;
    return Array.from({ length: C }, (_, c) => {
      let m = 0;
      for (let i = c; i < x.length; i += C) m = Math.max(m, Math.abs(x[i]!));
      return Float32Array.from({ length: L + 1 }, (_, k) => -m + (2 * m * k) / L);
    });
  },
});

const quantizers = createQuantizerRegistry([
  ...fakeQuantizers().list(),
  fixedLevels,
  channelLevels,
]);
const registries = { quantizers };
const base = { model: { name: 'm' }, data: { name: 'd' } };

const hostBackend = () => createTapeBackend(referenceKernels, 'host', { hostMemory: true });
const opsBackend = () => createTapeBackend(referenceKernels, 'ops');

let counter = 0;
function relaxed(
  b: Backend,
  plugin: QuantizerPlugin,
  bits: number,
  options: Partial<QnetOptions> = {},
  granularity: Granularity = 'tensor',
  channelAxis = 0,
): RelaxedQuantizer {
  counter += 1;
  return qnetRelaxation.create(
    b,
    `layer${counter}/weights`,
    [{ plugin, bits, granularity, channelAxis, params: {} }],
    options,
  );
}

const at = (step: number, totalSteps = 100): StepInfo => ({ step, totalSteps, stepsPerEpoch: 10 });

function read(b: Backend, f: () => ReturnType<Backend['tensor']>): Float32Array {
  return b.tidy(() => b.readSync(f()));
}

describe('qnet math', () => {
  it('turns a level set into steps: heights, thresholds and offset in units of the mean gap', () => {
    const s = qnetSteps([0.3, -0.9, -0.3, 0.9]);
    expect(s.scale).toBeCloseTo(0.6, 12);
    for (const h of s.heights) expect(h).toBeCloseTo(1, 12);
    expect(s.biases.map((v) => +v.toFixed(12))).toEqual([-1, 0, 1]);
    // o = −l_0/d = ½·Σ s_i for a symmetric set.
    expect(s.offset).toBeCloseTo(1.5, 12);
    // A set starting at 0 (ReLU activations): o = 0.
    expect(qnetSteps([0, 1, 2, 3]).offset).toBe(0);
    // Non-uniform: heights follow the gaps.
    const n = qnetSteps([0, 1, 4]);
    expect(n.scale).toBe(2);
    expect(n.heights).toEqual([0.5, 1.5]);
    expect(n.biases).toEqual([0.25, 1.25]);
    // Degenerate sets: no steps, the output is the constant level.
    expect(qnetSteps([0.5, 0.5])).toEqual({ scale: 1, heights: [], biases: [], offset: -0.5 });
    expect(qnetValue(3, qnetSteps([0.5]), 1, 1, 2)).toBe(0.5);
    expect(() => qnetSteps([0, Number.NaN])).toThrow(/levels must be finite/);
  });

  it('the hard function (T = ∞) is the nearest level, ties going up', () => {
    const levels = [-0.9, -0.3, 0.3, 0.9];
    const s = qnetSteps(levels);
    for (const x of [-2, -0.61, -0.59, -0.01, 0.01, 0.59, 0.61, 5]) {
      const nearest = levels.reduce((best, l) =>
        Math.abs(l - x) < Math.abs(best - x) - 1e-12 ? l : best,
      );
      expect(qnetValue(x, s, 1, 1, Number.POSITIVE_INFINITY)).toBeCloseTo(nearest, 12);
    }
    // Exactly on the threshold between −0.3 and 0.3: up.
    expect(qnetValue(0, s, 1, 1, Number.POSITIVE_INFINITY)).toBeCloseTo(0.3, 12);
  });

  it('auto end temperature: each sigmoid within ε of its step beyond the band around its threshold', () => {
    const T = qnetAutoTemperature(1e-3);
    expect(T).toBeCloseTo(Math.log(999) / 0.05, 12);
    expect(1 / (1 + Math.exp(-T * 0.05))).toBeCloseTo(1 - 1e-3, 12);
    expect(qnetAutoTemperature(1e-3, 0.5)).toBeCloseTo(2 * T, 12);
    // band ½: agreement only half-way between thresholds.
    expect(qnetAutoTemperature(1e-3, 1, 0.5)).toBeCloseTo(2 * Math.log(999), 12);
    expect(() => qnetAutoTemperature(0.5)).toThrow(/epsilon must be in \(0, 0.5\)/);
    expect(() => qnetAutoTemperature(1e-3, 1, 0.6)).toThrow(/band must be in \(0, 0.5\]/);
  });
});

describe('qnet temperature schedule', () => {
  const o = (shape: 'linear' | 'exponential', tEnd: number | 'auto' = 'auto'): QnetOptions => ({
    temperature: { shape, t0: 1, tEnd },
    epsilon: 1e-3,
    band: 0.05,
  });

  it('starts at t0, ends at tEnd and rises monotonically (linear and exponential)', () => {
    for (const shape of ['linear', 'exponential'] as const) {
      for (const tEnd of ['auto', 40] as const) {
        const end = tEnd === 'auto' ? Math.log(999) / 0.05 : tEnd;
        const Ts = Array.from({ length: 101 }, (_, s) => qnetTemperature(at(s), o(shape, tEnd)));
        expect(Ts[0]).toBe(1);
        expect(Ts[100]).toBeCloseTo(end, 12);
        for (let s = 1; s <= 100; s++) expect(Ts[s]!).toBeGreaterThan(Ts[s - 1]!);
        // Clamped outside the run.
        expect(qnetTemperature(at(-5), o(shape, tEnd))).toBe(1);
        expect(qnetTemperature(at(500), o(shape, tEnd))).toBeCloseTo(end, 12);
      }
    }
    expect(qnetTemperature(at(50), o('linear', 41))).toBeCloseTo(21, 12);
    expect(qnetTemperature(at(50), o('exponential', 49))).toBeCloseTo(7, 12);
  });

  it('auto never goes below t0 (the run then stays at t0)', () => {
    const hot: QnetOptions = {
      temperature: { shape: 'linear', t0: 200, tEnd: 'auto' },
      epsilon: 1e-3,
      band: 0.05,
    };
    expect(qnetTemperature(at(0), hot)).toBe(200);
    expect(qnetTemperature(at(100), hot)).toBe(200);
  });

  it('rejects a temperature that does not rise, naming the values', () => {
    expect(() => risingTemperature(3, { shape: 'linear', t0: 2, tEnd: 2, steps: 10 })).toThrow(
      /tEnd \(2\) must be finite and above t0 \(2\)/,
    );
    expect(() => risingTemperature(3, { shape: 'linear', t0: 1, tEnd: 5, steps: 0 })).toThrow(
      /steps must be a positive integer/,
    );
  });
});

describe('qnet relaxation', () => {
  it('is registered and built by createRelaxedQuantizer with K = 1 (minmax 2 bit)', () => {
    expect(relaxations.has('qnet')).toBe(true);
    const b = createReferenceBackend();
    const rq = createRelaxedQuantizer(
      b,
      {
        relaxation: 'qnet',
        quantizers: [{ id: 'minmax', bits: 2, granularity: 'tensor', channelAxis: -1 }],
      },
      { name: 'fc1/weights', rank: 2, target: 'weights', quantizers },
    );
    expect(rq.relaxation).toBe('qnet');
    expect(rq.variables.map((v) => v.name)).toEqual([
      'fc1/weights/qnet_alpha',
      'fc1/weights/qnet_beta',
    ]);
    expect(rq.variables.map((v) => Array.from(b.readSync(v)))).toEqual([[1], [1]]);
    expect(rq.mixingWeights(at(3))).toEqual([1]);
    expect(rq.regularizer(at(3), 100)).toBeNull();
    expect(() =>
      createRelaxedQuantizer(
        b,
        {
          relaxation: 'qnet',
          quantizers: [
            { id: 'minmax', bits: 2, granularity: 'tensor', channelAxis: -1 },
            { id: 'minmax', bits: 4, granularity: 'tensor', channelAxis: -1 },
          ],
        },
        { name: 'fc1/weights', rank: 2, target: 'weights', quantizers },
      ),
    ).toThrow(/relaxation 'qnet' takes 1–1 quantizers, got 2/);
    rq.dispose();
  });

  it('hard: the quantizer’s own levels at α = β = 1, exactly 2ⁿ distinct values', () => {
    for (const b of [hostBackend(), opsBackend()]) {
      const rng = new Random(5);
      for (const bits of [2, 3]) {
        const x = rng.normalArray(1000, 0, 0.7);
        const rq = relaxed(b, fakeMinmax, bits);
        const hard = read(b, () => rq.hard(b.tensor(x, [1000])));
        const want = fakeMinmax.reference(x, bits);
        for (const [i, v] of hard.entries()) expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5);
        expect(new Set(hard).size).toBe(2 ** bits);
        // The soft function is not a step: many more distinct values.
        const soft = read(b, () => rq.forward(b.tensor(x, [1000]), at(0)));
        expect(new Set(soft).size).toBeGreaterThan(500);
        // α scales the output levels; β the input, moving the thresholds.
        const [alpha, beta] = rq.variables as Variable[];
        b.tidy(() => alpha!.assign(b.scalar(2)));
        const scaled = read(b, () => rq.hard(b.tensor(x, [1000])));
        for (const [i, v] of scaled.entries()) expect(v).toBeCloseTo(2 * hard[i]!, 5);
        b.tidy(() => beta!.assign(b.scalar(100)));
        const saturated = read(b, () => rq.hard(b.tensor(x, [1000])));
        // β = 100 sends almost everything to the outer levels.
        const outer = Math.max(...Array.from(scaled, Math.abs));
        expect(
          saturated.filter((v) => Math.abs(Math.abs(v) - outer) < 1e-5).length,
        ).toBeGreaterThan(900);
        rq.dispose();
      }
    }
  });

  it('soft → hard as T grows: max |soft − hard| outside a shrinking band around the thresholds', () => {
    const b = createReferenceBackend();
    const n = 4001;
    const x = Float32Array.from({ length: n }, (_, i) => -1.2 + (2.4 * i) / (n - 1));
    const rq = relaxed(b, fixedLevels, 2);
    const hard = read(b, () => rq.hard(b.tensor(x, [n])));
    const thresholds = [-0.4, 0, 0.4];
    let previous = Number.POSITIVE_INFINITY;
    for (const tEnd of [4, 16, 64, 256, 1024]) {
      // The last step of a run that ends at tEnd: T = tEnd.
      const rqT = relaxed(b, fixedLevels, 2, { temperature: { shape: 'linear', t0: 1, tEnd } });
      const s = read(b, () => rqT.forward(b.tensor(x, [n]), at(10, 10)));
      // Band half-width 1/√T mean gaps (the gap is 0.4): it shrinks as T grows.
      const band = 0.4 / Math.sqrt(tEnd);
      let worst = 0;
      x.forEach((v, i) => {
        if (thresholds.every((t) => Math.abs(v - t) >= band))
          worst = Math.max(worst, Math.abs(s[i]! - hard[i]!));
      });
      expect(worst).toBeLessThan(previous);
      previous = worst;
      rqT.dispose();
    }
    // At T = 1024 the band is 1/32 of a gap and the worst error outside it ~ 0.4·2σ(−32): tiny.
    expect(previous).toBeLessThan(1e-6);
    rq.dispose();
  });

  it('auto end temperature: at the last step soft and hard agree on the levels (within 2ε gaps)', () => {
    const b = createReferenceBackend();
    const rng = new Random(8);
    const x = rng.normalArray(400, 0, 1);
    const rq = relaxed(b, fakeMinmax, 2);
    const levels = fakeMinmax.levels(x, 2)[0]!;
    const gap = levels[1]! - levels[0]!;
    const onLevels = Float32Array.from({ length: 400 }, (_, i) => (i < 4 ? x[i]! : levels[i % 4]!));
    // Keep the calibration (max|x|) by including the extremes of x.
    let iMax = 0;
    x.forEach((v, i) => {
      if (Math.abs(v) > Math.abs(x[iMax]!)) iMax = i;
    });
    onLevels[0] = x[iMax]!;
    const soft = read(b, () => rq.forward(b.tensor(onLevels, [400]), at(100)));
    const hard = read(b, () => rq.hard(b.tensor(onLevels, [400])));
    for (let i = 4; i < 400; i++) expect(Math.abs(soft[i]! - hard[i]!)).toBeLessThan(2.01e-3 * gap);
    // Early in the run, with a cool T, they differ by more than that.
    const early = read(b, () => rq.forward(b.tensor(onLevels, [400]), at(1)));
    expect(
      Math.max(...Array.from(early, (v, i) => (i < 4 ? 0 : Math.abs(v - hard[i]!)))),
    ).toBeGreaterThan(5e-3 * gap);
    rq.dispose();
  });

  it('gradients of x, α and β match central finite differences at moderate T (both paths)', () => {
    for (const b of [hostBackend(), opsBackend()]) {
      const rng = new Random(21);
      const x0 = rng.normalArray(12, 0, 0.5);
      const r = rng.normalArray(12, 0, 1);
      const rq = relaxed(b, fixedLevels, 2, { temperature: { shape: 'linear', t0: 1, tEnd: 5 } });
      const [alpha, beta] = rq.variables as Variable[];
      b.tidy(() => alpha!.assign(b.scalar(1.3)));
      b.tidy(() => beta!.assign(b.scalar(0.8)));
      const w = b.tidy(() => b.variable(b.tensor(x0, [3, 4]), { name: 'w' }));
      const step = at(50);
      const loss = () => b.sum(b.mul(rq.forward(w, step), b.tensor(r, [3, 4])));
      const { value, grads } = b.valueAndGrads(loss, [w, alpha!, beta!]);
      const analytic = grads.map((g) => Array.from(b.readSync(g)));
      b.dispose([value, ...grads]);
      const f = () => b.tidy(() => b.readSync(loss())[0]!);
      const eps = 1e-3;
      const numeric = (v: Variable, values: number[], shape: number[]) =>
        values.map((_, k) => {
          const moved = (d: number) => {
            const m = values.slice();
            m[k]! += d;
            b.tidy(() => v.assign(b.tensor(m, shape)));
            return f();
          };
          const d = (moved(eps) - moved(-eps)) / (2 * eps);
          b.tidy(() => v.assign(b.tensor(values, shape)));
          return d;
        });
      const want = [
        numeric(w, Array.from(x0), [3, 4]),
        numeric(alpha!, [1.3], []),
        numeric(beta!, [0.8], []),
      ];
      for (const [j, g] of analytic.entries()) {
        for (const [k, v] of g.entries())
          expect(Math.abs(v - want[j]![k]!)).toBeLessThan(2e-3 + 1e-2 * Math.abs(want[j]![k]!));
      }
      // Not a straight-through gradient: dL/dx ≠ r.
      expect(analytic[0]!.some((v, k) => Math.abs(v - r[k]!) > 0.05)).toBe(true);
      expect(Math.abs(analytic[2]![0]!)).toBeGreaterThan(1e-2);
      b.dispose(w);
      rq.dispose();
    }
  });

  it('the host-memory path gives the op path’s values and gradients (per tensor and per channel)', () => {
    const cases: { plugin: QuantizerPlugin; bits: number; granularity: Granularity }[] = [
      { plugin: fakeMinmax, bits: 2, granularity: 'tensor' },
      { plugin: fakeMinmax, bits: 4, granularity: 'tensor' },
      { plugin: channelLevels, bits: 2, granularity: 'channel' },
    ];
    for (const c of cases) {
      const runOn = (b: Backend) => {
        const rng = new Random(31);
        const x0 = rng.normalArray(30, 0, 1);
        // Channel 2 scaled up: per-channel levels differ from the per-tensor ones.
        for (let i = 2; i < 30; i += 3) x0[i]! *= 4;
        const r = rng.normalArray(30, 0, 1);
        // A moderate end temperature: at T ≈ 100 the sigmoids' slopes (≈ T/4) amplify float32
        // rounding beyond what compares two computation orders.
        const rq = relaxed(
          b,
          c.plugin,
          c.bits,
          { temperature: { shape: 'linear', t0: 1, tEnd: 14 } },
          c.granularity,
          1,
        );
        const w = b.tidy(() => b.variable(b.tensor(x0, [10, 3]), { name: 'w' }));
        b.tidy(() => (rq.variables[0] as Variable).assign(b.scalar(0.9)));
        const out: number[][] = [];
        for (const s of [0, 60, 100]) {
          const { value, grads } = b.valueAndGrads(
            () => b.sum(b.mul(rq.forward(w, at(s)), b.tensor(r, [10, 3]))),
            [w, ...(rq.variables as Variable[])],
          );
          out.push(Array.from(b.readSync(value)), ...grads.map((g) => Array.from(b.readSync(g))));
          out.push(Array.from(read(b, () => rq.forward(w, at(s)))));
          b.dispose([value, ...grads]);
        }
        out.push(Array.from(read(b, () => rq.hard(w))));
        rq.dispose();
        return out;
      };
      const fast = runOn(hostBackend());
      const slow = runOn(opsBackend());
      expect(fast.length).toBe(slow.length);
      for (const [j, v] of fast.entries()) {
        for (const [k, g] of v.entries())
          expect(
            Math.abs(g - slow[j]![k]!),
            `${c.plugin.id}/${c.granularity} [${j}][${k}]`,
          ).toBeLessThan(2e-5 * Math.max(1, Math.abs(slow[j]![k]!)));
      }
      if (c.granularity === 'channel') {
        // Per channel: the hard output of channel 2 uses its own (4× wider) levels.
        const hard = fast.at(-1)!;
        const max2 = Math.max(...hard.filter((_, i) => i % 3 === 2).map(Math.abs));
        const max0 = Math.max(...hard.filter((_, i) => i % 3 === 0).map(Math.abs));
        expect(max2).toBeGreaterThan(2 * max0);
      }
    }
  });

  it('rejects bad options and an identity quantizer, naming the key', () => {
    const b = createReferenceBackend();
    expect(() =>
      relaxed(b, fakeMinmax, 2, { temperature: { shape: 'linear', t0: 4, tEnd: 2 } }),
    ).toThrow(
      /qnet 'layer\d+\/weights': temperature.tEnd must be 'auto' or a number above t0 = 4, got 2/,
    );
    expect(() => relaxed(b, fakeMinmax, 2, { epsilon: 0.7 })).toThrow(
      /epsilon must be in \(0, 0.5\)/,
    );
    expect(() =>
      relaxed(b, fakeMinmax, 2, {
        temperature: { shape: 'cosine' as 'linear', t0: 1, tEnd: 'auto' },
      }),
    ).toThrow(/temperature.shape must be 'linear' or 'exponential', got 'cosine'/);
    const fp = quantizers.get('fp');
    expect(() => relaxed(b, fp, 32)).toThrow(/'fp' is the identity/);
  });
});

describe('qnet configuration', () => {
  const spec = { relaxation: 'qnet', quantizers: [{ id: 'minmax', bits: 2 }] };

  it('has defaults: exponential from 1 to auto, ε = 10⁻³, band 0.05', () => {
    const c = parseConfig({ ...base, quantization: { weights: spec } }, registries);
    expect(c.relaxation.qnet).toEqual({
      temperature: { shape: 'exponential', t0: 1, tEnd: 'auto' },
      epsilon: 1e-3,
      band: 0.05,
    });
    const d = parseConfig(
      { ...base, relaxation: { qnet: { temperature: { shape: 'exponential', tEnd: 30 } } } },
      registries,
    );
    expect(d.relaxation.qnet.temperature).toEqual({ shape: 'exponential', t0: 1, tEnd: 30 });
  });

  it('passes its section to the relaxation', () => {
    const b = createReferenceBackend();
    const c = parseConfig(
      { ...base, relaxation: { qnet: { temperature: { t0: 2, tEnd: 3 } } } },
      registries,
    );
    const x = Float32Array.of(-0.5, -0.1, 0.15, 0.45);
    const rq = createRelaxedQuantizer(
      b,
      {
        relaxation: 'qnet',
        quantizers: [{ id: 'fixed-levels', bits: 2, granularity: 'tensor', channelAxis: -1 }],
      },
      { name: 'fc', rank: 1, target: 'weights', quantizers, relaxationConfig: c.relaxation },
    );
    const got = read(b, () => rq.forward(b.tensor(x, [4]), at(100)));
    const steps = qnetSteps([-0.6, -0.2, 0.2, 0.6]);
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(qnetValue(x[i]!, steps, 1, 1, 3), 5);
    rq.dispose();
  });

  const issues = (input: unknown) => {
    try {
      parseConfig(input, registries);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).issues;
    }
    throw new Error('expected a ConfigError');
  };

  it('validates, naming the key', () => {
    const path = (input: unknown) => issues(input).map((i) => i.path);
    expect(
      issues({ ...base, relaxation: { qnet: { temperature: { t0: 5, tEnd: 2 } } } })[0],
    ).toEqual({
      path: 'relaxation.qnet.temperature.tEnd',
      message: expect.stringMatching(/T\(B\) = 2 must be above T0 = 5/),
    });
    expect(path({ ...base, relaxation: { qnet: { epsilon: 0.5 } } })).toEqual([
      'relaxation.qnet.epsilon',
    ]);
    expect(path({ ...base, relaxation: { qnet: { temperature: { shape: 'cosine' } } } })).toEqual([
      'relaxation.qnet.temperature.shape',
    ]);
    expect(path({ ...base, relaxation: { qnet: { temperature: { tEnd: 'fast' } } } })).toEqual([
      'relaxation.qnet.temperature.tEnd',
    ]);
    expect(path({ ...base, relaxation: { qnet: { temperature: { t0: -1 } } } })).toEqual([
      'relaxation.qnet.temperature.t0',
    ]);
    const typo = issues({ ...base, relaxation: { qnet: { temprature: {} } } });
    expect(typo[0]!.path).toBe('relaxation.qnet.temprature');
    expect(typo[0]!.message).toMatch(/did you mean 'temperature'/);
    expect(
      path({
        ...base,
        quantization: { weights: { relaxation: 'qnet', quantizers: [{ id: 'fp', bits: 32 }] } },
      }),
    ).toEqual(['quantization.weights.quantizers[0].id']);
    expect(
      issues({
        ...base,
        quantization: {
          weights: {
            relaxation: 'qnet',
            quantizers: [
              { id: 'minmax', bits: 2 },
              { id: 'minmax', bits: 4 },
            ],
          },
        },
      }),
    ).toEqual([
      {
        path: 'quantization.weights.quantizers',
        message: "relaxation 'qnet' takes exactly 1 quantizers, got K = 2",
      },
    ]);
  });
});

/** The test MLP with both weight matrices through qnet (min-max 2 bit). */
function mlp(b: Backend, seed: number): TrainableModel {
  return quantizedMlp(
    b,
    seed,
    parseConfig({ ...base, quantization: { weights: spec2 } }, registries),
    quantizers,
  );
}
const spec2 = { relaxation: 'qnet', quantizers: [{ id: 'minmax', bits: 2 }] };

const trainOptions = {
  learningRate: { kind: 'step' as const, initial: 0.1 },
  optimizer: { momentum: 0.9, weightDecay: 1e-4, nesterov: false },
};

describe('training with qnet', () => {
  it('lowers the loss and the hard 2-bit model classifies well', async () => {
    const b = createReferenceBackend();
    const events: TrainEvent[] = [];
    const model = mlp(b, 1);
    const result = await train(b, model, blobs(b), {
      ...trainOptions,
      epochs: 6,
      onEvent: (e) => events.push(e),
    });
    const epochs = events.filter((e) => e.type === 'epoch');
    expect(epochs.at(-1)!.trainLoss).toBeLessThan(0.5 * epochs[0]!.trainLoss);
    expect(result.relaxedAccuracy).toBeGreaterThan(0.9);
    expect(result.hardAccuracy).toBeGreaterThan(0.9);
    // α and β were trained (they moved from 1).
    const scales = model.quantizers.flatMap((q) => q.variables.map((v) => b.readSync(v)[0]!));
    expect(scales.some((s) => Math.abs(s - 1) > 1e-3)).toBe(true);
    // The hard weights take values of the 2² levels Q_1 calibrates on them, times α (β may move
    // the thresholds so far that a level is left unused).
    for (const q of model.quantizers) {
      const w = model.variables.find((v) => v.name === `${q.name.split('/')[0]}/kernel`)!;
      const values = [...new Set(read(b, () => q.hard(w)))];
      const levels = q.quantizers[0]!.plugin.levels(b.readSync(w), 2)[0]!;
      const alpha = b.readSync(q.variables[0]!)[0]!;
      expect(levels).toHaveLength(4);
      expect(values.length).toBeGreaterThanOrEqual(2);
      expect(values.length).toBeLessThanOrEqual(4);
      for (const v of values)
        expect(Math.min(...Array.from(levels, (l) => Math.abs(alpha * l - v)))).toBeLessThan(1e-5);
    }
  });

  it('resumes from a checkpoint bit for bit (no hidden calibration state)', async () => {
    await expectResumeBitForBit(mlp, trainOptions);
  });
});
