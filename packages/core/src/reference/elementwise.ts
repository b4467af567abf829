import type { BinaryOp, UnaryOp } from '../backend/kernels.js';
import { sizeOf, stridesOf } from '../backend/shape.js';

/** Plain float32 reference implementations of the elementwise ops (NumPy broadcasting). */

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
  pow: (a, b) => a ** b,
  greater: (a, b) => (a > b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  lessEqual: (a, b) => (a <= b ? 1 : 0),
  equal: (a, b) => (a === b ? 1 : 0),
};

const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  floor: Math.floor,
  step: (x) => (x > 0 ? 1 : 0),
};

/**
 * For each operand, the offset into its data of every output element, under broadcasting.
 * Returns strides of the operand aligned to the output rank, 0 on broadcast axes.
 */
function alignedStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const s = stridesOf(inShape);
  const out = new Array<number>(outShape.length).fill(0);
  const offset = outShape.length - inShape.length;
  for (let i = 0; i < inShape.length; i++) out[i + offset] = inShape[i] === 1 ? 0 : s[i]!;
  return out;
}

/** Calls `visit(outIndex, offsets…)` for every output element in row-major order. */
function forEachBroadcast(
  outShape: readonly number[],
  inShapes: readonly (readonly number[])[],
  visit: (o: number, offsets: number[]) => void,
): void {
  const size = sizeOf(outShape);
  const rank = outShape.length;
  const strides = inShapes.map((s) => alignedStrides(s, outShape));
  const idx = new Array<number>(rank).fill(0);
  const offsets = new Array<number>(inShapes.length).fill(0);
  for (let o = 0; o < size; o++) {
    visit(o, offsets);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < offsets.length; k++) offsets[k]! += strides[k]![d]!;
      if (idx[d]! < outShape[d]!) break;
      for (let k = 0; k < offsets.length; k++) offsets[k]! -= strides[k]![d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function binary(
  op: BinaryOp,
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
  outShape: readonly number[],
): Float32Array {
  const f = binaryFns[op];
  const out = new Float32Array(sizeOf(outShape));
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape)) {
    for (let i = 0; i < out.length; i++) out[i] = f(a[i]!, b[i]!);
  } else if (sameShape(aShape, outShape) && b.length === 1) {
    const bv = b[0]!;
    for (let i = 0; i < out.length; i++) out[i] = f(a[i]!, bv);
  } else {
    forEachBroadcast(outShape, [aShape, bShape], (o, off) => {
      out[o] = f(a[off[0]!]!, b[off[1]!]!);
    });
  }
  return out;
}

export function unary(op: UnaryOp, x: Float32Array): Float32Array {
  const f = unaryFns[op];
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
  return out;
}

export function clip(x: Float32Array, lo: number, hi: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    out[i] = v < lo ? lo : Math.min(v, hi);
  }
  return out;
}

export function where(
  cond: Float32Array,
  condShape: readonly number[],
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
  outShape: readonly number[],
): Float32Array {
  const out = new Float32Array(sizeOf(outShape));
  forEachBroadcast(outShape, [condShape, aShape, bShape], (o, off) => {
    out[o] = cond[off[0]!] !== 0 ? a[off[1]!]! : b[off[2]!]!;
  });
  return out;
}
