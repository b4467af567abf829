import type {
  Backend,
  FusedMixture,
  FusedQuantizer,
  FusedQuantizerSpec,
  Tensor,
  Variable,
} from '../backend/backend.js';
import type { Granularity, QuantizerPlugin } from '../quantizer/plugin.js';
import { straightThrough, straightThroughReferenceGrad } from '../quantizer/straight-through.js';

/** Where training is: relaxations are pure functions of it (no hidden schedule state). */
export interface StepInfo {
  /** 0-based global batch index b. */
  step: number;
  /** B, the number of batches of the whole run. */
  totalSteps: number;
  /** Batches per epoch (for per-epoch schedules such as Binary-Relax's literal ω). */
  stepsPerEpoch: number;
}

/** One of a layer's K quantizers, Q_k(·; n_k). */
export interface LayerQuantizer {
  plugin: QuantizerPlugin;
  bits: number;
  granularity: Granularity;
  /** Non-negative channel axis for per-channel quantization. */
  channelAxis: number;
  /** The plugin's learnable parameters for this layer (PACT's α), created by `createLayerQuantizer`. */
  params: Record<string, Variable>;
}

/**
 * A layer's relaxed quantizer for one tensor (weights or activations): how its K quantizers are
 * combined during training, and the single hard quantizer it collapses to at the end.
 */
export interface RelaxedQuantizer {
  readonly relaxation: string;
  /** Layer/tensor name, used for variable names and messages. */
  readonly name: string;
  /** Q_1 … Q_K, sorted by bitwidth (Q_1 the lowest: the final quantizer). */
  readonly quantizers: readonly LayerQuantizer[];
  /** Trainable variables this relaxation adds (DQA's α, PACT's clip levels). */
  readonly variables: readonly Variable[];
  /** Once per training step, before the forward pass (DQA: α ← α / std(α)). */
  beforeStep(step: StepInfo): void;
  /** The mixture's effective tensor for this step; differentiable (STE through each Q_k). */
  forward(x: Tensor, step: StepInfo): Tensor;
  /** This layer's regularizer term at this step (DQA's eq. 6), or null. */
  regularizer(step: StepInfo, totalWeights: number): Tensor | null;
  /** Mixing weights a_k at this step as plain numbers (for logs and Fig. 3a). */
  mixingWeights(step: StepInfo): number[];
  /** The collapsed, hard low-bit quantizer Q_1 used after training. */
  hard(x: Tensor): Tensor;
  /** Releases the variables. */
  dispose(): void;
}

/**
 * Creates the trainable variables a relaxation or plugin needs (DQA's α, PACT's clip level). The
 * default makes backend variables; a framework integration passes its own, e.g. tfjs-layers
 * weights, so that the framework's optimizer and checkpoints see them.
 */
export type VariableFactory = (
  name: string,
  values: readonly number[],
  shape: readonly number[],
) => Variable;

/**
 * The lower bounds of the plugin parameters of `quantizers` (PACT's clip level ≥ its `min`), by
 * variable: what the optimizer projects onto after each update (the Trainer's Sgd; a framework
 * integration projects them itself after its optimizer's step).
 */
export function parameterBounds(
  quantizers: readonly RelaxedQuantizer[],
): ReadonlyMap<Variable, number> {
  const bounds = new Map<Variable, number>();
  for (const rq of quantizers) {
    for (const lq of rq.quantizers) {
      for (const p of lq.plugin.parameters ?? []) {
        const v = lq.params[p.name];
        if (v && p.min !== undefined) bounds.set(v, p.min);
      }
    }
  }
  return bounds;
}

/** The default factory: a backend variable holding `values`. */
export function backendVariables(b: Backend): VariableFactory {
  return (name, values, shape) => b.tidy(() => b.variable(b.tensor(values, shape), { name }));
}

/** A relaxation plugin: `ste`, `binary-relax`, `dqa`, … */
export interface Relaxation<O = unknown> {
  readonly id: string;
  readonly description: string;
  /** Smallest and largest K. */
  readonly minQuantizers: number;
  readonly maxQuantizers: number;
  create(
    b: Backend,
    name: string,
    quantizers: readonly LayerQuantizer[],
    options: O,
    makeVariable?: VariableFactory,
  ): RelaxedQuantizer;
}

/** Σ_k m_k · Q_k(x) for mixing weights given as plain numbers (no gradient to the weights). */
export function mixConstant(
  b: Backend,
  x: Tensor,
  quantizers: readonly LayerQuantizer[],
  weights: readonly number[],
): Tensor {
  const fused = fusedMixture(b, quantizers);
  if (fused) {
    // Every Q_k passes gradients straight through, so d/dx Σ_k m_k Q_k(x) = Σ_k m_k.
    let total = 0;
    for (const m of weights) total += m;
    return b.customGrad((v) => ({
      value: fused.forward(v!, weights).value,
      gradFunc: (dy) => [total === 1 ? dy : b.mul(dy, total)],
    }))(x);
  }
  return b.tidy(() => {
    let q: Tensor | null = null;
    quantizers.forEach((lq, k) => {
      const m = weights[k]!;
      if (m === 0) return;
      const term = b.mul(quantize(b, x, lq), m);
      q = q ? b.add(q, term) : term;
    });
    return q ?? b.mul(x, 0);
  });
}

/** Whether `lq`'s gradient rule is the straight-through estimator, with nothing to learn. */
function straightThroughRule(lq: LayerQuantizer): boolean {
  return (
    lq.plugin.referenceGrad === straightThroughReferenceGrad && Object.keys(lq.params).length === 0
  );
}

/**
 * Whether `quantize` may run `lq` as its plain reference under the straight-through gradient:
 * a host-memory backend, and a plugin without learnable parameters whose gradient rule is the
 * straight-through one (so reference + STE is exactly the plugin's semantics).
 */
export function hostStraightThrough(b: Backend, lq: LayerQuantizer): boolean {
  return b.hostMemory === true && straightThroughRule(lq);
}

/** A layer quantizer as the backend's fused kernels see it. */
export function fusedSpec(lq: LayerQuantizer): FusedQuantizerSpec {
  return {
    plugin: lq.plugin,
    bits: lq.bits,
    granularity: lq.granularity,
    channelAxis: lq.channelAxis,
  };
}

/**
 * The backend's fused kernel for `lq` (see `Backend.fusedQuantizers`), where it has one that keeps
 * the plugin's semantics: one with its own backward, or one without for a straight-through plugin.
 */
export function fusedQuantizer(b: Backend, lq: LayerQuantizer): FusedQuantizer | undefined {
  const fused = b.fusedQuantizers?.quantizer(fusedSpec(lq));
  if (!fused) return undefined;
  return fused.backward || straightThroughRule(lq) ? fused : undefined;
}

/** The backend's fused mixture of `quantizers`, where it has one and every Q_k is straight-through. */
export function fusedMixture(
  b: Backend,
  quantizers: readonly LayerQuantizer[],
): FusedMixture | undefined {
  if (!b.fusedQuantizers || !quantizers.every(straightThroughRule)) return undefined;
  return b.fusedQuantizers.mixture(quantizers.map(fusedSpec));
}

/** Q(x) by the plugin's plain reference, on a host-memory backend (see `hostStraightThrough`). */
export function referenceQuantize(lq: LayerQuantizer, x: Float32Array, shape: readonly number[]) {
  return lq.plugin.reference(x, lq.bits, {
    granularity: lq.granularity,
    shape,
    channelAxis: lq.channelAxis,
  });
}

/**
 * Q_k(x) on the backend: by the backend's fused kernel where it has one for the plugin, else by
 * the plugin's plain reference on a host-memory backend (straight-through plugins), else by the
 * plugin's own ops. The gradient is the plugin's rule on every path.
 */
export function quantize(b: Backend, x: Tensor, lq: LayerQuantizer): Tensor {
  const p = lq.plugin;
  if (!p.identity) {
    const fused = fusedQuantizer(b, lq);
    if (fused) return fusedQuantize(b, x, lq, fused);
  }
  if (hostStraightThrough(b, lq) && !p.identity) {
    // Host-memory engines: a straight-through quantizer without parameters is its plain
    // reference (what the conformance suite holds its forward to) under the straight-through
    // gradient: one pass over the values instead of a dozen engine ops, each with its overhead.
    return straightThrough(b, x, (v) =>
      b.tensor(referenceQuantize(lq, b.readSync(v), v.shape), v.shape),
    );
  }
  return p.forward(b, x, {
    bits: lq.bits,
    granularity: lq.granularity,
    channelAxis: lq.channelAxis,
    params: lq.params,
  });
}

/** Q(x) by a fused kernel under the plugin's gradient rule (its parameters' gradients included). */
function fusedQuantize(b: Backend, x: Tensor, lq: LayerQuantizer, fused: FusedQuantizer): Tensor {
  const backward = fused.backward;
  if (!backward) return straightThrough(b, x, (v) => fused.forward(v, {}));
  const names = Object.keys(lq.params);
  return b.customGrad((v, ...values) => {
    const params = Object.fromEntries(names.map((n, i) => [n, values[i]!]));
    return {
      value: fused.forward(v!, params),
      gradFunc: (dy) => {
        const g = backward.call(fused, v!, dy, params);
        return [g.dx, ...names.map((n) => g.params[n]!)];
      },
    };
  })(x, ...names.map((n) => lq.params[n]!));
}

/** Disposes the plugin parameters of a layer's quantizers. */
export function disposeQuantizerParams(b: Backend, quantizers: readonly LayerQuantizer[]): void {
  for (const lq of quantizers) for (const v of Object.values(lq.params)) b.dispose(v);
}
