import {
  assertFinite,
  type Backend,
  defineQuantizer,
  type QuantizeContext,
  type ReferenceOptions,
  straightThrough,
  straightThroughReferenceGrad,
  type Tensor,
} from '@dqa/core';
import { calibrationAxes, groupStats, referenceGroups } from './groups.js';

/** The paper's threshold factor: δ = 0.7·E|x|. */
export const TWN_DELTA_FACTOR = 0.7;

/** δ and β per group: δ = 0.7·E|x|, β = E[|x| : |x| > δ] (0 when no element exceeds δ). */
function twnCalibration(x: Float32Array, options: ReferenceOptions | undefined) {
  const g = referenceGroups(x.length, options, 'twn');
  const { meanAbs } = groupStats(x, g);
  const delta = meanAbs.map((m) => Math.fround(TWN_DELTA_FACTOR * m));
  const sum = new Float64Array(g.count);
  const count = new Float64Array(g.count);
  for (let i = 0; i < x.length; i++) {
    const k = g.of(i);
    const a = Math.abs(x[i]!);
    if (a > delta[k]!) {
      sum[k]! += a;
      count[k]!++;
    }
  }
  const beta = sum.map((s, k) => (count[k]! > 0 ? s / count[k]! : 0));
  return { delta, beta, of: g.of };
}

/**
 * Ternary Weight Network (paper eq. 15, after Li et al. 2016): Q(x) = −β for x ≤ −δ, 0 for
 * |x| ≤ δ, β for x > δ, with δ = 0.7·E|x| and β = E[|x| over |x| > δ]. Two bits, three levels.
 * Gradient: straight-through.
 */
export const twn = defineQuantizer({
  id: 'twn',
  description: 'ternary weights {−β, 0, β}, δ = 0.7·E|x|, β = E[|x| : |x| > δ] (eq. 15)',
  source: 'DQA paper eq. 15 (Li et al. 2016)',
  bits: { values: [2] },
  targets: ['weights'],
  granularities: ['tensor', 'channel'],

  forward(b: Backend, x: Tensor, ctx: QuantizeContext): Tensor {
    return straightThrough(b, x, (v) =>
      b.tidy(() => {
        const axes = calibrationAxes(v, ctx);
        const abs = b.abs(v);
        const delta = b.mul(b.mean(abs, axes, true), TWN_DELTA_FACTOR);
        const above = b.greater(abs, delta);
        const count = b.sum(above, axes, true);
        const beta = b.div(b.sum(b.mul(abs, above), axes, true), b.maximum(count, 1));
        // Eq. 15's cases in order: x ≤ −δ → −β, then |x| ≤ δ → 0, else β.
        return b.where(
          b.lessEqual(v, b.neg(delta)),
          b.neg(beta),
          b.where(b.lessEqual(abs, delta), 0, beta),
        );
      }),
    );
  },

  reference(x: Float32Array, _bits: number, options?: ReferenceOptions): Float32Array {
    assertFinite(x, 'twn');
    const { delta, beta, of } = twnCalibration(x, options);
    return x.map((v, i) => {
      const k = of(i);
      if (v <= -delta[k]!) return -beta[k]!;
      if (Math.abs(v) <= delta[k]!) return 0;
      return beta[k]!;
    });
  },

  referenceGrad: straightThroughReferenceGrad,

  levels(x: Float32Array, _bits: number, options?: ReferenceOptions): Float32Array[] {
    assertFinite(x, 'twn');
    const { beta } = twnCalibration(x, options);
    return Array.from(beta, (bt) => (bt > 0 ? Float32Array.of(-bt, 0, bt) : Float32Array.of(0)));
  },
});
