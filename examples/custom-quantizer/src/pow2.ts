import {
  assertFinite,
  type Backend,
  defineQuantizer,
  type QuantizeContext,
  straightThrough,
  straightThroughReferenceGrad,
  type Tensor,
} from '@dqa/core';

/**
 * A power-of-two (logarithmic) weight quantizer, written as a third party would: one file that
 * depends on @dqa/core only. n bits = 1 sign bit + (n − 1) exponent bits: the 2ⁿ levels are
 * ±s·2^(−k), k = 0 … 2ⁿ⁻¹ − 1, with s = max|x|; |x| is rounded to the nearest level in the log
 * domain (multiplications by these weights become shifts). Gradient: straight-through.
 */
export const pow2 = defineQuantizer({
  id: 'pow2',
  description: 'power-of-two levels ±max|x|·2^(−k) (logarithmic quantization)',
  bits: { min: 2, max: 8 },
  targets: ['weights'],
  granularities: ['tensor'],

  forward(b: Backend, x: Tensor, ctx: QuantizeContext): Tensor {
    const kMax = 2 ** (ctx.bits - 1) - 1;
    return straightThrough(b, x, (v) =>
      b.tidy(() => {
        const abs = b.abs(v);
        const s = b.max(abs);
        const safe = b.where(b.greater(s, 0), s, 1);
        // k = clamp(round(−log2(|x|/s)), 0, kMax); log(0) = −∞ lands on kMax.
        const k = b.clip(
          b.neg(b.floor(b.add(b.div(b.log(b.div(abs, safe)), Math.LN2), 0.5))),
          0,
          kMax,
        );
        const magnitude = b.mul(s, b.pow(0.5, k));
        return b.where(b.greaterEqual(v, 0), magnitude, b.neg(magnitude));
      }),
    );
  },

  reference(x: Float32Array, bits: number): Float32Array {
    assertFinite(x, 'pow2');
    const kMax = 2 ** (bits - 1) - 1;
    let s = 0;
    for (const v of x) s = Math.max(s, Math.abs(v));
    return x.map((v) => {
      if (s === 0) return 0;
      const k = Math.min(
        Math.max(-Math.floor(Math.log(Math.abs(v) / s) / Math.LN2 + 0.5), 0),
        kMax,
      );
      const m = s * 0.5 ** k;
      return v >= 0 ? m : -m;
    });
  },

  referenceGrad: straightThroughReferenceGrad,

  levels(x: Float32Array, bits: number): Float32Array[] {
    let s = 0;
    for (const v of x) s = Math.max(s, Math.abs(v));
    const mags = Array.from({ length: 2 ** (bits - 1) }, (_, k) => s * 0.5 ** k);
    return [Float32Array.from([...mags.map((m) => -m), ...mags]).sort()];
  },
});
