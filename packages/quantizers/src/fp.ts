import {
  assertFinite,
  type Backend,
  defineQuantizer,
  straightThroughReferenceGrad,
  type Tensor,
} from '@dqa/core';

/**
 * Full precision: the identity, "32 bit" in the paper's tables. Used as the high end of a mixture
 * (Binary-Relax's original quantized/FP pair, BWN/TWN/FP) and for float baselines.
 */
export const fp = defineQuantizer({
  id: 'fp',
  description: 'full precision (identity), "32 bit"',
  source: 'DQA paper Table 1 ("FP")',
  bits: { values: [32] },
  targets: ['weights', 'activations'],
  granularities: ['tensor', 'channel'],
  identity: true,

  forward(b: Backend, x: Tensor): Tensor {
    // A new handle on the same values, so callers may dispose the result without losing x.
    return b.reshape(x, x.shape);
  },

  reference(x: Float32Array): Float32Array {
    assertFinite(x, 'fp');
    return x.slice();
  },

  referenceGrad: straightThroughReferenceGrad,

  levels(x: Float32Array): Float32Array[] {
    assertFinite(x, 'fp');
    return [Float32Array.from(new Set(x)).sort()];
  },
});
