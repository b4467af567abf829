import { type IntType, type IntTypeInfo, intTypes } from './int-pack.js';

/**
 * How a quantized tensor's levels become ONNX integers:
 * - `symmetric`: value = code · scale, codes signed (BWN's {−1, 1}·β, TWN's {−1, 0, 1}·β), one
 *   DequantizeLinear;
 * - `affine`: value = code · scale + offset, codes unsigned from 0 (min-max's lo + iΔ, SAWB's
 *   −α + iΔ, PACT-like [0, α] sets), a DequantizeLinear then an Add of the offset (min-max's lowest
 *   level is rarely an integer multiple of Δ, so it cannot be DequantizeLinear's zero point);
 * - `table`: codes index the group's exact levels, for level sets that are not uniform (a
 *   Quantization Networks layer, a third-party plugin): the runtime executes a Gather.
 */
export type EncodingKind = 'symmetric' | 'affine' | 'table';

export interface IntegerEncoding {
  readonly kind: EncodingKind;
  readonly type: IntType;
  /** Per group, the integer code of each of its levels (in the order of its levels). */
  readonly codes: readonly Int32Array[];
  /** Per group: value = code · scale (+ offset); 1 for `table`. */
  readonly scales: Float32Array;
  /** Per group, the `affine` offset (0 otherwise). */
  readonly offsets: Float32Array;
  /**
   * The largest |code · scale + offset − level| over all levels, relative to the tensor's largest
   * |level| (0 for `table`, which is exact).
   */
  readonly relativeError: number;
}

/**
 * How far a level may be from its code's value, relative to the group's largest |level|: a few
 * float32 ulps, so that a uniform set computed in float64 and rounded to float32 is recognised as
 * uniform, and nothing coarser is.
 */
export const UNIFORM_TOLERANCE = 1e-6;

interface GroupFit {
  codes: Int32Array;
  scale: number;
  offset: number;
  error: number;
}

const maxAbsOf = (levels: Float32Array) => levels.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The error of value = code · fround(scale) + fround(offset), relative to max |level|. */
function fitError(levels: Float32Array, codes: Int32Array, scale: number, offset: number): number {
  const s = Math.fround(scale);
  const o = Math.fround(offset);
  const m = maxAbsOf(levels);
  let err = 0;
  levels.forEach((v, k) => {
    err = Math.max(err, Math.abs(Math.fround(Math.fround(codes[k]! * s) + o) - v));
  });
  return m > 0 ? err / m : err;
}

/**
 * Levels = code · scale with integer codes in [min, max]: the smallest |level| ≠ 0 is j steps for
 * the first j = 1, 2, … that puts every level on the grid.
 */
function fitSymmetric(levels: Float32Array, range: { min: number; max: number }): GroupFit | null {
  const nonzero = Array.from(levels).filter((v) => v !== 0);
  if (nonzero.length === 0)
    return { codes: new Int32Array(levels.length), scale: 1, offset: 0, error: 0 };
  const smallest = Math.min(...nonzero.map(Math.abs));
  const largest = Math.max(...nonzero.map(Math.abs));
  for (let j = 1; j * (largest / smallest) <= Math.max(-range.min, range.max) + 0.5; j++) {
    const scale = smallest / j;
    const codes = Int32Array.from(levels, (v) => Math.round(v / scale));
    if (codes.some((c) => c < range.min || c > range.max)) continue;
    const error = fitError(levels, codes, scale, 0);
    if (error <= UNIFORM_TOLERANCE) return { codes, scale, offset: 0, error };
  }
  return null;
}

/**
 * Levels = offset + code · scale with codes in [0, max]: offset is the lowest level, and the step
 * the smallest gap divided by the first j = 1, 2, … that puts every level on the grid, then refined
 * as (highest − lowest) / its code.
 */
function fitAffine(levels: Float32Array, max: number): GroupFit | null {
  const lo = levels[0]!;
  if (levels.length === 1) return { codes: new Int32Array(1), scale: 1, offset: lo, error: 0 };
  let gap = Number.POSITIVE_INFINITY;
  for (let k = 1; k < levels.length; k++) gap = Math.min(gap, levels[k]! - levels[k - 1]!);
  const span = levels[levels.length - 1]! - lo;
  for (let j = 1; j * (span / gap) <= max + 0.5; j++) {
    const step = gap / j;
    const codes = Int32Array.from(levels, (v) => Math.round((v - lo) / step));
    const top = codes[codes.length - 1]!;
    if (top > max) continue;
    const scale = span / top;
    const error = fitError(levels, codes, scale, lo);
    if (error <= UNIFORM_TOLERANCE) return { codes, scale, offset: lo, error };
  }
  return null;
}

/** The narrowest of `types` that holds every code, or null. */
function narrowest(
  codes: readonly Int32Array[],
  types: readonly IntTypeInfo[],
  signed: boolean,
): IntTypeInfo | null {
  let min = 0;
  let max = 0;
  for (const c of codes)
    for (const v of c) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  return types.find((t) => t.signed === signed && t.min <= min && t.max >= max) ?? null;
}

/**
 * The narrowest integer encoding of a tensor's level sets (one per group) among `types`, or null
 * when none holds them (more levels than the widest type has codes). Every group uses the same
 * kind and type; on equal widths `symmetric` wins over `affine` (no Add), and both over `table`.
 */
export function chooseEncoding(
  levels: readonly Float32Array[],
  types: readonly IntTypeInfo[],
): IntegerEncoding | null {
  const widest = (signed: boolean) =>
    types.filter((t) => t.signed === signed).sort((a, b) => b.bits - a.bits)[0];
  const candidates: IntegerEncoding[] = [];
  const build = (kind: EncodingKind, fits: (GroupFit | null)[], signed: boolean) => {
    if (fits.some((f) => f === null)) return;
    const ok = fits as GroupFit[];
    const codes = ok.map((f) => f.codes);
    const type = narrowest(codes, types, signed);
    if (!type) return;
    candidates.push({
      kind,
      type: type.type,
      codes,
      scales: Float32Array.from(ok, (f) => f.scale),
      offsets: Float32Array.from(ok, (f) => f.offset),
      relativeError: Math.max(0, ...ok.map((f) => f.error)),
    });
  };
  const signedWidest = widest(true);
  if (signedWidest)
    build(
      'symmetric',
      levels.map((l) => fitSymmetric(l, signedWidest)),
      true,
    );
  const unsignedWidest = widest(false);
  if (unsignedWidest) {
    build(
      'affine',
      levels.map((l) => fitAffine(l, unsignedWidest.max)),
      false,
    );
    build(
      'table',
      levels.map((l) => ({
        codes: Int32Array.from(l, (_, k) => k),
        scale: 1,
        offset: 0,
        error: 0,
      })),
      false,
    );
  }
  const order: EncodingKind[] = ['symmetric', 'affine', 'table'];
  candidates.sort(
    (a, b) =>
      intTypes[a.type].bits - intTypes[b.type].bits ||
      order.indexOf(a.kind) - order.indexOf(b.kind),
  );
  return candidates[0] ?? null;
}
