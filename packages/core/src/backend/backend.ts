import type { Granularity, QuantizerPlugin } from '../quantizer/plugin.js';

/**
 * The compute contract of DQA-TS. Models, quantizer plugins and relaxations are written against
 * this interface only; a concrete backend (@dqa/tfjs, @dqa/native-cpu, the reference backend in
 * this package, …) is chosen at the edge and passed in.
 *
 * Conventions, shared by every backend:
 * - every tensor is float32 (labels travel as one-hot float32 tensors);
 * - images are NHWC, convolution filters HWIO (`[fh, fw, inChannels, outChannels]`), depthwise
 *   filters `[fh, fw, inChannels, multiplier]`, dense weights `[in, out]` (the tfjs layouts);
 * - binary ops broadcast like NumPy; a `number` operand is a scalar;
 * - comparison ops return float masks of 0 and 1;
 * - ops never mutate their inputs; only `Variable.assign` changes a value in place.
 */

/** A value on a backend. Opaque: read it back with `read`/`readSync`. */
export interface Tensor {
  readonly shape: readonly number[];
  /** Number of elements (product of `shape`; 1 for a scalar). */
  readonly size: number;
  /**
   * Name of the backend that created the tensor, where the backend tags its tensors (tensors never
   * cross backends). Optional so that engines can hand out their own tensor objects unwrapped
   * (@dqa/tfjs returns plain `tf.Tensor`s, which tfjs-layers code can use directly).
   */
  readonly backend?: string;
}

/** A mutable, named tensor that survives memory scopes: weights, attention α, PACT's clip. */
export interface Variable extends Tensor {
  readonly name: string;
  readonly trainable: boolean;
  /** Replaces the value (same shape); the old value is released. */
  assign(value: Tensor): void;
}

export type Operand = Tensor | number;

/** The activations `Backend.fusedConv2d` applies: none, or ReLU. */
export type FusedActivation = 'linear' | 'relu';

/** `Backend.fusedConv2d`'s options: the convolution's, a bias `[outC]` and an activation. */
export interface FusedConv2DOptions extends Conv2DOptions {
  bias?: Tensor;
  /** Default `'linear'`. */
  activation?: FusedActivation;
}

/** What `Backend.batchNormTraining` applies after normalising: `activation(y + residual)`. */
export interface BatchNormEpilogue {
  /** Added to the normalised tensor (same shape as x). */
  residual?: Tensor;
  /** Default `'linear'`. */
  activation?: FusedActivation;
}

/** What `Backend.batchNormTraining` gives: the normalised tensor and the batch statistics. */
export interface BatchNormTrainingResult {
  y: Tensor;
  /** Per-channel batch mean, `[channels]`. */
  mean: Tensor;
  /** Per-channel biased batch variance (divided by the row count), `[channels]`. */
  variance: Tensor;
}

/** `'same'` and `'valid'` as in TensorFlow, or explicit `[[top, bottom], [left, right]]`. */
export type Padding =
  | 'same'
  | 'valid'
  | readonly [readonly [number, number], readonly [number, number]];

export interface Conv2DOptions {
  /** `[strideH, strideW]` or one number for both; default 1. */
  strides?: number | readonly [number, number];
  /** Default `'same'`. */
  padding?: Padding;
  /** `[dilationH, dilationW]` or one number for both; default 1. */
  dilations?: number | readonly [number, number];
}

export interface Pool2DOptions {
  /** `[fh, fw]` or one number for both. */
  filterSize: number | readonly [number, number];
  /** Default: the filter size. */
  strides?: number | readonly [number, number];
  /** Default `'valid'`. */
  padding?: Padding;
}

/** What a custom-gradient function returns: the value and how to map dy to input gradients. */
export interface CustomGradResult {
  value: Tensor;
  /** Gradients for each input, in order (same shapes as the inputs). */
  gradFunc: (dy: Tensor) => Tensor[];
}

export interface ValueAndGrads {
  /** The scalar value of the function. */
  value: Tensor;
  /** d value / d wrt[i], one per variable, same shapes; zeros for a variable the value ignores. */
  grads: Tensor[];
}

/** Memory statistics, where a backend tracks them. */
export interface MemoryInfo {
  /** Live tensors owned by the backend (not yet disposed). */
  numTensors: number;
  numBytes?: number;
}

/**
 * How to build an equivalent object in another thread (data-parallel training): the worker imports
 * `module` (an absolute URL of a built ES module) and calls its export `export` with `args`
 * (structured-cloneable). For a backend the export is `(args) => Backend | Promise<Backend>`;
 * for a model it is `(backend, args) => TrainableModel | Promise<TrainableModel>`.
 */
export interface ReplicaRecipe {
  module: string;
  export: string;
  args: unknown;
}

export interface Backend {
  /** Registered name, e.g. `'reference'`, `'tfjs-wasm'`, `'native-cpu'`. */
  readonly name: string;
  /**
   * Tensor values live in this process's memory, so `readSync` is a copy rather than a device
   * transfer (reference, tfjs wasm and cpu, native CPU). Quantizers then take their plain
   * reference path, one pass over the values instead of many small engine ops.
   */
  readonly hostMemory?: boolean;
  /** How a worker thread builds the same backend, where the backend supports data-parallel training. */
  readonly replica?: ReplicaRecipe;

  // ── creation and read-back ────────────────────────────────────────────────────────────────
  /** A tensor from row-major values; `values.length` must equal the product of `shape`. */
  tensor(values: ArrayLike<number>, shape: readonly number[]): Tensor;
  scalar(value: number): Tensor;
  /** A tensor of `shape` filled with `value`. */
  fill(shape: readonly number[], value: number): Tensor;
  /** Row-major values of `t` (a copy the caller owns). */
  read(t: Tensor): Promise<Float32Array>;
  /** Synchronous `read`; may block where the device is asynchronous. */
  readSync(t: Tensor): Float32Array;

  // ── memory ────────────────────────────────────────────────────────────────────────────────
  /**
   * Runs `fn` and releases every tensor created inside it except those it returns (a tensor, an
   * array of tensors or an object whose values are tensors) and those passed to `keep`.
   */
  tidy<T>(fn: () => T): T;
  /** Marks `t` to survive the enclosing `tidy`. */
  keep<T extends Tensor>(t: T): T;
  /** Releases tensors now. Disposing twice is a no-op. */
  dispose(t: Tensor | readonly Tensor[]): void;
  /** Live-tensor statistics (optional). */
  memory?(): MemoryInfo;

  // ── variables and gradients ──────────────────────────────────────────────────────────────
  /** A variable holding a copy of `initial`. Names must be unique per backend. */
  variable(initial: Tensor, options: { name: string; trainable?: boolean }): Variable;
  /**
   * Evaluates the scalar function `f` and its gradients with respect to `wrt` by reverse-mode
   * differentiation. The returned tensors belong to the caller.
   */
  valueAndGrads(f: () => Tensor, wrt: readonly Variable[]): ValueAndGrads;
  /**
   * Wraps `f` so that its gradient is `gradFunc` instead of the derivative of the ops inside it.
   * This is how straight-through estimators and PACT's clip gradient are written.
   */
  customGrad(f: (...inputs: Tensor[]) => CustomGradResult): (...inputs: Tensor[]) => Tensor;

  // ── elementwise, broadcasting ─────────────────────────────────────────────────────────────
  add(a: Operand, b: Operand): Tensor;
  sub(a: Operand, b: Operand): Tensor;
  mul(a: Operand, b: Operand): Tensor;
  div(a: Operand, b: Operand): Tensor;
  maximum(a: Operand, b: Operand): Tensor;
  minimum(a: Operand, b: Operand): Tensor;
  /** a ** b for a > 0 (gradients are defined there). */
  pow(a: Operand, b: Operand): Tensor;
  greater(a: Operand, b: Operand): Tensor;
  greaterEqual(a: Operand, b: Operand): Tensor;
  less(a: Operand, b: Operand): Tensor;
  lessEqual(a: Operand, b: Operand): Tensor;
  equal(a: Operand, b: Operand): Tensor;
  /** Elementwise `cond != 0 ? a : b`, broadcasting all three. No gradient reaches `cond`. */
  where(cond: Tensor, a: Operand, b: Operand): Tensor;

  neg(x: Tensor): Tensor;
  abs(x: Tensor): Tensor;
  /** −1, 0 or 1. */
  sign(x: Tensor): Tensor;
  exp(x: Tensor): Tensor;
  log(x: Tensor): Tensor;
  sqrt(x: Tensor): Tensor;
  square(x: Tensor): Tensor;
  reciprocal(x: Tensor): Tensor;
  relu(x: Tensor): Tensor;
  sigmoid(x: Tensor): Tensor;
  tanh(x: Tensor): Tensor;
  /** Rounds down; zero gradient. Quantizers round with `floor(x + 0.5)` (ties up) on every backend. */
  floor(x: Tensor): Tensor;
  /** Clamps to [lo, hi]; the gradient passes where lo ≤ x ≤ hi. */
  clip(x: Tensor, lo: number, hi: number): Tensor;

  // ── reductions (axes: `undefined` = all; negative axes count from the end) ───────────────
  sum(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
  mean(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
  max(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
  min(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;

  // ── shapes ────────────────────────────────────────────────────────────────────────────────
  /** One dimension may be −1 (inferred). */
  reshape(x: Tensor, shape: readonly number[]): Tensor;
  transpose(x: Tensor, perm?: readonly number[]): Tensor;

  // ── neural-network ops ───────────────────────────────────────────────────────────────────
  /** 2-D matrix product `op(a) · op(b)`. */
  matMul(a: Tensor, b: Tensor, transposeA?: boolean, transposeB?: boolean): Tensor;
  /** x `[n, h, w, c]`, filter `[fh, fw, c, outC]`. */
  conv2d(x: Tensor, filter: Tensor, options?: Conv2DOptions): Tensor;
  /**
   * `activation(conv2d(x, filter) + bias)` as one op: a backend with a fused kernel adds the bias
   * and applies the activation while the convolution writes its output, rather than in two more
   * passes over it. Same values and gradients as the three ops.
   */
  fusedConv2d(x: Tensor, filter: Tensor, options?: FusedConv2DOptions): Tensor;
  /** x `[n, h, w, c]`, filter `[fh, fw, c, multiplier]` → `[n, oh, ow, c · multiplier]`. */
  depthwiseConv2d(x: Tensor, filter: Tensor, options?: Conv2DOptions): Tensor;
  maxPool(x: Tensor, options: Pool2DOptions): Tensor;
  avgPool(x: Tensor, options: Pool2DOptions): Tensor;
  /**
   * `(x − mean) / sqrt(variance + epsilon) · scale + offset`, broadcasting over the last axis.
   * Gradients reach every tensor argument, so batch statistics computed from x train correctly.
   */
  batchNorm(
    x: Tensor,
    mean: Tensor,
    variance: Tensor,
    offset?: Tensor,
    scale?: Tensor,
    epsilon?: number,
  ): Tensor;
  /**
   * Batch norm in training mode over the last axis: the batch statistics of x over every other
   * axis (mean and biased variance, `[channels]` each), then `batchNorm` with them, then
   * optionally `epilogue`: `activation(y + residual)` (a residual block's add and ReLU). Gradients
   * reach x (through the statistics too), offset, scale and the residual via `y`; `mean` and
   * `variance` are returned for the moving averages. One fused kernel pair where the backend has
   * it (three passes over x forward, two backward), else composed from reductions.
   */
  batchNormTraining(
    x: Tensor,
    offset?: Tensor,
    scale?: Tensor,
    epsilon?: number,
    epilogue?: BatchNormEpilogue,
  ): BatchNormTrainingResult;
  /** Softmax over the last axis. */
  softmax(x: Tensor): Tensor;
  /** Log-softmax over the last axis. */
  logSoftmax(x: Tensor): Tensor;
  /** Mean over the batch of −Σ labels · logSoftmax(logits); logits and labels `[n, classes]`. */
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor;

  // ── optional capabilities ────────────────────────────────────────────────────────────────
  /** Caps the number of compute threads where the backend has them. */
  setThreads?(n: number): void;
  /** Releases everything the backend holds. */
  close?(): void;
  /**
   * Fused quantizer kernels: a quantizer with its calibration, or a K-way mixture with what its
   * attention gradient needs, in one pass over the values instead of a chain of ops. `quantize`,
   * the DQA and Binary-Relax mixtures and PACT use them where the backend has one for the
   * plugin; where it has none (a third party's plugin) the plugin's own path runs.
   */
  readonly fusedQuantizers?: FusedQuantizers;
}

// ── fused quantizers (optional capability) ─────────────────────────────────────────────────

/** One of a layer's quantizers as a fused kernel sees it. */
export interface FusedQuantizerSpec {
  /**
   * The plugin itself. A backend recognises the plugins its kernels implement by their
   * `reference` and `referenceGrad` functions, never by `id` alone: a third party's plugin may
   * reuse an id with other semantics.
   */
  readonly plugin: QuantizerPlugin;
  readonly bits: number;
  readonly granularity: Granularity;
  /** Non-negative channel axis, for per-channel granularity. */
  readonly channelAxis: number;
}

/**
 * Q(x) of one plugin, calibrated from x (min/max, SAWB's α*, E|x|, …) as its `reference` is, in
 * one fused kernel. Nothing is recorded for autodiff: the caller wraps it in `customGrad`.
 */
export interface FusedQuantizer {
  /** Q(x); `params` holds the plugin's learnable parameters (PACT's α) as scalar tensors. */
  forward(x: Tensor, params: Readonly<Record<string, Tensor>>): Tensor;
  /**
   * The plugin's gradient rule: dL/dx and dL/d(each parameter, same shape) given dL/dQ. Absent
   * when the rule is the straight-through estimator (dx = dy, no parameters); callers then use
   * the kernel only for plugins whose `referenceGrad` is `straightThroughReferenceGrad`.
   */
  backward?(
    x: Tensor,
    dy: Tensor,
    params: Readonly<Record<string, Tensor>>,
  ): { dx: Tensor; params: Record<string, Tensor> };
}

/** What a fused mixture's forward pass gives. */
export interface FusedMixtureResult {
  /** Σ_k m_k · Q_k(x). */
  value: Tensor;
  /** Σ_i dy_i · Q_k(x)_i for each k (dL/dm_k), with the calibration of this forward pass. */
  dots(dy: Tensor): number[];
}

/** Σ_k m_k · Q_k(x) over K straight-through quantizers, one pass over x (DQA eq. 1–3, BR eq. 8). */
export interface FusedMixture {
  /** The mixture for the mixing weights m (plain numbers, one per quantizer). */
  forward(x: Tensor, weights: readonly number[]): FusedMixtureResult;
}

/** A backend's fused quantizer kernels (`Backend.fusedQuantizers`). */
export interface FusedQuantizers {
  /** The fused kernel of one quantizer, or `undefined` where the backend has none for it. */
  quantizer(spec: FusedQuantizerSpec): FusedQuantizer | undefined;
  /**
   * A fused mixture of these quantizers (in order), or `undefined` unless the backend has a kernel
   * for every one and every one is straight-through.
   */
  mixture(specs: readonly FusedQuantizerSpec[]): FusedMixture | undefined;
}

/** Normalises `n | [a, b]` to a pair. */
export function pair(
  v: number | readonly [number, number] | undefined,
  fallback: number,
): [number, number] {
  if (v === undefined) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0], v[1]];
}
