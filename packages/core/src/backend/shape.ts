import { ArgumentError, ShapeError } from '../errors.js';
import { type Conv2DOptions, type Padding, type Pool2DOptions, pair } from './backend.js';

/** Product of the dimensions (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Checks that every dimension is a non-negative integer. */
export function assertShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${what}: shape ${formatShape(shape)} has an invalid dimension ${d}`);
    }
  }
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** NumPy broadcasting of two shapes; throws a `ShapeError` naming `op` and both shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else {
      throw new ShapeError(
        `${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast (dimension ${i} is ${da} vs ${db})`,
      );
    }
  }
  return out;
}

/**
 * Axes of `outShape` along which `inShape` was broadcast (to sum a gradient back to `inShape`).
 * Leading axes that `inShape` lacks are included.
 */
export function broadcastedAxes(inShape: readonly number[], outShape: readonly number[]): number[] {
  const axes: number[] = [];
  const offset = outShape.length - inShape.length;
  for (let i = 0; i < outShape.length; i++) {
    if (i < offset) axes.push(i);
    else if (inShape[i - offset] === 1 && outShape[i] !== 1) axes.push(i);
  }
  return axes;
}

/** Normalises reduction axes (undefined = all, negatives from the end), sorted and unique. */
export function normalizeAxes(
  axes: number | readonly number[] | undefined,
  rank: number,
  op: string,
): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = new Set<number>();
  for (const a of list) {
    const ax = a < 0 ? a + rank : a;
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank) {
      throw new ShapeError(`${op}: axis ${a} is out of range for a tensor of rank ${rank}`);
    }
    out.add(ax);
  }
  return [...out].sort((x, y) => x - y);
}

/** Shape after reducing `axes` (kept as 1 with keepDims). */
export function reducedShape(
  shape: readonly number[],
  axes: readonly number[],
  keepDims: boolean,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (axes.includes(i)) {
      if (keepDims) out.push(1);
    } else out.push(shape[i]!);
  }
  return out;
}

/** Resolves a −1 in `shape` and checks the element count. */
export function inferReshape(from: readonly number[], to: readonly number[]): number[] {
  const size = sizeOf(from);
  const out = [...to];
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    if (out.indexOf(-1, neg + 1) >= 0) {
      throw new ShapeError(`reshape: at most one dimension may be -1, got ${formatShape(to)}`);
    }
    const rest = sizeOf(out.filter((_, i) => i !== neg));
    if (rest === 0 || size % rest !== 0) {
      throw new ShapeError(
        `reshape: cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(to)}`,
      );
    }
    out[neg] = size / rest;
  }
  assertShape(out, 'reshape');
  if (sizeOf(out) !== size) {
    throw new ShapeError(
      `reshape: cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(to)}`,
    );
  }
  return out;
}

/** Validates a permutation (default: reversed axes). */
export function normalizePerm(rank: number, perm: readonly number[] | undefined): number[] {
  const p = perm ? [...perm] : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const seen = new Set(p);
  if (
    p.length !== rank ||
    seen.size !== rank ||
    p.some((v) => !Number.isInteger(v) || v < 0 || v >= rank)
  ) {
    throw new ShapeError(`transpose: ${formatShape(p)} is not a permutation of ${rank} axes`);
  }
  return p;
}

/** Everything a convolution or pooling kernel needs, computed once so every backend agrees. */
export interface Conv2DGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  /** Output channels (`inChannels · multiplier` for depthwise, `inChannels` for pooling). */
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  /** Depthwise channel multiplier (1 otherwise). */
  multiplier: number;
}

function resolvePadding(
  padding: Padding,
  inSize: number,
  filter: number,
  stride: number,
  dilation: number,
  axis: 0 | 1,
  op: string,
): { out: number; before: number; after: number } {
  const effective = (filter - 1) * dilation + 1;
  if (padding === 'valid') {
    const out = Math.floor((inSize - effective) / stride) + 1;
    return { out, before: 0, after: 0 };
  }
  if (padding === 'same') {
    // TensorFlow's rule: pad so that out = ceil(in / stride), the extra pixel going after.
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + effective - inSize, 0);
    const before = Math.floor(total / 2);
    return { out, before, after: total - before };
  }
  if (!Array.isArray(padding) || padding.length !== 2) {
    throw new ArgumentError(
      `${op}: padding must be 'same', 'valid' or [[top, bottom], [left, right]]`,
    );
  }
  const [before, after] = padding[axis] as readonly [number, number];
  if (!(before >= 0 && after >= 0 && Number.isInteger(before) && Number.isInteger(after))) {
    throw new ArgumentError(
      `${op}: explicit padding must be non-negative integers, got ${JSON.stringify(padding)}`,
    );
  }
  const out = Math.floor((inSize + before + after - effective) / stride) + 1;
  return { out, before, after };
}

function checkPositive(v: [number, number], what: string, op: string): void {
  if (!(Number.isInteger(v[0]) && Number.isInteger(v[1]) && v[0] > 0 && v[1] > 0)) {
    throw new ArgumentError(`${op}: ${what} must be positive integers, got [${v.join(', ')}]`);
  }
}

/** Geometry of `conv2d` / `depthwiseConv2d`; throws naming the op and the shapes. */
export function conv2dGeometry(
  xShape: readonly number[],
  filterShape: readonly number[],
  options: Conv2DOptions | undefined,
  depthwise: boolean,
): Conv2DGeometry {
  const op = depthwise ? 'depthwiseConv2d' : 'conv2d';
  if (xShape.length !== 4) {
    throw new ShapeError(`${op}: input must be rank 4 [n, h, w, c], got ${formatShape(xShape)}`);
  }
  if (filterShape.length !== 4) {
    throw new ShapeError(
      `${op}: filter must be rank 4 ${depthwise ? '[fh, fw, c, multiplier]' : '[fh, fw, inC, outC]'}, got ${formatShape(filterShape)}`,
    );
  }
  const [batch, inHeight, inWidth, inChannels] = xShape as [number, number, number, number];
  const [filterHeight, filterWidth, fIn, fOut] = filterShape as [number, number, number, number];
  if (fIn !== inChannels) {
    throw new ShapeError(
      `${op}: filter ${formatShape(filterShape)} expects ${fIn} input channels but the input ${formatShape(xShape)} has ${inChannels}`,
    );
  }
  const strides = pair(options?.strides, 1);
  const dilations = pair(options?.dilations, 1);
  checkPositive(strides, 'strides', op);
  checkPositive(dilations, 'dilations', op);
  const padding = options?.padding ?? 'same';
  const h = resolvePadding(padding, inHeight, filterHeight, strides[0], dilations[0], 0, op);
  const w = resolvePadding(padding, inWidth, filterWidth, strides[1], dilations[1], 1, op);
  if (h.out <= 0 || w.out <= 0) {
    throw new ShapeError(
      `${op}: filter ${formatShape(filterShape)} with dilation [${dilations.join(', ')}] does not fit input ${formatShape(xShape)} under padding ${JSON.stringify(padding)}`,
    );
  }
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outHeight: h.out,
    outWidth: w.out,
    outChannels: depthwise ? inChannels * fOut : fOut,
    filterHeight,
    filterWidth,
    strideHeight: strides[0],
    strideWidth: strides[1],
    dilationHeight: dilations[0],
    dilationWidth: dilations[1],
    padTop: h.before,
    padBottom: h.after,
    padLeft: w.before,
    padRight: w.after,
    multiplier: depthwise ? fOut : 1,
  };
}

/** Geometry of `maxPool` / `avgPool`. */
export function pool2dGeometry(
  xShape: readonly number[],
  options: Pool2DOptions,
  op: string,
): Conv2DGeometry {
  if (xShape.length !== 4) {
    throw new ShapeError(`${op}: input must be rank 4 [n, h, w, c], got ${formatShape(xShape)}`);
  }
  const [batch, inHeight, inWidth, inChannels] = xShape as [number, number, number, number];
  const filter = pair(options.filterSize, 1);
  checkPositive(filter, 'filterSize', op);
  const strides = pair(options.strides ?? options.filterSize, 1);
  checkPositive(strides, 'strides', op);
  const padding = options.padding ?? 'valid';
  const h = resolvePadding(padding, inHeight, filter[0], strides[0], 1, 0, op);
  const w = resolvePadding(padding, inWidth, filter[1], strides[1], 1, 1, op);
  if (h.out <= 0 || w.out <= 0) {
    throw new ShapeError(
      `${op}: window [${filter.join(', ')}] does not fit input ${formatShape(xShape)}`,
    );
  }
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outHeight: h.out,
    outWidth: w.out,
    outChannels: inChannels,
    filterHeight: filter[0],
    filterWidth: filter[1],
    strideHeight: strides[0],
    strideWidth: strides[1],
    dilationHeight: 1,
    dilationWidth: 1,
    padTop: h.before,
    padBottom: h.after,
    padLeft: w.before,
    padRight: w.after,
    multiplier: 1,
  };
}

/** The activations the fused ops apply; anything else is an `ArgumentError` naming the op. */
export function checkFusedActivation(op: string, activation: unknown): 'linear' | 'relu' {
  if (activation === undefined) return 'linear';
  if (activation !== 'linear' && activation !== 'relu')
    throw new ArgumentError(
      `${op}: activation must be 'linear' or 'relu', got '${String(activation)}'`,
    );
  return activation;
}

/**
 * Checks `batchNormTraining`'s shapes: x has a batch and a channel axis, offset and scale are
 * `[channels]`, the residual has x's shape. Returns the channel count.
 */
export function checkBatchNormTraining(
  x: readonly number[],
  offset: readonly number[] | undefined,
  scale: readonly number[] | undefined,
  residual: readonly number[] | undefined,
): number {
  if (x.length < 2)
    throw new ShapeError(
      `batchNormTraining: x must have a batch axis and a channel axis, got ${formatShape(x)}`,
    );
  const channels = x[x.length - 1]!;
  for (const [name, p] of [
    ['offset', offset],
    ['scale', scale],
  ] as const) {
    if (p && !(p.length === 1 && p[0] === channels))
      throw new ShapeError(
        `batchNormTraining: ${name} must be [${channels}] for x ${formatShape(x)}, got ${formatShape(p)}`,
      );
  }
  if (residual && !(residual.length === x.length && residual.every((d, i) => d === x[i])))
    throw new ShapeError(
      `batchNormTraining: the residual must have x's shape ${formatShape(x)}, got ${formatShape(residual)}`,
    );
  return channels;
}

/** Checks `fusedConv2d`'s bias: `[outChannels]`. */
export function checkConvBias(bias: readonly number[] | undefined, outChannels: number): void {
  if (bias && !(bias.length === 1 && bias[0] === outChannels))
    throw new ShapeError(
      `fusedConv2d: bias must be [${outChannels}] for ${outChannels} output channels, got ${formatShape(bias)}`,
    );
}
