import { sizeOf, stridesOf } from '../backend/shape.js';

/** Reference transpose: out[idx permuted] = x[idx]. */
export function transpose(
  x: Float32Array,
  shape: readonly number[],
  perm: readonly number[],
): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = stridesOf(shape);
  // Stride into x for each output axis.
  const s = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(sizeOf(shape));
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = x[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += s[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= s[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Reference `op(a) · op(b)`; accumulates in float64. */
export function matMul(
  a: Float32Array,
  aShape: readonly [number, number],
  b: Float32Array,
  bShape: readonly [number, number],
  transposeA: boolean,
  transposeB: boolean,
): Float32Array {
  const m = transposeA ? aShape[1] : aShape[0];
  const k = transposeA ? aShape[0] : aShape[1];
  const n = transposeB ? bShape[0] : bShape[1];
  const aRow = transposeA ? 1 : aShape[1];
  const aCol = transposeA ? aShape[1] : 1;
  const bRow = transposeB ? 1 : bShape[1];
  const bCol = transposeB ? bShape[1] : 1;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += a[i * aRow + p * aCol]! * b[p * bRow + j * bCol]!;
      out[i * n + j] = acc;
    }
  }
  return out;
}
