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
import { calibrationReduce, groupStats, referenceGroups } from './groups.js';

/**
 * Binary Weight Network (paper eq. 14, after Rastegari et al. 2016): Q(x) = β·sign(x) with
 * β = E|x| and sign(0) = +1 (x ≥ 0 → β). One bit. Gradient: straight-through.
 */
export const bwn = defineQuantizer({
  id: 'bwn',
  description: 'binary weights ±β with β = E|x| (eq. 14)',
  source: 'DQA paper eq. 14 (Rastegari et al. 2016)',
  bits: { values: [1] },
  targets: ['weights'],
  granularities: ['tensor', 'channel'],

  forward(b: Backend, x: Tensor, ctx: QuantizeContext): Tensor {
    return straightThrough(b, x, (v) =>
      b.tidy(() => {
        const beta = calibrationReduce(b, b.abs(v), ctx, 'mean');
        return b.where(b.greaterEqual(v, 0), beta, b.neg(beta));
      }),
    );
  },

  reference(x: Float32Array, _bits: number, options?: ReferenceOptions): Float32Array {
    assertFinite(x, 'bwn');
    const g = referenceGroups(x.length, options, 'bwn');
    const { meanAbs } = groupStats(x, g);
    return x.map((v, i) => (v >= 0 ? meanAbs[g.of(i)]! : -meanAbs[g.of(i)]!));
  },

  referenceGrad: straightThroughReferenceGrad,

  levels(x: Float32Array, _bits: number, options?: ReferenceOptions): Float32Array[] {
    assertFinite(x, 'bwn');
    const g = referenceGroups(x.length, options, 'bwn');
    return Array.from(groupStats(x, g).meanAbs, (beta) => Float32Array.of(-beta, beta));
  },
});
