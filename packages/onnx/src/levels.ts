import { ArgumentError, formatShape } from '@dqa/core';

/** Most distinct values a group may hold to be stored as codes (one byte a code at most). */
export const MAX_LEVELS = 256;

/**
 * A hard-quantized tensor as it really is: per calibration group (the whole tensor, or one slice
 * per channel along `axis`), the ascending list of the distinct float32 values it takes (its
 * levels, exact), and per element the index of its value in its group's list. Every export format
 * starts from this: the packed format stores it as it is; the ONNX writer turns each group's
 * levels into integer codes with a scale (and offset), or keeps the table for a lookup.
 */
export interface LevelTensor {
  readonly shape: readonly number[];
  /** The axis whose index picks an element's group, or null: one group. */
  readonly axis: number | null;
  /** Per element (row-major), the index of its value in its group's `levels`. */
  readonly indices: Uint8Array;
  /** Per group, its distinct values, ascending. */
  readonly levels: readonly Float32Array[];
}

const sizeOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

/** Number of groups and the group of flat element i, for `shape` grouped along `axis`. */
export function groupsOf(
  shape: readonly number[],
  axis: number | null,
): { count: number; of: (i: number) => number } {
  if (axis === null) return { count: 1, of: () => 0 };
  if (!(Number.isInteger(axis) && axis >= 0 && axis < shape.length))
    throw new ArgumentError(`axis ${axis} is out of range for shape ${formatShape(shape)}`);
  const count = shape[axis]!;
  const stride = sizeOf(shape.slice(axis + 1));
  return { count, of: (i) => Math.floor(i / stride) % count };
}

/**
 * The level form of `values` (shape `shape`, grouped along `axis`), or null when a group takes more
 * than `MAX_LEVELS` distinct values (a float or more-than-8-bit tensor). −0 and +0 count as one
 * level (+0). `what` names the tensor in errors.
 */
export function toLevelTensor(
  values: Float32Array,
  shape: readonly number[],
  axis: number | null,
  what: string,
): LevelTensor | null {
  if (sizeOf(shape) !== values.length)
    throw new ArgumentError(
      `${what}: shape ${formatShape(shape)} holds ${sizeOf(shape)} values, got ${values.length}`,
    );
  const g = groupsOf(shape, axis);
  const sets = Array.from({ length: g.count }, () => new Set<number>());
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v))
      throw new ArgumentError(`${what}: element ${i} is ${v}; a trained model has finite weights`);
    const set = sets[g.of(i)]!;
    if (set.size < MAX_LEVELS || set.has(v)) set.add(v);
    else return null;
  }
  const levels = sets.map((s) => Float32Array.from(s, (v) => (v === 0 ? 0 : v)).sort());
  const maps = levels.map((l) => new Map(Array.from(l, (v, k) => [v, k])));
  const indices = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) indices[i] = maps[g.of(i)]!.get(values[i]!)!;
  return { shape: [...shape], axis, indices, levels };
}

/** The float32 values of a level tensor (exactly the values it was made from, −0 read as +0). */
export function levelValues(t: LevelTensor): Float32Array {
  const g = groupsOf(t.shape, t.axis);
  const out = new Float32Array(t.indices.length);
  for (let i = 0; i < out.length; i++) out[i] = t.levels[g.of(i)]![t.indices[i]!]!;
  return out;
}

/** Bits a code needs to index `count` levels (at least 1). */
export function indexBits(count: number): number {
  return Math.max(1, Math.ceil(Math.log2(Math.max(count, 1))));
}
