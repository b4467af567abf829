import { ArgumentError } from '../errors.js';

/**
 * The pure math of DQA (Section 3 and 4.1 of the paper), on plain numbers. Backends apply the same
 * formulas to tensors in `relaxation/dqa.ts`; these functions are the reference for both.
 */

function checkBits(bits: readonly number[], where: string): void {
  if (bits.length === 0)
    throw new ArgumentError(`${where}: needs at least one bitwidth (K ≥ 1), got []`);
  for (const n of bits) {
    if (!(Number.isFinite(n) && n > 0))
      throw new ArgumentError(`${where}: bitwidths must be positive, got ${n}`);
  }
}

/**
 * Eq. 7: α_k = Σ_{j≠k} n_j / Σ_j n_j. With bitwidths sorted ascending this gives the highest
 * initial attention to the lowest bitwidth, a prior towards low-bit networks.
 * `initialAlpha([2, 4, 8])` = [12/14, 10/14, 6/14].
 */
export function initialAlpha(bits: number[]): number[] {
  checkBits(bits, 'initialAlpha');
  const total = bits.reduce((s, n) => s + n, 0);
  return bits.map((n) => (total - n) / total);
}

/**
 * Population standard deviation (divided by K, not K − 1), the `std` of Algorithm 1.
 */
export function populationStd(values: readonly number[]): number {
  const k = values.length;
  if (k === 0) return 0;
  const mean = values.reduce((s, v) => s + v, 0) / k;
  const variance = values.reduce((s, v) => s + (v - mean) * (v - mean), 0) / k;
  return Math.sqrt(variance);
}

/**
 * Algorithm 1's normalisation α ← α / std(α), with the population standard deviation. When all
 * α_k are equal (std = 0, e.g. K = 1) the softmax does not depend on α's scale, so α is returned
 * unchanged instead of dividing by zero.
 */
export function normalizeAlpha(alpha: readonly number[]): number[] {
  const s = populationStd(alpha);
  if (!(s > 0)) return [...alpha];
  return alpha.map((v) => v / s);
}

/** Numerically stable softmax of `logits`. */
export function softmax(logits: readonly number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/**
 * Eq. 4 after Algorithm 1's normalisation: a = softmax((α / std(α)) / T), where std is the
 * population standard deviation (divided by K). T must be positive.
 */
export function attention(alpha: number[], T: number): number[] {
  if (alpha.length === 0) throw new ArgumentError('attention: α is empty (K = 0)');
  if (!(T > 0) || !Number.isFinite(T))
    throw new ArgumentError(`attention: temperature must be positive and finite, got ${T}`);
  return softmax(normalizeAlpha(alpha).map((v) => v / T));
}

/**
 * Eq. 6: r(α) = λ · gᵀa / S for one layer, with S the number of weights in the whole network.
 */
export function dqaRegularizer(a: number[], g: number[], lambda: number, S: number): number {
  if (a.length !== g.length) {
    throw new ArgumentError(
      `dqaRegularizer: attention has ${a.length} entries but the penalty g has ${g.length}`,
    );
  }
  if (!(S > 0))
    throw new ArgumentError(
      `dqaRegularizer: S (the network's weight count) must be positive, got ${S}`,
    );
  let dot = 0;
  for (let k = 0; k < a.length; k++) dot += g[k]! * a[k]!;
  return (lambda * dot) / S;
}

/** The paper's penalty g = [1, 4, 16] generalised to K quantizers: g_k = 4^(k−1). */
export function defaultPenalty(K: number): number[] {
  return Array.from({ length: K }, (_, k) => 4 ** k);
}
