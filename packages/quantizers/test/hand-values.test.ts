import { describe, expect, it } from 'vitest';
import { quantizers } from '../src/index.js';

const q = (id: string, x: number[], bits: number, params?: Record<string, number>) =>
  Array.from(
    quantizers.get(id).reference(Float32Array.from(x), bits, params ? { params } : undefined),
  );

const f32 = (v: number[]) => Array.from(Float32Array.from(v));

describe('values computed by hand from the equations', () => {
  it('minmax 2-bit (eq. 10, 13): levels -1, 0, 1, 2 from min -1 and max 2', () => {
    // Δ = (2 − (−1)) / 3 = 1; nearest level of each value (ties go up).
    expect(q('minmax', [-1, -0.4, 0.5, 0.51, 1.49, 2], 2)).toEqual(f32([-1, 0, 1, 1, 1, 2]));
  });

  it('minmax 1-bit keeps only min and max', () => {
    // Δ = 4; values below the midpoint 1 go to −1, others to 3.
    expect(q('minmax', [-1, 0.9, 1.1, 3], 1)).toEqual(f32([-1, -1, 3, 3]));
  });

  it('minmax 3-bit on [0, 7] is the identity on integers and rounds between them', () => {
    expect(q('minmax', [0, 1, 2.4, 2.6, 7], 3)).toEqual(f32([0, 1, 2, 3, 7]));
  });

  it('sawb 1-bit: α* = E|x| (the binary MSE optimum)', () => {
    // levels ±α; the MSE is minimised at α = mean |x| = (1 + 2 + 3 + 6) / 4 = 3.
    expect(q('sawb', [-1, 2, -3, 6], 1)).toEqual(f32([-3, 3, -3, 3]));
  });

  it('sawb 2-bit: α* found exactly for a small tensor', () => {
    // x = ±0.5, ±1.5, ±2.5; levels ±α/3, ±α, decision threshold 2α/3. Candidate assignments
    // (per sign): {0.5, 1.5 → α/3; 2.5 → α}: α = A/B = (2/3 + 2.5)/(2/9 + 1) = 2.591, MSE·3 = 0.545;
    // {0.5 → α/3; 1.5, 2.5 → α}: α = (1/6 + 4)/(1/9 + 2) = 75/38 = 1.974 (consistent: 2α/3 = 1.32),
    // MSE·3 = 0.526; all → α/3: α = 4.5, MSE·3 = 2. The optimum is α* = 75/38.
    const out = q('sawb', [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], 2);
    expect(out).toEqual(f32([-75 / 38, -75 / 38, -25 / 38, 25 / 38, 75 / 38, 75 / 38]));
  });

  it('bwn (eq. 14): β = E|x|, sign(0) = +1', () => {
    // E|x| = (2 + 0 + 1 + 1) / 4 = 1.
    expect(q('bwn', [-2, 0, 1, -1], 1)).toEqual(f32([-1, 1, 1, -1]));
  });

  it('twn (eq. 15): δ = 0.7·E|x|, β = mean of |x| above δ', () => {
    // E|x| = (3 + 1 + 0.5 + 2 + 0) / 5 = 1.3 → δ = 0.91; |x| > δ: 3, 1, 2 → β = 2.
    expect(q('twn', [-3, 1, 0.5, 2, 0], 2)).toEqual(f32([-2, 2, 0, 2, 0]));
  });

  it('twn: values at or below δ in magnitude become 0', () => {
    // E|x| = (1 + 1 + 3 + 3 + 0) / 5 = 1.6 → δ = 1.12; only ±3 exceed it → β = 3.
    expect(q('twn', [-1, 1, 3, -3, 0], 2)).toEqual(f32([0, 0, 3, -3, 0]));
  });

  it('pact 2-bit with α = 3: clip to [0, 3], levels 0, 1, 2, 3', () => {
    expect(q('pact', [-1, 0.4, 0.6, 1.5, 2.9, 7], 2, { alpha: 3 })).toEqual(
      f32([0, 0, 1, 2, 3, 3]),
    );
  });

  it('pact gradient: straight through inside [0, α), dα = Σ dy over x ≥ α', () => {
    const g = quantizers
      .get('pact')
      .referenceGrad(
        Float32Array.from([-1, 0.5, 2.9, 3, 7]),
        2,
        Float32Array.from([1, 2, 3, 4, 5]),
        { params: { alpha: 3 } },
      );
    expect(Array.from(g.dx)).toEqual([0, 2, 3, 0, 0]);
    expect(g.params?.alpha).toBe(9);
  });

  it('fp is the identity', () => {
    expect(q('fp', [-1.25, 0, 3.5], 32)).toEqual([-1.25, 0, 3.5]);
  });
});
