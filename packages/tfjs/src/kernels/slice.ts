import {
  type KernelConfig,
  Slice,
  type SliceAttrs,
  slice_util,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  cpuArray,
  input,
  type KernelArgs,
  nextRow,
  rowMajorStrides,
  runStock,
  type TypedArray,
  typedArrayFor,
} from './kernel-util.js';

/**
 * dst = src[begin : begin + size], copying contiguous runs of the last axis. tfjs' cpu Slice
 * reads every element of a non-contiguous slice through index arithmetic (≈ 3 s a step when our
 * conv gradients cropped activations in a cpu ResNet-20).
 */
export function sliceInto(
  src: TypedArray,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  dst: TypedArray,
): void {
  const rank = shape.length;
  if (dst.length === 0) return;
  if (rank === 0) {
    dst[0] = src[0]!;
    return;
  }
  const strides = rowMajorStrides(shape);
  const inner = size[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let s = begin.reduce((off, b, a) => off + b * strides[a]!, 0);
  for (let o = 0; o < dst.length; o += inner) {
    dst.set(src.subarray(s, s + inner), o);
    s = nextRow(counter, size, strides, s);
  }
}

/** cpu only: its tensors are typed arrays (strings go to the stock kernel). */
export function slice(args: KernelArgs): TensorInfo {
  const x = input(args, 'x', Slice);
  const attrs = args.attrs as unknown as SliceAttrs;
  const cpu = cpuArray(args.backend, x);
  if (cpu === undefined) return runStock(Slice, 'cpu', args) as TensorInfo;
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin, attrs.size) as [
    number[],
    number[],
  ];
  slice_util.assertParamsValid(x, begin, size);
  const out = typedArrayFor(
    x.dtype,
    size.reduce((p, d) => p * d, 1),
  );
  sliceInto(cpu.values, x.shape, begin, size, out);
  return cpu.backend.makeTensorInfo(size, x.dtype, out);
}

export function sliceConfig(): KernelConfig {
  return { kernelName: Slice, backendName: 'cpu', kernelFunc: slice };
}
