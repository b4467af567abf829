import type { ModelOp } from '@dqa/models';

/** Little-endian float32 bytes (ONNX raw_data, the packed format's float tensors). */
export function float32Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** Little-endian int32 bytes. */
export function int32Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setInt32(i * 4, values[i]!, true);
  return out;
}

/** Little-endian int64 bytes. */
export function int64Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]!), true);
  return out;
}

/** Reads `count` little-endian float32 values from `bytes` at `offset`. */
export function readFloat32(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + i * 4, true);
  return out;
}

type Typed = Float32Array | Int32Array | Uint8Array;

/** Row-major `src` of `shape`, transposed so that output axis d is input axis `perm[d]`. */
export function permute<T extends Typed>(
  src: T,
  shape: readonly number[],
  perm: readonly number[],
): T {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const idx = new Array<number>(rank).fill(0);
  for (let j = 0; j < src.length; j++) {
    let from = 0;
    for (let d = 0; d < rank; d++) from += idx[d]! * strides[perm[d]!]!;
    out[j] = src[from]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * How a kernel of the model spec (NHWC world: HWIO conv, `[fh, fw, C, multiplier]` depthwise,
 * `[in, out]` dense) becomes ONNX's (NCHW world: OIHW conv, `[C · multiplier, 1, fh, fw]` grouped
 * conv, `[in, out]` MatMul): a transpose by `perm`, then a reshape to `dims`.
 */
export function onnxKernelLayout(
  op: ModelOp,
  shape: readonly number[],
): { perm: number[]; dims: number[] } {
  switch (op) {
    case 'conv2d':
      return { perm: [3, 2, 0, 1], dims: [shape[3]!, shape[2]!, shape[0]!, shape[1]!] };
    case 'depthwiseConv2d':
      return { perm: [2, 3, 0, 1], dims: [shape[2]! * shape[3]!, 1, shape[0]!, shape[1]!] };
    default:
      return { perm: shape.map((_, i) => i), dims: [...shape] };
  }
}

/**
 * The axis of `dims` along which `groups` (one id per element, row-major) are constant across the
 * other axes, with the group of each index along it; null when no axis carries them alone.
 */
export function groupAxis(
  groups: Int32Array,
  dims: readonly number[],
): { axis: number; groupOf: Int32Array } | null {
  const rank = dims.length;
  for (let d = 0; d < rank; d++) {
    const size = dims[d]!;
    const stride = dims.slice(d + 1).reduce((a, n) => a * n, 1);
    const groupOf = new Int32Array(size).fill(-1);
    let ok = true;
    for (let j = 0; j < groups.length && ok; j++) {
      const k = Math.floor(j / stride) % size;
      if (groupOf[k] === -1) groupOf[k] = groups[j]!;
      else if (groupOf[k] !== groups[j]) ok = false;
    }
    if (ok) return { axis: d, groupOf };
  }
  return null;
}
