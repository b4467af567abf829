import type { Backend, Tensor } from '@dqa/core';

/**
 * Uniform level sets, shared by min-max, SAWB and PACT: L levels lo, lo + Δ, …, lo + (L−1)Δ and
 * the nearest-level quantizer of eq. 9/13, Q(x) = lo + Δ·clamp(⌊(x − lo)/Δ + ½⌋, 0, L − 1).
 * Rounding is `floor(v + 0.5)` (ties up) on every backend, so backends agree with the reference.
 * Δ = 0 (a constant tensor) maps everything to lo.
 */

/** Nearest-level code in [0, L−1] (plain numbers). */
export function uniformCode(x: number, lo: number, step: number, levels: number): number {
  if (!(step > 0)) return 0;
  const c = Math.floor((x - lo) / step + 0.5);
  return Math.min(Math.max(c, 0), levels - 1);
}

/** The level values lo + iΔ. */
export function uniformLevels(lo: number, step: number, levels: number): Float32Array {
  if (!(step > 0)) return Float32Array.of(lo);
  return Float32Array.from({ length: levels }, (_, i) => lo + i * step);
}

/** Backend version of the uniform quantizer; `lo` and `step` broadcast against x. */
export function uniformQuantize(
  b: Backend,
  x: Tensor,
  lo: Tensor,
  step: Tensor,
  levels: number,
): Tensor {
  return b.tidy(() => {
    const safe = b.where(b.greater(step, 0), step, 1);
    const code = b.clip(b.floor(b.add(b.div(b.sub(x, lo), safe), 0.5)), 0, levels - 1);
    return b.add(b.mul(code, step), lo);
  });
}
