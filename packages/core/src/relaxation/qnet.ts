import type { Backend, Tensor, Variable } from '../backend/backend.js';
import { ArgumentError } from '../errors.js';
import {
  type QnetSteps,
  qnetAutoTemperature,
  qnetGrad,
  qnetSteps,
  qnetValue,
} from '../math/qnet.js';
import { type RisingTemperatureShape, risingTemperature } from '../schedules/rising-temperature.js';
import {
  backendVariables,
  disposeQuantizerParams,
  type LayerQuantizer,
  type Relaxation,
  type RelaxedQuantizer,
  type StepInfo,
  type VariableFactory,
} from './relaxation.js';

export interface QnetOptions {
  /**
   * T rises from t0 to tEnd over the run (linear or exponential in the step). `tEnd: 'auto'` is
   * `qnetAutoTemperature(epsilon, h, band)`: the sigmoids are within ε of unit steps everywhere
   * but within `band`·h of a threshold, so the soft and hard quantizers agree on the final model
   * (≈ 138 for uniform levels, ε = 10⁻³, band 0.05; never below t0).
   */
  temperature: { shape: RisingTemperatureShape; t0: number; tEnd: number | 'auto' };
  /** ε of the `auto` end temperature. */
  epsilon: number;
  /**
   * Half-width of the band around each threshold (in units of the smallest step height) inside
   * which the `auto` end temperature may leave the sigmoids more than ε from their steps.
   */
  band: number;
}

export const defaultQnetOptions: QnetOptions = {
  temperature: { shape: 'exponential', t0: 1, tEnd: 'auto' },
  epsilon: 1e-3,
  band: 0.05,
};

/**
 * T(B) under the options; `minHeight` is the level set's smallest step height in units of its
 * mean gap (1 for uniform levels), used by `auto`.
 */
export function qnetEndTemperature(o: QnetOptions, minHeight = 1): number {
  const t = o.temperature;
  if (t.tEnd !== 'auto') return t.tEnd;
  return Math.max(qnetAutoTemperature(o.epsilon, minHeight, o.band), t.t0);
}

/** The temperature T(b) at a step: a pure function of the step (and, for `auto`, the level set's shape). */
export function qnetTemperature(step: StepInfo, o: QnetOptions, minHeight = 1): number {
  const t = o.temperature;
  const tEnd = qnetEndTemperature(o, minHeight);
  // `auto` below t0: the run already starts sharp enough; hold T there.
  if (t.tEnd === 'auto' && !(tEnd > t.t0)) return t.t0;
  return risingTemperature(step.step, { shape: t.shape, t0: t.t0, tEnd, steps: step.totalSteps });
}

function checkOptions(name: string, o: QnetOptions): void {
  const t = o.temperature;
  const bad = (key: string, why: string): never => {
    throw new ArgumentError(`qnet '${name}': ${key} ${why}`);
  };
  if (t.shape !== 'linear' && t.shape !== 'exponential')
    bad('temperature.shape', `must be 'linear' or 'exponential', got '${String(t.shape)}'`);
  if (!(t.t0 > 0 && Number.isFinite(t.t0)))
    bad('temperature.t0', `must be a positive number, got ${t.t0}`);
  if (t.tEnd !== 'auto' && !(Number.isFinite(t.tEnd) && t.tEnd > t.t0))
    bad('temperature.tEnd', `must be 'auto' or a number above t0 = ${t.t0}, got ${t.tEnd}`);
  if (!(o.epsilon > 0 && o.epsilon < 0.5)) bad('epsilon', `must be in (0, 0.5), got ${o.epsilon}`);
  if (!(o.band > 0 && o.band <= 0.5)) bad('band', `must be in (0, 0.5], got ${o.band}`);
}

/** Quantization Networks' steps of a tensor: one set per calibration group, padded to N steps. */
interface Calibration {
  groups: QnetSteps[];
  /** Steps per group (the largest group's; smaller groups are padded with zero-height steps). */
  N: number;
  /** Group of flat element i. */
  of: (i: number) => number;
  /** Shape the per-group constants broadcast with against x: the channel axis kept, others 1. */
  groupShape: number[];
  /** Smallest positive step height (units of the mean gap), 1 when uniform up to float rounding. */
  minHeight: number;
}

/**
 * Quantization Networks (Yang et al., CVPR 2019) as a relaxation with one quantizer Q_1:
 * Q(x) = α·d·(Σ_i s_i·σ(T·(β·x/d − b_i)) − o) (see `math/qnet.ts`), whose steps come from Q_1's
 * level set of the tensor (`plugin.levels`: min-max, SAWB, … levels), α and β learnable scalars
 * initialised to 1 (so the hard function starts as Q_1 itself), T rising with the step
 * (`qnetTemperature`), and gradients through the sigmoids (no straight-through estimator).
 * `hard` replaces σ by the unit step: the output takes the level set's values (2ⁿ for min-max and
 * SAWB) scaled by α.
 *
 * The level set is calibrated from the tensor at every call, as the plugins calibrate (min/max,
 * SAWB's α*), rather than frozen at the first call: the relaxation then holds no hidden state, a
 * resumed run is bit for bit the same, replicas agree, and the paper's learnable α, β stay
 * relative corrections that the VariableFactory can create before any tensor is seen. Reading the
 * level set needs the tensor's values on the host (`readSync`), once per call.
 */
export const qnetRelaxation: Relaxation<Partial<QnetOptions>> = {
  id: 'qnet',
  description:
    'Quantization Networks: a sum of sigmoids with rising temperature, hard steps at inference (Yang et al. 2019)',
  minQuantizers: 1,
  maxQuantizers: 1,
  create(
    b: Backend,
    name: string,
    quantizers: readonly LayerQuantizer[],
    options: Partial<QnetOptions>,
    makeVariable?: VariableFactory,
  ): RelaxedQuantizer {
    const o: QnetOptions = {
      ...defaultQnetOptions,
      ...options,
      temperature: { ...defaultQnetOptions.temperature, ...options.temperature },
    };
    checkOptions(name, o);
    if (quantizers.length !== 1)
      throw new ArgumentError(
        `qnet '${name}': takes exactly 1 quantizer, got ${quantizers.length}`,
      );
    const q = quantizers[0]!;
    if (q.plugin.identity)
      throw new ArgumentError(
        `qnet '${name}': quantizer '${q.plugin.id}' is the identity and has no levels to step between`,
      );
    const make = makeVariable ?? backendVariables(b);
    const alpha = make(`${name}/qnet_alpha`, [1], []);
    let beta: Variable;
    try {
      beta = make(`${name}/qnet_beta`, [1], []);
    } catch (e) {
      b.dispose(alpha);
      throw e;
    }

    const calibrate = (x: Tensor): Calibration => {
      const shape = x.shape;
      const params: Record<string, number> = {};
      for (const [k, v] of Object.entries(q.params)) params[k] = b.readSync(v)[0]!;
      const sets = q.plugin.levels(b.readSync(x), q.bits, {
        granularity: q.granularity,
        shape,
        channelAxis: q.channelAxis,
        params,
      });
      const groups = sets.map((l) => qnetSteps(l));
      const N = Math.max(0, ...groups.map((g) => g.heights.length));
      for (const g of groups) {
        while (g.heights.length < N) {
          g.heights.push(0);
          g.biases.push(0);
        }
      }
      let minHeight = Number.POSITIVE_INFINITY;
      for (const g of groups)
        for (const s of g.heights) if (s > 0) minHeight = Math.min(minHeight, s);
      // Uniform sets have every height 1 up to float32 rounding of the levels; treat them as 1 so
      // the `auto` temperature is the same number at every call.
      if (!(minHeight < 1 - 1e-3)) minHeight = 1;
      if (q.granularity === 'channel') {
        const axis = q.channelAxis;
        const C = shape[axis]!;
        if (groups.length !== C)
          throw new ArgumentError(
            `qnet '${name}': quantizer '${q.plugin.id}' gave ${groups.length} level sets for ${C} channels`,
          );
        let stride = 1;
        for (let d = axis + 1; d < shape.length; d++) stride *= shape[d]!;
        return {
          groups,
          N,
          of: (i) => Math.floor(i / stride) % C,
          groupShape: shape.map((n, d) => (d === axis ? n : 1)),
          minHeight,
        };
      }
      if (groups.length !== 1)
        throw new ArgumentError(
          `qnet '${name}': quantizer '${q.plugin.id}' gave ${groups.length} level sets for one tensor`,
        );
      return { groups, N, of: () => 0, groupShape: [], minHeight };
    };

    const temperatureAt = (step: StepInfo, cal: Calibration) =>
      qnetTemperature(step, o, cal.minHeight);

    /** Per-group constant as a tensor broadcasting against x (a scalar per tensor). */
    const perGroup = (cal: Calibration, f: (g: QnetSteps) => number): Tensor =>
      cal.groupShape.length === 0
        ? b.scalar(f(cal.groups[0]!))
        : b.tensor(
            cal.groups.map((g) => f(g)),
            cal.groupShape,
          );

    /**
     * Q(x) with backend ops (every backend): thresholds broadcast along a new last axis, in chunks
     * so that the [..x, chunk] intermediates stay near 4M elements for large N (8 bits: 255 steps).
     * T = ∞ takes the unit step (≥ 0 → 1).
     */
    const opPath = (x: Tensor, T: number, cal: Calibration): Tensor =>
      b.tidy(() => {
        const size = x.shape.reduce((a, n) => a * n, 1);
        const d = perGroup(cal, (g) => g.scale);
        const off = perGroup(cal, (g) => g.offset);
        const z = b.div(b.mul(x, beta), d);
        const rank = x.shape.length;
        const ze = b.reshape(z, [...x.shape, 1]);
        const chunk = Math.max(1, Math.min(cal.N, Math.floor(2 ** 22 / Math.max(size, 1))));
        let sum: Tensor | null = null;
        for (let start = 0; start < cal.N; start += chunk) {
          const n = Math.min(chunk, cal.N - start);
          const constShape = cal.groupShape.length === 0 ? [n] : [...cal.groupShape, n];
          const pick = (f: (g: QnetSteps) => number[]) => {
            const values = new Float32Array(cal.groups.length * n);
            cal.groups.forEach((g, k) => {
              values.set(f(g).slice(start, start + n), k * n);
            });
            return b.tensor(values, constShape);
          };
          const u = b.sub(
            ze,
            pick((g) => g.biases),
          );
          const s = T === Number.POSITIVE_INFINITY ? b.greaterEqual(u, 0) : b.sigmoid(b.mul(u, T));
          const part = b.sum(
            b.mul(
              s,
              pick((g) => g.heights),
            ),
            rank,
          );
          sum = sum ? b.add(sum, part) : part;
        }
        const inner = sum ? b.sub(sum, off) : b.mul(b.add(b.mul(x, 0), off), -1);
        return b.mul(b.mul(inner, d), alpha);
      });

    /**
     * Host-memory backends: the whole function is one custom-gradient op over plain arrays
     * (`qnetValue` / `qnetGrad`), instead of a dozen engine ops over [..x, N] intermediates. Same
     * values and gradients as `opPath`.
     */
    const hostPath = (x: Tensor, T: number, cal: Calibration): Tensor =>
      b.customGrad((xt, at, bt) => {
        const xv = b.readSync(xt!);
        const a = b.readSync(at!)[0]!;
        const be = b.readSync(bt!)[0]!;
        const out = new Float32Array(xv.length);
        for (let i = 0; i < xv.length; i++)
          out[i] = qnetValue(xv[i]!, cal.groups[cal.of(i)]!, a, be, T);
        return {
          value: b.tensor(out, xt!.shape),
          gradFunc: (dy) => {
            const d = b.readSync(dy);
            const dx = new Float32Array(xv.length);
            let da = 0;
            let db = 0;
            if (T !== Number.POSITIVE_INFINITY) {
              for (let i = 0; i < xv.length; i++) {
                const g = qnetGrad(xv[i]!, cal.groups[cal.of(i)]!, a, be, T);
                dx[i] = d[i]! * g.dx;
                da += d[i]! * g.dalpha;
                db += d[i]! * g.dbeta;
              }
            } else {
              // The unit step: zero gradient to x and β; ∂Q/∂α is Q at α = 1.
              for (let i = 0; i < xv.length; i++)
                da += d[i]! * qnetValue(xv[i]!, cal.groups[cal.of(i)]!, 1, be, T);
            }
            return [b.tensor(dx, xt!.shape), b.scalar(da), b.scalar(db)];
          },
        };
      })(x, alpha, beta);

    const run = (x: Tensor, T: number): Tensor => {
      const cal = calibrate(x);
      return b.hostMemory === true ? hostPath(x, T, cal) : opPath(x, T, cal);
    };

    return {
      relaxation: 'qnet',
      name,
      quantizers,
      variables: [alpha, beta, ...Object.values(q.params)],
      beforeStep: () => {},
      forward: (x: Tensor, step: StepInfo) => {
        const cal = calibrate(x);
        const T = temperatureAt(step, cal);
        return b.hostMemory === true ? hostPath(x, T, cal) : opPath(x, T, cal);
      },
      regularizer: () => null,
      mixingWeights: () => [1],
      hard: (x: Tensor) => run(x, Number.POSITIVE_INFINITY),
      dispose: () => {
        b.dispose([alpha, beta]);
        disposeQuantizerParams(b, quantizers);
      },
    };
  },
};
