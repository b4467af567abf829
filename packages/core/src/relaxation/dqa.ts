import type { Backend, Tensor } from '../backend/backend.js';
import { ArgumentError } from '../errors.js';
import { defaultPenalty, initialAlpha, softmax } from '../math/attention.js';
import { type TemperatureShape, temperatureAt } from '../schedules/temperature.js';
import {
  backendVariables,
  disposeQuantizerParams,
  fusedMixture,
  hostStraightThrough,
  type LayerQuantizer,
  quantize,
  type Relaxation,
  type RelaxedQuantizer,
  referenceQuantize,
  type StepInfo,
  type VariableFactory,
} from './relaxation.js';

export interface DqaOptions {
  /** Cooling from T0 to T(B) over the run (eq. 5; exponential in the paper). */
  temperature: { shape: TemperatureShape; t0: number; tEnd: number };
  /** λ of eq. 6. */
  lambda: number;
  /** Penalty vector g, strictly increasing; default [1, 4, 16, …] (4^(k−1)). */
  g?: readonly number[];
  /** α's initial value: eq. 7 (default) or explicit numbers. */
  init?: 'eq7' | readonly number[];
  /** Algorithm 1's α ← α / std(α) before each step (default true). */
  normalize?: boolean;
}

export const defaultDqaOptions: DqaOptions = {
  temperature: { shape: 'exponential', t0: 100, tEnd: 0.03 },
  lambda: 1,
  init: 'eq7',
  normalize: true,
};

/** The temperature T(b) at a step. */
export function dqaTemperature(step: StepInfo, o: DqaOptions): number {
  return temperatureAt(step.step, { ...o.temperature, steps: step.totalSteps });
}

/**
 * DNN Quantization with Attention: q = Σ_k a_k Q_k(w; n_k) (eq. 1–3) with a = softmax(α/T)
 * (eq. 4), α learnable per layer and normalised by its population std before each step
 * (Algorithm 1), α initialised by eq. 7, T cooled by eq. 5, and the regularizer λ·gᵀa/S (eq. 6).
 * Gradients reach the weights through each Q_k's rule and α through the softmax.
 */
export const dqaRelaxation: Relaxation<Partial<DqaOptions>> = {
  id: 'dqa',
  description:
    'DQA: learned attention over K quantizers with a cooling softmax temperature (the paper)',
  minQuantizers: 2,
  maxQuantizers: 16,
  create(
    b: Backend,
    name: string,
    quantizers: readonly LayerQuantizer[],
    options: Partial<DqaOptions>,
    makeVariable?: VariableFactory,
  ): RelaxedQuantizer {
    const o: DqaOptions = { ...defaultDqaOptions, ...options };
    const K = quantizers.length;
    const bits = quantizers.map((q) => (q.plugin.identity ? 32 : q.bits));
    const g = [...(o.g ?? defaultPenalty(K))];
    if (g.length !== K)
      throw new ArgumentError(
        `dqa '${name}': penalty g has ${g.length} entries for K = ${K} quantizers`,
      );
    const init = o.init === undefined || o.init === 'eq7' ? initialAlpha(bits) : [...o.init];
    if (init.length !== K)
      throw new ArgumentError(
        `dqa '${name}': α init has ${init.length} entries for K = ${K} quantizers`,
      );
    const alpha = (makeVariable ?? backendVariables(b))(`${name}/dqa_alpha`, init, [K]);
    const normalize = o.normalize ?? true;

    // Host-memory backends with straight-through quantizers: the whole mixture is one custom-
    // gradient op over plain arrays (a = softmax(α/T), Q_k by each plugin's reference) instead of
    // a hundred small engine ops per layer. Same values and gradients as the op path below.
    const host = quantizers.every((q) => hostStraightThrough(b, q));
    // Backends with fused quantizer kernels: the same custom-gradient op, with the mixture and
    // the K dot products dL/da_k = Σ_i dy_i·Q_k(w)_i each one fused pass over the weights.
    const fused = fusedMixture(b, quantizers);
    /** a = softmax(α / T) from α's current values. */
    const hostAttention = (alphaValues: Float32Array, T: number): number[] =>
      softmax(Array.from(alphaValues, (v) => v / T));
    /** dL/dα from dL/da through a = softmax(α/T): dα_j = a_j (da_j − Σ_k a_k da_k) / T. */
    const softmaxBackward = (a: readonly number[], da: readonly number[], T: number): number[] => {
      let dot = 0;
      for (let k = 0; k < K; k++) dot += a[k]! * da[k]!;
      return a.map((aj, j) => (aj * (da[j]! - dot)) / T);
    };
    const hostMixture = (x: Tensor, step: StepInfo): Tensor => {
      const T = dqaTemperature(step, o);
      return b.customGrad((w, al) => {
        const wv = b.readSync(w!);
        const a = hostAttention(b.readSync(al!), T);
        const qs = quantizers.map((q) => referenceQuantize(q, wv, w!.shape));
        const out = new Float32Array(wv.length);
        for (let k = 0; k < K; k++) {
          const qk = qs[k]!;
          const ak = a[k]!;
          for (let i = 0; i < out.length; i++) out[i]! += ak * qk[i]!;
        }
        return {
          value: b.tensor(out, w!.shape),
          gradFunc: (dy) => {
            const d = b.readSync(dy);
            const da = qs.map((qk) => {
              let sum = 0;
              for (let i = 0; i < d.length; i++) sum += d[i]! * qk[i]!;
              return sum;
            });
            // Straight-through each Q_k: dq/dw = Σ_k a_k = 1, so dw = dy.
            return [dy, b.tensor(softmaxBackward(a, da, T), [K])];
          },
        };
      })(x, alpha);
    };
    const fusedForward = (x: Tensor, step: StepInfo): Tensor => {
      const T = dqaTemperature(step, o);
      return b.customGrad((w, al) => {
        const a = hostAttention(b.readSync(al!), T);
        const { value, dots } = fused!.forward(w!, a);
        return {
          value,
          // Straight-through each Q_k: dq/dw = Σ_k a_k = 1, so dw = dy.
          gradFunc: (dy) => [dy, b.tensor(softmaxBackward(a, dots(dy), T), [K])],
        };
      })(x, alpha);
    };
    const hostRegularizer = (step: StepInfo, scale: number): Tensor => {
      const T = dqaTemperature(step, o);
      return b.customGrad((al) => {
        const a = hostAttention(b.readSync(al!), T);
        let value = 0;
        for (let k = 0; k < K; k++) value += g[k]! * a[k]!;
        return {
          value: b.scalar(value * scale),
          gradFunc: (dy) => {
            const d = b.readSync(dy)[0]! * scale;
            return [
              b.tensor(
                softmaxBackward(
                  a,
                  g.map((gk) => gk * d),
                  T,
                ),
                [K],
              ),
            ];
          },
        };
      })(alpha);
    };

    /** a = softmax(α / T) as a differentiable [K] tensor. */
    const attentionTensor = (step: StepInfo): Tensor =>
      b.softmax(b.div(alpha, dqaTemperature(step, o)));
    /** a_k as a scalar tensor (one-hot dot product keeps it differentiable on every backend). */
    const component = (a: Tensor, k: number): Tensor => {
      const onehot = new Float32Array(K);
      onehot[k] = 1;
      return b.sum(b.mul(a, b.tensor(onehot, [K])));
    };

    return {
      relaxation: 'dqa',
      name,
      quantizers,
      variables: [alpha, ...quantizers.flatMap((q) => Object.values(q.params))],
      beforeStep: () => {
        if (!normalize) return;
        if (host || fused) {
          // α has K values: on the host, in the float32 steps of the ops below, rather than nine
          // engine calls per layer per step.
          const v = b.readSync(alpha);
          const f = Math.fround;
          let sum = 0;
          for (const x of v) sum += x;
          const mean = f(sum / K);
          let sq = 0;
          for (const x of v) sq += f(f(x - mean) ** 2);
          const std = f(Math.sqrt(f(sq / K)));
          if (!(std > 0)) return;
          const next = b.tensor(
            Array.from(v, (x) => f(x / Math.max(std, 1e-30))),
            [K],
          );
          alpha.assign(next);
          b.dispose(next);
          return;
        }
        const next = b.tidy(() => {
          const centred = b.sub(alpha, b.mean(alpha));
          const std = b.sqrt(b.mean(b.square(centred)));
          // std = 0 (all α equal): the softmax ignores α's scale, so leave α as it is.
          return b.where(b.greater(std, 0), b.div(alpha, b.maximum(std, 1e-30)), alpha);
        });
        alpha.assign(next);
        b.dispose(next);
      },
      forward: (x: Tensor, step: StepInfo) =>
        b.tidy(() => {
          if (fused) return fusedForward(x, step);
          if (host) return hostMixture(x, step);
          const a = attentionTensor(step);
          let q: Tensor | null = null;
          for (let k = 0; k < K; k++) {
            const term = b.mul(quantize(b, x, quantizers[k]!), component(a, k));
            q = q ? b.add(q, term) : term;
          }
          return q!;
        }),
      regularizer: (step: StepInfo, totalWeights: number) =>
        b.tidy(() => {
          if (!(totalWeights > 0))
            throw new ArgumentError(`dqa '${name}': the network weight count S must be positive`);
          if (host || fused) return hostRegularizer(step, o.lambda / totalWeights);
          const a = attentionTensor(step);
          return b.div(b.mul(b.sum(b.mul(a, b.tensor(g, [K]))), o.lambda), totalWeights);
        }),
      mixingWeights: (step: StepInfo) => {
        // Exactly what `forward` uses: softmax(α/T) of the current (normalised, after beforeStep) α.
        const T = dqaTemperature(step, o);
        return softmax(Array.from(b.readSync(alpha), (v) => v / T));
      },
      hard: (x: Tensor) => quantize(b, x, quantizers[0]!),
      dispose: () => {
        b.dispose(alpha);
        disposeQuantizerParams(b, quantizers);
      },
    };
  },
};
