import { ArgumentError } from '../errors.js';

/**
 * Binary-Relax's mixing (eq. 8): q = (ω·Q_1 + Q_2 + … + Q_K) / (ω + K − 1), ω growing each epoch,
 * so training moves from the even mixture to the low-bit Q_1. K = 2 with Q_2 = FP is the original
 * quantized/full-precision pair of Yin et al. (2018).
 */

/** The paper's literal rule: ω starts at 1 and is multiplied by `growth` (1.02) after each epoch. */
export function binaryRelaxOmega(epoch: number, growth = 1.02): number {
  if (!(epoch >= 0)) throw new ArgumentError(`binaryRelaxOmega: epoch must be ≥ 0, got ${epoch}`);
  return growth ** epoch;
}

/**
 * The `scaled` rule for runs much shorter than the paper's 300 epochs: ω = growth^(refEpochs · t),
 * with t ∈ [0, 1] the fraction of training done, so the mixture ends where 300 epochs would
 * (ω ≈ 380, ≈ 99.5% on Q_1 for K = 3) whatever the run's length.
 */
export function binaryRelaxOmegaScaled(t: number, growth = 1.02, refEpochs = 300): number {
  if (!(t >= 0 && t <= 1))
    throw new ArgumentError(`binaryRelaxOmegaScaled: fraction t must be in [0, 1], got ${t}`);
  return growth ** (refEpochs * t);
}

/** Mixing weights for a given ω: [ω, 1, …, 1] / (ω + K − 1). */
export function binaryRelaxMix(omega: number, K: number): number[] {
  if (!(Number.isInteger(K) && K >= 2)) {
    throw new ArgumentError(
      `binaryRelax: needs K ≥ 2 quantizers (the low-bit one first), got K = ${K}`,
    );
  }
  const denom = omega + K - 1;
  return Array.from({ length: K }, (_, k) => (k === 0 ? omega : 1) / denom);
}

/** Eq. 8's mixing weights at `epoch` with the literal ω = 1.02^epoch. */
export function binaryRelaxWeights(epoch: number, K: number): number[] {
  return binaryRelaxMix(binaryRelaxOmega(epoch), K);
}
