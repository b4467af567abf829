import {
  Add,
  type KernelConfig,
  Multiply,
  RealDiv,
  Sub,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { cpuArray, input, type KernelArgs, runStock } from './kernel-util.js';

/** The float32 arithmetic kernels that share this implementation (cpu only). */
const OPS = { [Add]: 0, [Sub]: 1, [Multiply]: 2, [RealDiv]: 3 } as const;
export type ArithmeticKernel = keyof typeof OPS;

/**
 * out[i] = a[ia + j·sa] ∘ b[ib + j·sb] for j < n (a stride of 0 broadcasts one operand).
 * One loop per operator, so each stays monomorphic.
 */
function row(
  op: number,
  a: Float32Array,
  ia: number,
  sa: number,
  b: Float32Array,
  ib: number,
  sb: number,
  out: Float32Array,
  o: number,
  n: number,
): void {
  switch (op) {
    case 0:
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa]! + b[ib + j * sb]!;
      break;
    case 1:
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa]! - b[ib + j * sb]!;
      break;
    case 2:
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa]! * b[ib + j * sb]!;
      break;
    default:
      for (let j = 0; j < n; j++) out[o + j] = a[ia + j * sa]! / b[ib + j * sb]!;
  }
}

/** Whether `shape`, right-aligned, is 1s followed by exactly `outShape`'s trailing dimensions. */
function isTrailingBlock(shape: readonly number[], outShape: readonly number[]): boolean {
  const off = outShape.length - shape.length;
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  for (; i < shape.length; i++) if (shape[i] !== outShape[off + i]) return false;
  return true;
}

/** out[i] = a[i] ∘ b[i mod |b|], in one flat loop (blocks are often a handful of channels). */
function repeatRight(op: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
  const n = b.length;
  const len = out.length;
  switch (op) {
    case 0:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[i]! + b[j]!;
      break;
    case 1:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[i]! - b[j]!;
      break;
    case 2:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[i]! * b[j]!;
      break;
    default:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[i]! / b[j]!;
  }
}

/** out[i] = a[i mod |a|] ∘ b[i]. */
function repeatLeft(op: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
  const n = a.length;
  const len = out.length;
  switch (op) {
    case 0:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[j]! + b[i]!;
      break;
    case 1:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[j]! - b[i]!;
      break;
    case 2:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[j]! * b[i]!;
      break;
    default:
      for (let i = 0, j = 0; i < len; i++, j = j + 1 === n ? 0 : j + 1) out[i] = a[j]! / b[i]!;
  }
}

/** Strides of `shape` right-aligned to `rank` axes, 0 along broadcast axes. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const rank = outShape.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const a = rank - shape.length + i;
    strides[a] = shape[i] === 1 && outShape[a] !== 1 ? 0 : s;
    s *= shape[i]!;
  }
  return strides;
}

/**
 * Elementwise a ∘ b with numpy broadcasting: an odometer over the output's leading axes, the
 * last axis in a tight loop. tfjs' cpu kernels compute two index arrays per element whenever
 * the shapes differ (batch norm's x − mean, dy · γ/σ, …): ≈ 100 ns an element, which made
 * them 60% of a cpu ResNet-20 step.
 */
export function broadcastInto(
  op: number,
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
  out: Float32Array,
  outShape: readonly number[],
): void {
  const rank = outShape.length;
  if (rank === 0 || (a.length === out.length && b.length === out.length)) {
    row(op, a, 0, 1, b, 0, 1, out, 0, out.length);
    return;
  }
  // One operand whole, the other repeating as a block of trailing axes (a bias, a batch-norm
  // scale or shift, a scalar): one flat loop, the block's index wrapping.
  if (a.length === out.length && isTrailingBlock(bShape, outShape)) {
    repeatRight(op, a, b, out);
    return;
  }
  if (b.length === out.length && isTrailingBlock(aShape, outShape)) {
    repeatLeft(op, a, b, out);
    return;
  }
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const inner = outShape[rank - 1]!;
  const innerA = sa[rank - 1]!;
  const innerB = sb[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < out.length; o += inner) {
    row(op, a, ia, innerA, b, ib, innerB, out, o, inner);
    for (let ax = rank - 2; ax >= 0; ax--) {
      ia += sa[ax]!;
      ib += sb[ax]!;
      if (++counter[ax]! < outShape[ax]!) break;
      ia -= sa[ax]! * outShape[ax]!;
      ib -= sb[ax]! * outShape[ax]!;
      counter[ax] = 0;
    }
  }
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** cpu; float32 ∘ float32 (any other dtype, or complex numbers, go to the stock kernel). */
export function arithmetic(kernelName: ArithmeticKernel, args: KernelArgs): TensorInfo {
  const a = input(args, 'a', kernelName);
  const b = input(args, 'b', kernelName);
  const ca = cpuArray(args.backend, a);
  const cb = cpuArray(args.backend, b);
  const av = ca?.values;
  const bv = cb?.values;
  const outShape = broadcastShape(a.shape, b.shape);
  if (
    ca === undefined ||
    !(av instanceof Float32Array) ||
    !(bv instanceof Float32Array) ||
    a.dtype !== 'float32' ||
    b.dtype !== 'float32' ||
    outShape === undefined
  ) {
    return runStock(kernelName, 'cpu', args) as TensorInfo;
  }
  const out = new Float32Array(outShape.reduce((p, d) => p * d, 1));
  broadcastInto(OPS[kernelName], av, a.shape, bv, b.shape, out, outShape);
  return ca.backend.makeTensorInfo(outShape, 'float32', out);
}

/** The cpu kernel config of one of Add, Sub, Multiply, RealDiv. */
export function arithmeticConfig(kernelName: ArithmeticKernel): KernelConfig {
  return { kernelName, backendName: 'cpu', kernelFunc: (args) => arithmetic(kernelName, args) };
}
