import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  attention,
  binaryRelaxMix,
  binaryRelaxOmega,
  binaryRelaxOmegaScaled,
  binaryRelaxWeights,
  defaultPenalty,
  dqaRegularizer,
  initialAlpha,
  normalizeAlpha,
  populationStd,
  softmax,
} from '../src/index.js';

/** Element-wise `toBeCloseTo` with a readable failure. */
function expectAllClose(got: readonly number[], want: readonly number[], digits = 12): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => {
    expect(g, `element ${i}`).toBeCloseTo(want[i]!, digits);
  });
}

const sum = (v: readonly number[]) => v.reduce((s, x) => s + x, 0);

describe('initialAlpha (eq. 7: α_k = Σ_{j≠k} n_j / Σ_j n_j)', () => {
  it('gives [12/14, 10/14, 6/14] for the paper’s 2/4/8-bit mixture', () => {
    // Σn = 14; α_1 = (4 + 8)/14, α_2 = (2 + 8)/14, α_3 = (2 + 4)/14.
    expectAllClose(initialAlpha([2, 4, 8]), [12 / 14, 10 / 14, 6 / 14], 15);
  });

  it('gives [34/35, 33/35, 3/35] for BWN/TWN/FP counted as 1/2/32 bit', () => {
    // Σn = 35; α = (35 − n_k)/35.
    expectAllClose(initialAlpha([1, 2, 32]), [34 / 35, 33 / 35, 3 / 35], 15);
  });

  it('assigns the highest attention to the lowest bitwidth (the low-bit prior)', () => {
    const a = initialAlpha([1, 2, 4, 8, 16]);
    for (let k = 1; k < a.length; k++) expect(a[k]!).toBeLessThan(a[k - 1]!);
    // Σ_k α_k = (K − 1)·Σn / Σn = K − 1.
    expect(sum(a)).toBeCloseTo(4, 14);
  });

  it('gives α = [0] for K = 1 (Σ_{j≠1} is empty)', () => {
    expect(initialAlpha([4])).toEqual([0]);
  });

  it('rejects an empty list and non-positive or non-finite bitwidths', () => {
    expect(() => initialAlpha([])).toThrow(ArgumentError);
    expect(() => initialAlpha([])).toThrow(/K ≥ 1/);
    expect(() => initialAlpha([2, 0, 8])).toThrow(/bitwidths must be positive, got 0/);
    expect(() => initialAlpha([-2, 4])).toThrow(/got -2/);
    expect(() => initialAlpha([2, Number.NaN])).toThrow(/got NaN/);
    expect(() => initialAlpha([2, Number.POSITIVE_INFINITY])).toThrow(ArgumentError);
    try {
      initialAlpha([]);
      expect.unreachable();
    } catch (e) {
      expect((e as ArgumentError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('populationStd', () => {
  it('divides by K, not K − 1', () => {
    // mean 2, Σ(v − mean)² = 1 + 0 + 1 = 2 → variance 2/3 (a sample std would give 1).
    expect(populationStd([1, 2, 3])).toBeCloseTo(Math.sqrt(2 / 3), 15);
    // mean 5, Σ(v − mean)² = 9+1+1+1+0+0+4+16 = 32 → variance 32/8 = 4 → std 2.
    expect(populationStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2, 15);
  });

  it('is 0 for constant values, a single value and the empty list', () => {
    expect(populationStd([3, 3, 3])).toBe(0);
    expect(populationStd([7])).toBe(0);
    expect(populationStd([])).toBe(0);
  });

  it('is invariant to shifts and scales with |c|', () => {
    const v = [0.3, -1.2, 4.5, 2];
    expect(populationStd(v.map((x) => x + 10))).toBeCloseTo(populationStd(v), 12);
    expect(populationStd(v.map((x) => -3 * x))).toBeCloseTo(3 * populationStd(v), 12);
  });
});

describe('normalizeAlpha (Algorithm 1: α ← α / std(α))', () => {
  it('divides by the population std without centring', () => {
    const s = Math.sqrt(2 / 3);
    expectAllClose(normalizeAlpha([1, 2, 3]), [1 / s, 2 / s, 3 / s], 14);
  });

  it('yields a vector with std 1 and is idempotent', () => {
    const once = normalizeAlpha([12 / 14, 10 / 14, 6 / 14]);
    expect(populationStd(once)).toBeCloseTo(1, 14);
    expectAllClose(normalizeAlpha(once), once, 14);
  });

  it('returns α unchanged (a copy) when std = 0', () => {
    const alpha = [0.5, 0.5, 0.5];
    const out = normalizeAlpha(alpha);
    expect(out).toEqual([0.5, 0.5, 0.5]);
    expect(out).not.toBe(alpha);
    expect(normalizeAlpha([2])).toEqual([2]);
  });
});

describe('softmax', () => {
  it('matches exp(x_i)/Σ exp(x_j) by hand', () => {
    // [0, ln 2, ln 3] → [1, 2, 3]/6.
    expectAllClose(softmax([0, Math.log(2), Math.log(3)]), [1 / 6, 2 / 6, 3 / 6], 15);
  });

  it('is stable for large logits (no Infinity/NaN) and shift invariant', () => {
    const big = softmax([1000, 1001, 1002]);
    const small = softmax([0, 1, 2]);
    for (const v of big) expect(Number.isFinite(v)).toBe(true);
    expectAllClose(big, small, 14);
    const neg = softmax([-1000, -1000]);
    expectAllClose(neg, [0.5, 0.5], 15);
    // Extreme gap: all mass on the maximum.
    expectAllClose(softmax([1e6, 0]), [1, 0], 15);
  });
});

describe('attention (eq. 4 after normalisation: a = softmax((α / std α) / T))', () => {
  it('matches a hand-computed case', () => {
    // α = [1, 2, 3]: std = √(2/3), α/std = [1, 2, 3]·√1.5. Shifting by the first entry,
    // a ∝ [1, e^{√1.5}, e^{2√1.5}] at T = 1.
    const r = Math.sqrt(1.5);
    const e = [1, Math.exp(r), Math.exp(2 * r)];
    const want = e.map((v) => v / sum(e));
    const a = attention([1, 2, 3], 1);
    expectAllClose(a, want, 14);
    // The same numbers written out, so a wrong formula cannot agree with itself.
    expectAllClose(a, [0.0625557806634562, 0.21289594404174725, 0.7245482752947965], 12);
  });

  it('divides by T after normalising', () => {
    // At T = 2 the normalised logits are halved: a ∝ [1, e^{√1.5/2}, e^{√1.5}].
    const r = Math.sqrt(1.5) / 2;
    const e = [1, Math.exp(r), Math.exp(2 * r)];
    expectAllClose(
      attention([1, 2, 3], 2),
      e.map((v) => v / sum(e)),
      14,
    );
  });

  it('does not depend on the scale of α (normalisation), only on its shape', () => {
    expectAllClose(attention([1, 2, 3], 0.7), attention([10, 20, 30], 0.7), 13);
  });

  it('sums to 1 with every entry in [0, 1]', () => {
    for (const T of [100, 1, 0.03]) {
      const a = attention(initialAlpha([2, 4, 8]), T);
      expect(sum(a)).toBeCloseTo(1, 14);
      for (const v of a) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
  });

  it('concentrates on argmax α as T → 0 (the final low-bit quantizer)', () => {
    const a = attention(initialAlpha([2, 4, 8]), 0.03);
    // α_1 is largest; normalised gaps are ≥ 0.5 std, divided by 0.03 → e^{-16} or less.
    expect(a[0]!).toBeGreaterThan(1 - 1e-6);
    expect(a[1]!).toBeLessThan(1e-6);
    expect(a[2]!).toBeLessThan(1e-6);
  });

  it('is near uniform for large T (the even mixture at the start)', () => {
    const a = attention(initialAlpha([2, 4, 8]), 1e6);
    for (const v of a) expect(v).toBeCloseTo(1 / 3, 5);
    // At the paper’s T(0) = 100 the mixture is already within 1% of uniform.
    for (const v of attention(initialAlpha([2, 4, 8]), 100))
      expect(Math.abs(v - 1 / 3)).toBeLessThan(0.01);
  });

  it('is uniform when all α are equal (std = 0) and for K = 1', () => {
    expectAllClose(attention([0.4, 0.4, 0.4, 0.4], 0.01), [0.25, 0.25, 0.25, 0.25], 15);
    expect(attention([5], 1)).toEqual([1]);
  });

  it('rejects T ≤ 0, non-finite T and an empty α', () => {
    expect(() => attention([1, 2], 0)).toThrow(/temperature must be positive and finite, got 0/);
    expect(() => attention([1, 2], -1)).toThrow(ArgumentError);
    expect(() => attention([1, 2], Number.NaN)).toThrow(ArgumentError);
    expect(() => attention([1, 2], Number.POSITIVE_INFINITY)).toThrow(ArgumentError);
    expect(() => attention([], 1)).toThrow(/α is empty \(K = 0\)/);
  });
});

describe('dqaRegularizer (eq. 6: r = λ·gᵀa / S)', () => {
  it('matches a hand-computed value', () => {
    // gᵀa = 1·0.5 + 4·0.3 + 16·0.2 = 0.5 + 1.2 + 3.2 = 4.9; λ = 2, S = 100 → 0.098.
    expect(dqaRegularizer([0.5, 0.3, 0.2], [1, 4, 16], 2, 100)).toBeCloseTo(0.098, 15);
  });

  it('is linear in λ, inversely proportional to S and 0 for λ = 0', () => {
    const a = [0.2, 0.3, 0.5];
    const g = [1, 4, 16];
    const r = dqaRegularizer(a, g, 1, 1);
    // 0.2 + 1.2 + 8 = 9.4
    expect(r).toBeCloseTo(9.4, 14);
    expect(dqaRegularizer(a, g, 3, 1)).toBeCloseTo(3 * r, 13);
    expect(dqaRegularizer(a, g, 1, 1000)).toBeCloseTo(r / 1000, 15);
    expect(dqaRegularizer(a, g, 0, 10)).toBe(0);
  });

  it('penalises attention on high bitwidths more than on low ones', () => {
    const g = defaultPenalty(3);
    expect(dqaRegularizer([1, 0, 0], g, 1, 1)).toBe(1);
    expect(dqaRegularizer([0, 0, 1], g, 1, 1)).toBe(16);
  });

  it('rejects length mismatches and S ≤ 0', () => {
    expect(() => dqaRegularizer([0.5, 0.5], [1, 4, 16], 1, 10)).toThrow(
      /attention has 2 entries but the penalty g has 3/,
    );
    expect(() => dqaRegularizer([1], [1], 1, 0)).toThrow(/S .* must be positive, got 0/);
    expect(() => dqaRegularizer([1], [1], 1, -5)).toThrow(ArgumentError);
    expect(() => dqaRegularizer([1], [1], 1, Number.NaN)).toThrow(ArgumentError);
  });
});

describe('defaultPenalty (g_k = 4^(k−1))', () => {
  it('is the paper’s [1, 4, 16] for K = 3 and generalises', () => {
    expect(defaultPenalty(3)).toEqual([1, 4, 16]);
    expect(defaultPenalty(1)).toEqual([1]);
    expect(defaultPenalty(5)).toEqual([1, 4, 16, 64, 256]);
    expect(defaultPenalty(0)).toEqual([]);
  });
});

describe('Binary-Relax mixing (eq. 8)', () => {
  it('binaryRelaxOmega is 1.02^epoch', () => {
    expect(binaryRelaxOmega(0)).toBe(1);
    expect(binaryRelaxOmega(1)).toBeCloseTo(1.02, 15);
    expect(binaryRelaxOmega(10)).toBeCloseTo(1.2189944199947573, 14);
    expect(binaryRelaxOmega(2, 1.5)).toBeCloseTo(2.25, 15);
    expect(() => binaryRelaxOmega(-1)).toThrow(/epoch must be ≥ 0, got -1/);
    expect(() => binaryRelaxOmega(Number.NaN)).toThrow(ArgumentError);
  });

  it('binaryRelaxWeights(0, 3) is the even mixture', () => {
    // ω = 1: [1, 1, 1] / (1 + 3 − 1).
    expectAllClose(binaryRelaxWeights(0, 3), [1 / 3, 1 / 3, 1 / 3], 15);
  });

  it('binaryRelaxWeights(10, 2) is [ω, 1]/(ω + 1) with ω = 1.02^10', () => {
    const w = 1.02 ** 10;
    const got = binaryRelaxWeights(10, 2);
    expectAllClose(got, [w / (w + 1), 1 / (w + 1)], 15);
    // ω ≈ 1.218994 → ≈ [0.5493454, 0.4506546].
    expect(got[0]!).toBeCloseTo(0.5493454, 7);
    expect(sum(got)).toBeCloseTo(1, 15);
  });

  it('binaryRelaxMix puts ω on Q_1 and 1 on the others', () => {
    // ω = 6, K = 4: denominators 6 + 3 = 9.
    expectAllClose(binaryRelaxMix(6, 4), [6 / 9, 1 / 9, 1 / 9, 1 / 9], 15);
  });

  it('binaryRelaxOmegaScaled(1) = 1.02^300 and ends at ≈ 99.48% on Q_1 for K = 3', () => {
    expect(binaryRelaxOmegaScaled(0)).toBe(1);
    expect(binaryRelaxOmegaScaled(1)).toBeCloseTo(1.02 ** 300, 9);
    expect(binaryRelaxOmegaScaled(1)).toBeCloseTo(380.2345, 3);
    expect(binaryRelaxOmegaScaled(0.5)).toBeCloseTo(1.02 ** 150, 10);
    expect(binaryRelaxOmegaScaled(1, 1.1, 10)).toBeCloseTo(1.1 ** 10, 12);
    const end = binaryRelaxMix(binaryRelaxOmegaScaled(1), 3);
    expect(end[0]!).toBeCloseTo(0.9948, 4);
    expect(end[0]!).toBeCloseTo(0.9947676100461394, 12);
    expect(end[1]!).toBeCloseTo(end[2]!, 15);
  });

  it('rejects K < 2 or fractional K, and t outside [0, 1]', () => {
    expect(() => binaryRelaxWeights(0, 1)).toThrow(/needs K ≥ 2 .* got K = 1/);
    expect(() => binaryRelaxMix(2, 0)).toThrow(ArgumentError);
    expect(() => binaryRelaxMix(2, 2.5)).toThrow(ArgumentError);
    expect(() => binaryRelaxOmegaScaled(-0.01)).toThrow(/t must be in \[0, 1\], got -0.01/);
    expect(() => binaryRelaxOmegaScaled(1.01)).toThrow(ArgumentError);
    expect(() => binaryRelaxOmegaScaled(Number.NaN)).toThrow(ArgumentError);
  });
});
