import { Random } from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import { describe, expect, it } from 'vitest';
import {
  chooseEncoding,
  intTypesForOpset,
  levelValues,
  MAX_LEVELS,
  toLevelTensor,
} from '../src/index.js';

const weights = (n: number, seed = 3) => new Random(seed).normalArray(n, 0, 0.1);
/** Hard values of a plugin on `w` (what a trained layer's Q_1 gives), in level form. */
function levelsOf(id: string, bits: number, w: Float32Array, shape: number[], channel = false) {
  const options = channel ? { granularity: 'channel' as const, shape } : { shape };
  const hard = quantizers.get(id).reference(w, bits, options);
  const t = toLevelTensor(hard, shape, channel ? shape.length - 1 : null, 'test');
  if (!t) throw new Error('too many levels');
  return { t, hard };
}
const opset25 = intTypesForOpset(25);
const opset21 = intTypesForOpset(21);
const opset13 = intTypesForOpset(13);

describe('level tensors', () => {
  it("hold each group's distinct values and every element's index, and give the values back exactly", () => {
    const w = weights(3 * 3 * 4 * 6);
    const { t, hard } = levelsOf('minmax', 2, w, [3, 3, 4, 6], true);
    expect(t.levels).toHaveLength(6);
    for (const l of t.levels) expect(l.length).toBeLessThanOrEqual(4);
    expect(Array.from(levelValues(t))).toEqual(Array.from(hard));
  });

  it('count −0 and +0 as one level', () => {
    const t = toLevelTensor(Float32Array.of(-0, 0, 1), [3], null, 'z')!;
    expect(Array.from(t.levels[0]!)).toEqual([0, 1]);
  });

  it('give up on a group with more distinct values than a byte of codes indexes', () => {
    expect(toLevelTensor(weights(1000), [1000], null, 'float')).toBeNull();
    expect(MAX_LEVELS).toBe(256);
    expect(() => toLevelTensor(Float32Array.of(1, Number.NaN), [2], null, 'conv1/kernel')).toThrow(
      /conv1\/kernel: element 1 is NaN/,
    );
  });
});

describe('chooseEncoding', () => {
  it('writes BWN and TWN as {−1, (0,) 1} · β, in int2 at opset 25, int4 at 21, int8 at 13', () => {
    for (const id of ['bwn', 'twn']) {
      const { t } = levelsOf(id, id === 'bwn' ? 1 : 2, weights(500), [500]);
      const e = chooseEncoding(t.levels, opset25)!;
      expect(e.kind).toBe('symmetric');
      expect(e.type).toBe('int2');
      const beta = Math.max(...t.levels[0]!);
      expect(e.scales[0]).toBe(Math.fround(beta));
      expect(Array.from(e.codes[0]!)).toEqual(id === 'bwn' ? [-1, 1] : [-1, 0, 1]);
      expect(e.relativeError).toBe(0);
      expect(chooseEncoding(t.levels, opset21)!.type).toBe('int4');
      expect(chooseEncoding(t.levels, opset13)!.type).toBe('int8');
    }
  });

  it('writes min-max as lo + code · Δ (uint2 for 2 bits, uint4 for 3–4, uint8 for 5–8), within float32 rounding', () => {
    const w = weights(2000);
    for (const [bits, type] of [
      [1, 'uint2'],
      [2, 'uint2'],
      [3, 'uint4'],
      [4, 'uint4'],
      [6, 'uint8'],
      [8, 'uint8'],
    ] as const) {
      const { t } = levelsOf('minmax', bits, w, [2000]);
      const e = chooseEncoding(t.levels, opset25)!;
      expect(e.kind).toBe('affine');
      expect(e.type).toBe(type);
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const v of w) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(e.offsets[0]).toBe(lo);
      expect(e.scales[0]).toBeCloseTo((hi - lo) / (2 ** bits - 1), 6);
      expect(e.relativeError).toBeLessThan(1e-6);
    }
  });

  it("writes SAWB's levels ±α·{1/3, 1} as uint2 with an offset, and as {±1, ±3} in int8 where both take a byte", () => {
    const { t } = levelsOf('sawb', 2, weights(800), [800]);
    const e25 = chooseEncoding(t.levels, opset25)!;
    expect([e25.kind, e25.type]).toEqual(['affine', 'uint2']);
    const e13 = chooseEncoding(t.levels, opset13)!;
    expect([e13.kind, e13.type]).toEqual(['symmetric', 'int8']);
    expect(Array.from(e13.codes[0]!)).toEqual([-3, -1, 1, 3]);
  });

  it('uses one kind and type for every channel, the widest any channel needs', () => {
    const { t } = levelsOf('minmax', 2, weights(4 * 16), [4, 16], true);
    const e = chooseEncoding(t.levels, opset25)!;
    expect(e.kind).toBe('affine');
    expect(e.scales).toHaveLength(16);
    expect(new Set(e.offsets).size).toBeGreaterThan(1);
  });

  it('keeps non-uniform levels as a lookup table (exact), in the narrowest type of their count', () => {
    const levels = [Float32Array.of(-0.8, -0.2, 0.05, 0.6)];
    const e = chooseEncoding(levels, opset25)!;
    expect([e.kind, e.type, e.relativeError]).toEqual(['table', 'uint2', 0]);
    expect(Array.from(e.codes[0]!)).toEqual([0, 1, 2, 3]);
    const nine = [Float32Array.from({ length: 9 }, (_, k) => 2 ** k)];
    expect(chooseEncoding(nine, opset25)!.type).toBe('uint4');
    expect(chooseEncoding(nine, opset13)!.type).toBe('uint8');
  });

  it('recognises a uniform set with unused levels in between', () => {
    // lo, lo + Δ, lo + 3Δ: level lo + 2Δ is never taken.
    const e = chooseEncoding([Float32Array.of(-0.3, -0.1, 0.3)], opset25)!;
    expect([e.kind, e.type]).toEqual(['affine', 'uint2']);
    expect(Array.from(e.codes[0]!)).toEqual([0, 1, 3]);
  });

  it('has no integer encoding for more than 256 levels (the tensor stays float32)', () => {
    const many = [Float32Array.from({ length: 300 }, (_, k) => Math.sqrt(k))];
    expect(chooseEncoding(many, opset25)).toBeNull();
  });
});
