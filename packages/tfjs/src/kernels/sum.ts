import {
  type KernelConfig,
  Sum,
  type SumAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import {
  cpuArray,
  input,
  type KernelArgs,
  kernelConfig,
  nextRow,
  runHostKernel,
  runStock,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * out[j] = Σ x[i] over the reduced axes, walking x once in order (no transpose first, unlike
 * tfjs' cpu Sum, whose transpose dominates the bias gradients of a conv net), accumulating in
 * float64 as the stock kernel does.
 */
export function sumInto(
  x: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly number[],
  acc: Float64Array,
): void {
  const rank = shape.length;
  if (rank === 0) {
    acc[0] = x[0] ?? 0;
    return;
  }
  if (axes.length > 0 && axes.length < rank && axes.every((a) => a < axes.length)) {
    columnSums(
      x,
      shape.slice(0, axes.length).reduce((p, d) => p * d, 1),
      acc,
    );
    return;
  }
  // Stride of each input axis in the output: 0 along reduced axes.
  const outStep = new Array<number>(rank).fill(0);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    if (!axes.includes(a)) {
      outStep[a] = s;
      s *= shape[a]!;
    }
  }
  const inner = shape[rank - 1]!;
  const innerStep = outStep[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let base = 0;
  const size = x.length;
  for (let i = 0; i < size; ) {
    if (innerStep === 0) {
      let t = 0;
      for (let j = 0; j < inner; j++) t += x[i++]!;
      acc[base] += t;
    } else {
      for (let j = 0, o = base; j < inner; j++, o++) acc[o] += x[i++]!;
    }
    base = nextRow(counter, shape, outStep, base);
  }
}

/**
 * Sums of the columns of a [rows, cols] matrix (a reduction over leading axes: a bias
 * gradient), four columns at a time in registers over blocks of rows that stay in L1.
 */
function columnSums(x: ArrayLike<number>, rows: number, acc: Float64Array): void {
  const cols = acc.length;
  const block = Math.max(1, Math.floor(4096 / cols));
  const c4 = cols - (cols % 4);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    let c = 0;
    for (; c < c4; c += 4) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let r = r0, i = r0 * cols + c; r < r1; r++, i += cols) {
        s0 += x[i]!;
        s1 += x[i + 1]!;
        s2 += x[i + 2]!;
        s3 += x[i + 3]!;
      }
      acc[c] += s0;
      acc[c + 1] += s1;
      acc[c + 2] += s2;
      acc[c + 3] += s3;
    }
    for (; c < cols; c++) {
      let s0 = 0;
      for (let r = r0, i = r0 * cols + c; r < r1; r++, i += cols) s0 += x[i]!;
      acc[c] += s0;
    }
  }
}

/**
 * cpu: float32 and int32 (bool and the rest go to the stock kernel). wasm: float32 reductions
 * over any axes but the trailing ones, which wasm's own Sum does fast; for the others it
 * transposes first (the bias gradients of a conv net, ~5 ms a step on the small CNN).
 */
export function sum(backendName: TrainingBackendName, args: KernelArgs): TensorInfo {
  const x = input(args, 'x', Sum);
  const { axis, keepDims } = args.attrs as unknown as SumAttrs;
  const axes = util.parseAxisParam(axis, x.shape);
  const outShape = x.shape.filter((_, a) => !axes.includes(a));
  const shape = keepDims ? x.shape.map((d, a) => (axes.includes(a) ? 1 : d)) : outShape;
  const backend = args.backend;
  if (backendName === 'wasm') {
    const trailing = axes.every((a) => a >= x.shape.length - axes.length);
    if (x.dtype !== 'float32' || trailing || axes.length === 0) {
      return runStock(Sum, backendName, args) as TensorInfo;
    }
    return runHostKernel(backendName, backend, [x], shape, ([xs], out) => {
      const acc = new Float64Array(out.length);
      sumInto(xs!, x.shape, axes, acc);
      out.set(acc);
    });
  }
  const cpu = cpuArray(backend, x);
  if (cpu === undefined || (x.dtype !== 'float32' && x.dtype !== 'int32')) {
    return runStock(Sum, backendName, args) as TensorInfo;
  }
  const acc = new Float64Array(util.sizeFromShape(outShape));
  sumInto(cpu.values, x.shape, axes, acc);
  const out = x.dtype === 'float32' ? Float32Array.from(acc) : Int32Array.from(acc);
  return cpu.backend.makeTensorInfo(shape, x.dtype, out);
}

export function sumConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(Sum, backendName, sum);
}
