import type { ReduceOp } from '../backend/kernels.js';
import { sizeOf, stridesOf } from '../backend/shape.js';

/** Reference reduction over sorted, unique axes (removed from the result). Sums in float64. */
export function reduce(
  op: ReduceOp,
  x: Float32Array,
  shape: readonly number[],
  axes: readonly number[],
): Float32Array {
  const keep = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outShape = keep.map((i) => shape[i]!);
  const outSize = sizeOf(outShape);
  const init =
    op === 'sum' ? 0 : op === 'max' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  const acc = new Float64Array(outSize).fill(init);
  const nan = new Uint8Array(outSize);
  const outStrides = stridesOf(outShape);
  // Map every input element to its output slot.
  const rank = shape.length;
  const toOut = new Array<number>(rank).fill(0);
  keep.forEach((axis, j) => {
    toOut[axis] = outStrides[j]!;
  });
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (Number.isNaN(v)) nan[o] = 1;
    else if (op === 'sum') acc[o]! += v;
    else if (op === 'max') {
      if (v > acc[o]!) acc[o] = v;
    } else if (v < acc[o]!) acc[o] = v;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      o += toOut[d]!;
      if (idx[d]! < shape[d]!) break;
      o -= toOut[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  const out = new Float32Array(outSize);
  for (let j = 0; j < outSize; j++) out[j] = nan[j] ? Number.NaN : acc[j]!;
  return out;
}
