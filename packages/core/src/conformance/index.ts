import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor, Variable } from '../backend/backend.js';
import { attention, dqaRegularizer, initialAlpha, populationStd } from '../math/attention.js';
import {
  binaryRelaxMix,
  binaryRelaxOmegaScaled,
  binaryRelaxWeights,
} from '../math/binary-relax.js';
import { qnetGrad, qnetSteps, qnetValue } from '../math/qnet.js';
import {
  acceptsBits,
  type Granularity,
  type QuantizerPlugin,
  type ReferenceOptions,
} from '../quantizer/plugin.js';
import type { QuantizerRegistry } from '../quantizer/registry.js';
import { Random } from '../random.js';
import { binaryRelaxRelaxation } from '../relaxation/binary-relax.js';
import { dqaRelaxation, dqaTemperature } from '../relaxation/dqa.js';
import { qnetRelaxation, qnetTemperature } from '../relaxation/qnet.js';
import type { LayerQuantizer, StepInfo } from '../relaxation/relaxation.js';
import { steRelaxation } from '../relaxation/ste.js';
import { drawInput, type OpCase, opCases } from './cases.js';
import { conformanceQuantizer } from './test-quantizer.js';

export { drawInput, type InputSpec, type OpCase, opCases } from './cases.js';
export { conformanceQuantizer } from './test-quantizer.js';

/**
 * The conformance suite every backend runs against itself (tfjs' `describeWithFlags` idea):
 * each op against the plain reference implementations, gradients against central finite
 * differences, memory scopes, custom gradients, every registered quantizer plugin's forward pass
 * and gradient rule against the plugin's own reference, and the relaxations' mixtures.
 *
 * Call it from a vitest test file of the backend's package:
 *
 *     describeBackendConformance({ name: 'tfjs-cpu', create: () => createTfjsBackend('cpu'), quantizers });
 */
export interface ConformanceOptions {
  /** Label of the describe block. */
  name: string;
  create: () => Backend | Promise<Backend>;
  /** Quantizer plugins to check (e.g. `quantizers` of @dqa/quantizers); a built-in test plugin is always checked. */
  quantizers?: QuantizerRegistry;
  seed?: number;
  tolerance?: Partial<Tolerance>;
}

export interface Tolerance {
  /** Forward ops: |got − want| ≤ atol + rtol·|want|. */
  rtol: number;
  atol: number;
  /** Gradients against finite differences. */
  gradRtol: number;
  gradAtol: number;
  /** Finite-difference step. */
  eps: number;
}

const defaultTolerance: Tolerance = {
  rtol: 1e-4,
  atol: 1e-5,
  gradRtol: 2e-2,
  gradAtol: 2e-3,
  eps: 1e-2,
};

/** Index and values of the first element outside tolerance, or null. */
export function firstMismatch(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
): { index: number; got: number; want: number } | null {
  if (got.length !== want.length) return { index: -1, got: got.length, want: want.length };
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (g === w) continue;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) return { index: i, got: g, want: w };
  }
  return null;
}

function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  const m = firstMismatch(got, want, rtol, atol);
  if (m) {
    const detail =
      m.index < 0
        ? `length ${m.got} vs ${m.want}`
        : `element ${m.index}: got ${m.got}, expected ${m.want}`;
    expect.fail(`${what}: ${detail} (rtol ${rtol}, atol ${atol})`);
  }
}

let counter = 0;
function uniqueName(prefix: string): string {
  counter += 1;
  return `conformance/${prefix}/${counter}`;
}

/** Scalar f = Σ op(xs) · r evaluated on plain tensors. */
function evalWeighted(
  b: Backend,
  c: OpCase,
  xs: Float32Array[],
  r: Float32Array,
  rShape: readonly number[],
): number {
  return b.tidy(() => {
    const ts = xs.map((x, i) => b.tensor(x, c.inputs[i]!.shape));
    const y = c.run(b, ts);
    return b.readSync(b.sum(b.mul(y, b.tensor(r, rShape))))[0]!;
  });
}

function sampleBits(p: QuantizerPlugin): number[] {
  if ('values' in p.bits) return [...p.bits.values];
  const candidates = [1, 2, 3, 4, 8].filter((n) => acceptsBits(p.bits, n));
  return candidates.length ? candidates : [p.bits.min];
}

function layerQuantizer(plugin: QuantizerPlugin, bits: number): LayerQuantizer {
  return { plugin, bits, granularity: 'tensor', channelAxis: 0, params: {} };
}

export function describeBackendConformance(options: ConformanceOptions): void {
  const tol: Tolerance = { ...defaultTolerance, ...options.tolerance };
  const seed = options.seed ?? 1234;
  const plugins: QuantizerPlugin[] = [conformanceQuantizer, ...(options.quantizers?.list() ?? [])];

  describe(`backend conformance: ${options.name}`, () => {
    let b: Backend;
    beforeAll(async () => {
      b = await options.create();
    });
    afterAll(() => {
      b?.close?.();
    });

    describe('creation, read-back and memory', () => {
      it('round-trips values and shapes', async () => {
        const t = b.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
        expect(t.shape).toEqual([2, 3]);
        expect(t.size).toBe(6);
        expect(Array.from(b.readSync(t))).toEqual([1, 2, 3, 4, 5, 6]);
        expect(Array.from(await b.read(t))).toEqual([1, 2, 3, 4, 5, 6]);
        expect(Array.from(b.readSync(b.scalar(2.5)))).toEqual([2.5]);
        expect(Array.from(b.readSync(b.fill([2, 2], -1)))).toEqual([-1, -1, -1, -1]);
        b.dispose(t);
      });

      it('rejects values that do not fill the shape, naming both', () => {
        expect(() => b.tensor([1, 2, 3], [2, 2])).toThrow(/2, 2/);
      });

      it('rejects shapes that cannot broadcast, naming the op and the shapes', () => {
        const x = b.fill([2, 3], 1);
        const y = b.fill([4], 1);
        expect(() => b.add(x, y)).toThrow(/add.*\[2, 3\].*\[4\]/);
        b.dispose([x, y]);
      });

      it('tidy releases intermediates and keeps what it returns', () => {
        if (!b.memory) return expect(b.memory).toBeUndefined();
        const before = b.memory().numTensors;
        const kept = b.tidy(() => {
          const x = b.fill([3], 2);
          const y = b.mul(b.add(x, 1), x);
          return b.sum(y);
        });
        expect(b.memory().numTensors).toBe(before + 1);
        expect(b.readSync(kept)[0]).toBe(18);
        b.dispose(kept);
        b.dispose(kept);
        expect(b.memory().numTensors).toBe(before);
      });

      it('runs every op inside tidy without leaking tensors', () => {
        if (!b.memory) return expect(b.memory).toBeUndefined();
        const rng = new Random(seed);
        const before = b.memory().numTensors;
        for (const c of opCases()) {
          b.tidy(() => {
            c.run(
              b,
              c.inputs.map((s) => b.tensor(drawInput(s, rng), s.shape)),
            );
          });
        }
        expect(b.memory().numTensors).toBe(before);
      });

      it('variables keep their value across tidy and take assignments of the same shape', () => {
        const v = b.variable(
          b.tidy(() => b.fill([2], 3)),
          { name: uniqueName('var') },
        );
        b.tidy(() => v.assign(b.fill([2], 5)));
        expect(Array.from(b.readSync(v))).toEqual([5, 5]);
        expect(() => v.assign(b.fill([3], 1))).toThrow(/\[3\].*\[2\]/);
        b.dispose(v);
      });
    });

    describe('ops match the reference implementations', () => {
      const rng = new Random(seed);
      for (const c of opCases()) {
        it(c.name, () => {
          const xs = c.inputs.map((s) => drawInput(s, rng));
          const got = b.tidy(() =>
            b.readSync(
              c.run(
                b,
                xs.map((x, i) => b.tensor(x, c.inputs[i]!.shape)),
              ),
            ),
          );
          expectClose(got, c.expected(xs), tol.rtol, tol.atol, c.name);
        });
      }
    });

    describe('gradients match central finite differences', () => {
      const rng = new Random(seed + 1);
      for (const c of opCases()) {
        it(c.differentiable ? c.name : `${c.name} (zero gradient)`, () => {
          const xs = c.inputs.map((s) => drawInput(s, rng));
          const outShape = b.tidy(() => [
            ...c.run(
              b,
              xs.map((x, i) => b.tensor(x, c.inputs[i]!.shape)),
            ).shape,
          ]);
          const r = drawInput({ shape: outShape }, rng);
          const vars = xs.map((x, i) =>
            b.variable(
              b.tidy(() => b.tensor(x, c.inputs[i]!.shape)),
              { name: uniqueName('grad') },
            ),
          );
          try {
            const { value, grads } = b.valueAndGrads(
              () => b.sum(b.mul(c.run(b, vars), b.tensor(r, outShape))),
              vars,
            );
            expectClose(
              b.readSync(value),
              [evalWeighted(b, c, xs, r, outShape)],
              1e-5,
              1e-5,
              `${c.name} value`,
            );
            const analytic = grads.map((g) => b.readSync(g));
            b.dispose([value, ...grads]);
            c.inputs.forEach((spec, i) => {
              if (spec.noGrad) return;
              const numeric = new Float32Array(xs[i]!.length);
              if (c.differentiable) {
                for (let j = 0; j < numeric.length; j++) {
                  const plus = xs.map((x) => x.slice());
                  const minus = xs.map((x) => x.slice());
                  plus[i]![j]! += tol.eps;
                  minus[i]![j]! -= tol.eps;
                  const fp = evalWeighted(b, c, plus, r, outShape);
                  const fm = evalWeighted(b, c, minus, r, outShape);
                  numeric[j] = (fp - fm) / (2 * tol.eps);
                }
              }
              expectClose(
                analytic[i]!,
                numeric,
                tol.gradRtol,
                tol.gradAtol,
                `${c.name} d/d input ${i}`,
              );
            });
          } finally {
            b.dispose(vars);
          }
        });
      }
    });

    describe('custom gradients', () => {
      it('customGrad replaces the gradient of the wrapped ops', () => {
        const v = b.variable(
          b.tidy(() => b.tensor([0.4, 1.6, -2.2], [3])),
          { name: uniqueName('custom') },
        );
        const f = b.customGrad((x) => ({
          value: b.floor(x!),
          gradFunc: (dy) => [b.mul(dy, 3)],
        }));
        const { value, grads } = b.valueAndGrads(
          () => b.sum(b.mul(f(v), b.tensor([1, 2, 3], [3]))),
          [v],
        );
        expect(b.readSync(value)[0]).toBeCloseTo(0 + 2 - 9, 5);
        expectClose(b.readSync(grads[0]!), [3, 6, 9], 1e-6, 1e-6, 'customGrad gradient');
        b.dispose([value, ...grads, v]);
      });

      it('a variable the function ignores gets a zero gradient', () => {
        const u = b.variable(
          b.tidy(() => b.fill([2], 1)),
          { name: uniqueName('used') },
        );
        const w = b.variable(
          b.tidy(() => b.fill([2], 1)),
          { name: uniqueName('unused') },
        );
        const { value, grads } = b.valueAndGrads(() => b.sum(b.square(u)), [u, w]);
        expect(Array.from(b.readSync(grads[0]!))).toEqual([2, 2]);
        expect(Array.from(b.readSync(grads[1]!))).toEqual([0, 0]);
        b.dispose([value, ...grads, u, w]);
      });
    });

    describe('quantizer plugins match their references', () => {
      const rng = new Random(seed + 2);
      for (const p of plugins) {
        for (const bits of sampleBits(p)) {
          for (const granularity of p.granularities) {
            const label = `${p.id} ${bits}-bit per ${granularity}`;
            const shape = granularity === 'channel' ? [3, 3, 4, 5] : [6, 25];
            const channelAxis = shape.length - 1;
            const draw = (): { x: Float32Array; params: Record<string, number> } => {
              const params: Record<string, number> = {};
              let scale = 1;
              for (const q of p.parameters ?? []) {
                params[q.name] = q.init(bits);
                scale = Math.max(scale, Math.abs(params[q.name]!) * 0.8);
              }
              const x = drawInput({ shape }, rng).map((v) => v * scale);
              return { x, params };
            };
            const refOptions = (params: Record<string, number>): ReferenceOptions => ({
              granularity: granularity as Granularity,
              shape,
              channelAxis,
              params,
            });
            const ctx = (params: Record<string, Tensor>) => ({
              bits,
              granularity: granularity as Granularity,
              channelAxis,
              params,
            });

            it(`${label}: forward`, () => {
              const { x, params } = draw();
              const got = b.tidy(() => {
                const pt = Object.fromEntries(
                  Object.entries(params).map(([k, v]) => [k, b.scalar(v)]),
                );
                return b.readSync(p.forward(b, b.tensor(x, shape), ctx(pt)));
              });
              const want = p.reference(x, bits, refOptions(params));
              const levels = p.levels(x, bits, refOptions(params));
              // Backends round in float32: allow a rare one-level disagreement at a decision boundary.
              let maxGap = 0;
              for (const l of levels)
                for (let i = 1; i < l.length; i++) maxGap = Math.max(maxGap, l[i]! - l[i - 1]!);
              let scale = 0;
              for (const v of want) scale = Math.max(scale, Math.abs(v));
              const atol = 1e-5 * (1 + scale);
              let mismatches = 0;
              for (let i = 0; i < want.length; i++) {
                const d = Math.abs(got[i]! - want[i]!);
                if (d <= atol) continue;
                mismatches++;
                if (d > maxGap + atol)
                  expect.fail(
                    `${label}: element ${i} is ${got[i]}, the reference gives ${want[i]}`,
                  );
              }
              expect(mismatches, `${label}: elements off by one level`).toBeLessThanOrEqual(
                Math.max(1, Math.floor(want.length * 0.002)),
              );
            });

            it(`${label}: gradient rule`, () => {
              const { x, params } = draw();
              const r = drawInput({ shape }, rng);
              const vx = b.variable(
                b.tidy(() => b.tensor(x, shape)),
                { name: uniqueName(`${p.id}-x`) },
              );
              const names = Object.keys(params);
              const vp = names.map((n) =>
                b.variable(
                  b.tidy(() => b.scalar(params[n]!)),
                  { name: uniqueName(`${p.id}-${n}`) },
                ),
              );
              try {
                const { value, grads } = b.valueAndGrads(() => {
                  const pt = Object.fromEntries(names.map((n, i) => [n, vp[i] as Tensor]));
                  return b.sum(b.mul(p.forward(b, vx, ctx(pt)), b.tensor(r, shape)));
                }, [vx, ...vp]);
                const want = p.referenceGrad(x, bits, r, refOptions(params));
                expectClose(b.readSync(grads[0]!), want.dx, 1e-4, 1e-5, `${label} d/dx`);
                names.forEach((n, i) => {
                  const g = b.readSync(grads[i + 1]!)[0]!;
                  const w = want.params?.[n];
                  expect(
                    w,
                    `${label}: referenceGrad gives no gradient for parameter '${n}'`,
                  ).toBeDefined();
                  expectClose([g], [w!], 1e-3, 1e-4, `${label} d/d${n}`);
                });
                b.dispose([value, ...grads]);
              } finally {
                b.dispose([vx, ...vp]);
              }
            });
          }
        }
      }
    });

    describe('relaxations', () => {
      const rng = new Random(seed + 3);
      const shape = [4, 6];
      const qs = [2, 4, 8].map((n) => layerQuantizer(conformanceQuantizer, n));
      const refQ = (x: Float32Array, k: number) => conformanceQuantizer.reference(x, qs[k]!.bits);
      const mix = (x: Float32Array, weights: number[]) => {
        const out = new Float32Array(x.length);
        weights.forEach((w, k) => {
          const q = refQ(x, k);
          for (let i = 0; i < x.length; i++) out[i]! += w * q[i]!;
        });
        return out;
      };
      const step: StepInfo = { step: 6, totalSteps: 10, stepsPerEpoch: 3 };

      it('ste uses its single quantizer forward and as the hard quantizer', () => {
        const x = drawInput({ shape }, rng);
        const rq = steRelaxation.create(b, uniqueName('ste'), [qs[0]!], {});
        const got = b.tidy(() => b.readSync(rq.forward(b.tensor(x, shape), step)));
        expectClose(got, refQ(x, 0), 1e-5, 1e-5, 'ste forward');
        expect(rq.mixingWeights(step)).toEqual([1]);
        expect(rq.regularizer(step, 100)).toBeNull();
        rq.dispose();
      });

      it('binary-relax mixes with eq. 8 weights (literal and scaled ω)', () => {
        const x = drawInput({ shape }, rng);
        const literal = binaryRelaxRelaxation.create(b, uniqueName('br'), qs, {
          schedule: 'literal',
        });
        const wantW = binaryRelaxWeights(2, 3);
        expectClose(literal.mixingWeights(step), wantW, 1e-12, 0, 'literal weights');
        const got = b.tidy(() => b.readSync(literal.forward(b.tensor(x, shape), step)));
        expectClose(got, mix(x, wantW), 1e-5, 1e-5, 'binary-relax forward');
        const scaled = binaryRelaxRelaxation.create(b, uniqueName('br'), qs, {
          schedule: 'scaled',
        });
        expectClose(
          scaled.mixingWeights(step),
          binaryRelaxMix(binaryRelaxOmegaScaled(0.6), 3),
          1e-12,
          0,
          'scaled weights',
        );
        const hard = b.tidy(() => b.readSync(scaled.hard(b.tensor(x, shape))));
        expectClose(hard, refQ(x, 0), 1e-5, 1e-5, 'binary-relax hard');
      });

      it('dqa: normalised α, attention mixture, regularizer, hard quantizer', () => {
        const x = drawInput({ shape }, rng);
        const o = {
          lambda: 3,
          temperature: { shape: 'exponential' as const, t0: 100, tEnd: 0.03 },
        };
        const rq = dqaRelaxation.create(b, uniqueName('dqa'), qs, o);
        rq.beforeStep(step);
        const alpha = rq.variables[0] as Variable;
        const a0 = Array.from(b.readSync(alpha));
        expect(populationStd(a0)).toBeCloseTo(1, 5);
        const T = dqaTemperature(step, { ...o, init: 'eq7', normalize: true });
        const a = attention(initialAlpha([2, 4, 8]), T);
        expectClose(rq.mixingWeights(step), a, 1e-5, 1e-7, 'attention');
        const got = b.tidy(() => b.readSync(rq.forward(b.tensor(x, shape), step)));
        expectClose(got, mix(x, a), 1e-4, 1e-5, 'dqa forward');
        const reg = b.tidy(() => b.readSync(rq.regularizer(step, 250)!)[0]!);
        expect(reg).toBeCloseTo(dqaRegularizer(a, [1, 4, 16], 3, 250), 6);
        const hard = b.tidy(() => b.readSync(rq.hard(b.tensor(x, shape))));
        expectClose(hard, refQ(x, 0), 1e-5, 1e-5, 'dqa hard');
        rq.dispose();
      });

      it('dqa: gradients reach α (finite differences) and w (straight through)', () => {
        const x = drawInput({ shape }, rng);
        const r = drawInput({ shape }, rng);
        // A warm temperature keeps the softmax smooth for finite differences.
        const o = { lambda: 50, temperature: { shape: 'linear' as const, t0: 2, tEnd: 1 } };
        const rq = dqaRelaxation.create(b, uniqueName('dqa'), qs, o);
        const alpha = rq.variables[0] as Variable;
        const w = b.variable(
          b.tidy(() => b.tensor(x, shape)),
          { name: uniqueName('dqa-w') },
        );
        const S = 24;
        const loss = () =>
          b.add(b.sum(b.mul(rq.forward(w, step), b.tensor(r, shape))), rq.regularizer(step, S)!);
        try {
          const { value, grads } = b.valueAndGrads(loss, [alpha, w]);
          const gAlpha = b.readSync(grads[0]!);
          const gW = b.readSync(grads[1]!);
          b.dispose([value, ...grads]);
          // Σ_k a_k = 1 and each Q_k passes gradients straight through, so dL/dw = r.
          expectClose(gW, r, 1e-4, 1e-5, 'dL/dw');
          const a0 = Array.from(b.readSync(alpha));
          const numeric = a0.map((_, k) => {
            const f = (delta: number) => {
              const moved = a0.slice();
              moved[k]! += delta;
              b.tidy(() => alpha.assign(b.tensor(moved, [3])));
              return b.tidy(() => b.readSync(loss())[0]!);
            };
            const d = (f(tol.eps) - f(-tol.eps)) / (2 * tol.eps);
            b.tidy(() => alpha.assign(b.tensor(a0, [3])));
            return d;
          });
          expectClose(gAlpha, numeric, tol.gradRtol, tol.gradAtol, 'dL/dα');
          expect(Math.max(...Array.from(gAlpha, Math.abs))).toBeGreaterThan(1e-3);
        } finally {
          b.dispose(w);
          rq.dispose();
        }
      });

      it('qnet: sum of sigmoids, hard steps on 2ⁿ levels, gradients through the sigmoids', () => {
        const x = drawInput({ shape }, rng);
        const r = drawInput({ shape }, rng);
        // A moderate temperature (T = 2 half-way through the run) keeps the sigmoids smooth.
        const o = {
          temperature: { shape: 'linear' as const, t0: 1, tEnd: 3 },
          epsilon: 1e-3,
          band: 0.05,
        };
        const qstep: StepInfo = { step: 50, totalSteps: 100, stepsPerEpoch: 10 };
        const T = qnetTemperature(qstep, o);
        const rq = qnetRelaxation.create(b, uniqueName('qnet'), [qs[0]!], o);
        const [alpha, beta] = rq.variables as Variable[];
        const a0 = 1.2;
        const b0 = 0.9;
        b.tidy(() => alpha!.assign(b.scalar(a0)));
        b.tidy(() => beta!.assign(b.scalar(b0)));
        const steps = qnetSteps(conformanceQuantizer.levels(x, 2)[0]!);
        const w = b.variable(
          b.tidy(() => b.tensor(x, shape)),
          { name: uniqueName('qnet-w') },
        );
        const loss = () => b.sum(b.mul(rq.forward(w, qstep), b.tensor(r, shape)));
        try {
          const got = b.tidy(() => b.readSync(rq.forward(w, qstep)));
          const want = Array.from(x, (v) => qnetValue(v, steps, a0, b0, T));
          expectClose(got, want, 1e-4, 1e-5, 'qnet forward');
          b.tidy(() => alpha!.assign(b.scalar(1)));
          b.tidy(() => beta!.assign(b.scalar(1)));
          const hard = b.tidy(() => b.readSync(rq.hard(w)));
          expectClose(hard, refQ(x, 0), 1e-5, 1e-5, 'qnet hard (α = β = 1: Q_1 itself)');
          expect(new Set(hard).size).toBeLessThanOrEqual(4);
          b.tidy(() => alpha!.assign(b.scalar(a0)));
          b.tidy(() => beta!.assign(b.scalar(b0)));
          const { value, grads } = b.valueAndGrads(loss, [w, alpha!, beta!]);
          const [gW, gA, gB] = grads.map((g) => b.readSync(g));
          b.dispose([value, ...grads]);
          // dL/dw through the sigmoids (the calibration max|x| is a constant, as in the plugins).
          const wantW = Array.from(x, (v, i) => r[i]! * qnetGrad(v, steps, a0, b0, T).dx);
          expectClose(gW!, wantW, 1e-3, 1e-5, 'qnet dL/dw');
          const numeric = (v: Variable, v0: number) => {
            const f = (d: number) => {
              b.tidy(() => v.assign(b.scalar(v0 + d)));
              return b.tidy(() => b.readSync(loss())[0]!);
            };
            const d = (f(tol.eps) - f(-tol.eps)) / (2 * tol.eps);
            b.tidy(() => v.assign(b.scalar(v0)));
            return d;
          };
          expectClose(gA!, [numeric(alpha!, a0)], tol.gradRtol, tol.gradAtol, 'qnet dL/dα');
          expectClose(gB!, [numeric(beta!, b0)], tol.gradRtol, tol.gradAtol, 'qnet dL/dβ');
        } finally {
          b.dispose(w);
          rq.dispose();
        }
      });
    });
  });
}
