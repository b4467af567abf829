import type { FusedActivation } from './backend.js';
import type { Conv2DGeometry } from './shape.js';

/**
 * The low-level contract of a compute engine without autodiff: forward kernels plus the backward
 * kernels that gradients need. `createTapeBackend(kernels)` turns a `Kernels` into a full
 * `Backend` (tape-based reverse-mode autodiff, memory scopes, variables). The reference backend
 * of this package and @dqa/native-cpu are built this way; a backend with its own autodiff (tfjs)
 * implements `Backend` directly instead.
 *
 * `S` is the engine's storage handle (a `Float32Array` for the reference kernels, a native buffer
 * for the addon). Kernels receive shapes explicitly, never mutate inputs, and return fresh storage.
 */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'maximum'
  | 'minimum'
  | 'pow'
  | 'greater'
  | 'greaterEqual'
  | 'less'
  | 'lessEqual'
  | 'equal';

export type UnaryOp =
  | 'neg'
  | 'abs'
  | 'sign'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'square'
  | 'reciprocal'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'floor'
  | 'step';

export type ReduceOp = 'sum' | 'max' | 'min';

export interface Kernels<S> {
  readonly name: string;
  upload(values: Float32Array, size: number): S;
  /** A copy of the `size` values. */
  download(data: S, size: number): Float32Array;
  /** Frees storage (no-op where the garbage collector owns it). */
  release(data: S): void;
  fill(size: number, value: number): S;

  binary(
    op: BinaryOp,
    a: S,
    aShape: readonly number[],
    b: S,
    bShape: readonly number[],
    outShape: readonly number[],
  ): S;
  /** `step` is the unit step (1 where x > 0, else 0), used for masks. */
  unary(op: UnaryOp, x: S, size: number): S;
  clip(x: S, size: number, lo: number, hi: number): S;
  where(
    cond: S,
    condShape: readonly number[],
    a: S,
    aShape: readonly number[],
    b: S,
    bShape: readonly number[],
    outShape: readonly number[],
  ): S;
  /** Reduces sorted, unique `axes`; the result has those axes removed. */
  reduce(op: ReduceOp, x: S, shape: readonly number[], axes: readonly number[]): S;
  transpose(x: S, shape: readonly number[], perm: readonly number[]): S;
  /** `op(a) · op(b)` for rank-2 a and b given in their stored (untransposed) shapes. */
  matMul(
    a: S,
    aShape: readonly [number, number],
    b: S,
    bShape: readonly [number, number],
    transposeA: boolean,
    transposeB: boolean,
  ): S;

  conv2d(x: S, filter: S, g: Conv2DGeometry): S;
  /** dx `[n, h, w, inC]` from dy `[n, oh, ow, outC]` and the filter. */
  conv2dBackpropInput(dy: S, filter: S, g: Conv2DGeometry): S;
  /** dfilter `[fh, fw, inC, outC]` from x and dy. */
  conv2dBackpropFilter(x: S, dy: S, g: Conv2DGeometry): S;
  depthwiseConv2d(x: S, filter: S, g: Conv2DGeometry): S;
  depthwiseConv2dBackpropInput(dy: S, filter: S, g: Conv2DGeometry): S;
  depthwiseConv2dBackpropFilter(x: S, dy: S, g: Conv2DGeometry): S;
  maxPool(x: S, g: Conv2DGeometry): S;
  /** Routes dy to the first maximum of each window (ties go to the first in row-major order). */
  maxPoolBackprop(dy: S, x: S, g: Conv2DGeometry): S;
  /** Average over the window's in-bounds elements (padding excluded, as in TensorFlow). */
  avgPool(x: S, g: Conv2DGeometry): S;
  avgPoolBackprop(dy: S, g: Conv2DGeometry): S;

  /** Caps compute threads, where the engine has them. */
  setThreads?(n: number): void;

  // ── optional fused kernels: `createTapeBackend` uses them where present, else composes ──
  /**
   * `activation(conv2d(x, filter) + bias)` in one kernel (bias null for none), else composed from
   * `conv2d`, a broadcast add and `relu`. Its gradient needs no kernel of its own: the tape masks
   * dy by the output (`biasActivationBackward` where present) and runs the convolution's.
   */
  conv2dBiasActivation?(
    x: S,
    filter: S,
    bias: S | null,
    activation: FusedActivation,
    g: Conv2DGeometry,
  ): S;
  /**
   * The gradient through `activation(z + bias)` from its output y (`rows` × `channels`): dz = dy
   * masked by the activation's derivative (ReLU: y > 0) and dBias = Σ_rows dz, in one pass.
   */
  biasActivationBackward?(
    dy: S,
    y: S,
    rows: number,
    channels: number,
    activation: FusedActivation,
  ): { dz: S; dBias: S };
  /** The gradient of relu in one pass: `dy · step(x)` (else `mul(dy, step(x))`). */
  reluBackward?(dy: S, x: S, size: number): S;
  /**
   * Mean over the `rows` of −Σ labels · logSoftmax(logits), one value (else composed from
   * reductions and elementwise kernels). Must come with `softmaxCrossEntropyBackward`.
   */
  softmaxCrossEntropy?(logits: S, labels: S, rows: number, cols: number): S;
  /**
   * Gradients of `softmaxCrossEntropy` for the 1-value upstream gradient `dy`: with g = dy/rows,
   * dLogits = g·(softmax(logits)·Σ_c labels − labels) and, where `needLabels`, dLabels =
   * −g·logSoftmax(logits) (else null).
   */
  softmaxCrossEntropyBackward?(
    dy: S,
    logits: S,
    labels: S,
    rows: number,
    cols: number,
    needLabels: boolean,
  ): [S, S | null];
  /**
   * Batch norm over the last axis of x (`rows` × `channels` values; mean, variance, offset and
   * scale `channels` values each, offset/scale null for none): `((x − mean)·r)·scale + offset`
   * with r = 1/sqrt(variance + epsilon), in the composed ops' order (else composed from
   * elementwise kernels). Must come with `batchNormBackward`.
   */
  batchNorm?(
    x: S,
    rows: number,
    channels: number,
    mean: S,
    variance: S,
    offset: S | null,
    scale: S | null,
    epsilon: number,
  ): S;
  /**
   * Batch norm in training mode over the last axis of x (`rows` × `channels`): per channel the
   * mean and biased variance of the rows (accumulated in float64), then
   * `activation(((x − mean)·r)·scale + offset + residual)` with r = 1/sqrt(variance + epsilon)
   * (offset, scale, residual null for none; else composed from reductions, `batchNorm`, `add` and
   * `relu`). Must come with `batchNormTrainingBackward`.
   */
  batchNormTraining?(
    x: S,
    rows: number,
    channels: number,
    offset: S | null,
    scale: S | null,
    epsilon: number,
    residual: S | null,
    activation: FusedActivation,
  ): { y: S; mean: S; variance: S };
  /**
   * Gradients of `batchNormTraining` for dy, the statistics' dependence on x included: with
   * g = dy masked by the activation at the output y (ReLU: y > 0; y is null for 'linear'),
   * x̂ = (x − mean)·r, s = scale (1 for none), S1 = Σ_rows g and S2 = Σ_rows g·x̂ (float64):
   * dx = s·r·(g − S1/rows − x̂·S2/rows), dOffset = S1, dScale = S2, and, where `needResidual`,
   * dResidual = g (else null).
   */
  batchNormTrainingBackward?(
    dy: S,
    x: S,
    rows: number,
    channels: number,
    mean: S,
    variance: S,
    scale: S | null,
    epsilon: number,
    y: S | null,
    activation: FusedActivation,
    needResidual: boolean,
  ): { dx: S; dOffset: S; dScale: S; dResidual: S | null };
  /**
   * Gradients of `batchNorm` for dy: with r and s = scale (1 for none), S1 = Σ_rows dy and
   * S2 = Σ_rows dy·(x − mean): dx = dy·s·r, dMean = −s·r·S1, dVariance = −½·s·r³·S2,
   * dOffset = S1, dScale = r·S2.
   */
  batchNormBackward?(
    dy: S,
    x: S,
    rows: number,
    channels: number,
    mean: S,
    variance: S,
    scale: S | null,
    epsilon: number,
  ): { dx: S; dMean: S; dVariance: S; dOffset: S; dScale: S };
}
