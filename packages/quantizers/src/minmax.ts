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
import { uniformCode, uniformLevels, uniformQuantize } from './uniform-levels.js';

/**
 * Min-max quantization (paper eq. 10 and 13, after Nikolić et al. 2020): 2ⁿ levels spread
 * uniformly from the tensor's (or channel's) minimum to its maximum, q_i = x_min + (i − 1)·Δ with
 * Δ = (x_max − x_min)/(2ⁿ − 1), and each value goes to the nearest level (eq. 9). Eq. 13 as printed
 * rounds x/Δ rather than (x − x_min)/Δ; we implement the nearest level it describes.
 * Gradient: straight-through (d q / d x = 1); the calibration (min, max) gets none.
 */
export const minmax = defineQuantizer({
  id: 'minmax',
  description: 'min-max uniform quantizer: 2ⁿ levels from min(x) to max(x) (eq. 10, 13)',
  source: 'DQA paper eq. 10, 13 (Nikolić et al. 2020)',
  bits: { min: 1, max: 16 },
  targets: ['weights', 'activations'],
  granularities: ['tensor', 'channel'],

  forward(b: Backend, x: Tensor, ctx: QuantizeContext): Tensor {
    const levels = 2 ** ctx.bits;
    return straightThrough(b, x, (v) =>
      b.tidy(() => {
        const lo = calibrationReduce(b, v, ctx, 'min');
        const hi = calibrationReduce(b, v, ctx, 'max');
        return uniformQuantize(b, v, lo, b.div(b.sub(hi, lo), levels - 1), levels);
      }),
    );
  },

  reference(x: Float32Array, bits: number, options?: ReferenceOptions): Float32Array {
    const g = referenceGroups(x.length, options, 'minmax');
    if (g.count === 1) return minmaxTensor(x, 2 ** bits);
    assertFinite(x, 'minmax');
    const { min, max } = groupStats(x, g);
    const levels = 2 ** bits;
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const k = g.of(i);
      const step = (max[k]! - min[k]!) / (levels - 1);
      out[i] = min[k]! + step * uniformCode(x[i]!, min[k]!, step, levels);
    }
    return out;
  },

  referenceGrad: straightThroughReferenceGrad,

  levels(x: Float32Array, bits: number, options?: ReferenceOptions): Float32Array[] {
    assertFinite(x, 'minmax');
    const g = referenceGroups(x.length, options, 'minmax');
    const { min, max } = groupStats(x, g);
    const levels = 2 ** bits;
    return Array.from(min, (lo, k) =>
      max[k]! >= lo
        ? uniformLevels(lo, (max[k]! - lo) / (levels - 1), levels)
        : new Float32Array(0),
    );
  },
});

/**
 * The per-tensor reference in two tight passes (this is what host-memory backends train with):
 * min, max and a finiteness check, then the nearest level of each value. Same arithmetic as the
 * general per-group path.
 */
function minmaxTensor(x: Float32Array, levels: number): Float32Array {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    sum += v;
  }
  if (!Number.isFinite(sum)) assertFinite(x, 'minmax');
  const out = new Float32Array(x.length);
  const step = (hi - lo) / (levels - 1);
  if (!(step > 0)) return out.fill(lo);
  const top = levels - 1;
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor((x[i]! - lo) / step + 0.5);
    out[i] = lo + step * (c < 0 ? 0 : Math.min(c, top));
  }
  return out;
}
