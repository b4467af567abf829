import {
  ArgumentError,
  assertFinite,
  type Backend,
  defineQuantizer,
  type QuantizeContext,
  type ReferenceOptions,
  type Tensor,
} from '@dqa/core';
import { uniformCode, uniformLevels, uniformQuantize } from './uniform-levels.js';

/** PACT's default initial clip level (ReLU6's bound). */
export const PACT_DEFAULT_ALPHA = 6;

/**
 * The smallest clip level training lets α reach: the optimizer projects α back onto [0.001, ∞)
 * after each update, so an overshooting step cannot make the clip level (and the quantization
 * step α/(2ⁿ − 1)) zero or negative, which has no meaning. Same on every backend.
 */
export const PACT_MIN_ALPHA = 1e-3;

function alphaFor(x: Float32Array, options: ReferenceOptions | undefined): number {
  const given = options?.params?.alpha;
  if (given !== undefined) {
    if (!(given > 0))
      throw new ArgumentError(`pact: the clip level alpha must be positive, got ${given}`);
    return Math.fround(given);
  }
  // Without a learned α, calibrate to the tensor's maximum (no clipping).
  let m = 0;
  for (const v of x) if (v > m) m = v;
  return m;
}

/**
 * PACT (Choi et al. 2018) for activations: y = clip(x, 0, α) with a learnable clip level α, then
 * n-bit uniform quantization of [0, α] (2ⁿ levels, step α/(2ⁿ − 1)). Gradients: straight-through
 * inside the range, d y/d x = 1 for 0 ≤ x < α and 0 elsewhere; d y/d α = 1 where x ≥ α (PACT's
 * rule). α is the layer's parameter `alpha` (initialised to 6, kept ≥ PACT_MIN_ALPHA by the
 * optimizer); without one, the reference calibrates α = max(x).
 */
export const pact = defineQuantizer({
  id: 'pact',
  description: 'PACT activations: clip to [0, α] with learnable α, then uniform n-bit',
  source: 'Choi et al. 2018 (PACT); DQA paper Section 4 (PACT-SAWB)',
  bits: { min: 1, max: 16 },
  targets: ['activations'],
  granularities: ['tensor'],
  parameters: [
    {
      name: 'alpha',
      description: 'clip level α of PACT, learned with its own gradient',
      init: () => PACT_DEFAULT_ALPHA,
      min: PACT_MIN_ALPHA,
    },
  ],

  forward(b: Backend, x: Tensor, ctx: QuantizeContext): Tensor {
    const levels = 2 ** ctx.bits;
    const alphaParam = ctx.params.alpha;
    const quantize = (v: Tensor, alpha: Tensor) =>
      uniformQuantize(
        b,
        b.minimum(b.relu(v), alpha),
        b.scalar(0),
        b.div(alpha, levels - 1),
        levels,
      );
    if (!alphaParam) {
      return b.customGrad((v) => ({
        value: b.tidy(() => quantize(v!, b.max(v!))),
        gradFunc: (dy) => [b.mul(dy, b.mul(b.greaterEqual(v!, 0), b.less(v!, b.max(v!))))],
      }))(x);
    }
    return b.customGrad((v, alpha) => {
      const inside = b.mul(b.greaterEqual(v!, 0), b.less(v!, alpha!));
      const clipped = b.greaterEqual(v!, alpha!);
      return {
        value: quantize(v!, alpha!),
        gradFunc: (dy) => [b.mul(dy, inside), b.reshape(b.sum(b.mul(dy, clipped)), alpha!.shape)],
      };
    })(x, alphaParam);
  },

  reference(x: Float32Array, bits: number, options?: ReferenceOptions): Float32Array {
    assertFinite(x, 'pact');
    const alpha = alphaFor(x, options);
    const levels = 2 ** bits;
    const step = alpha / (levels - 1);
    return x.map((v) => {
      const c = Math.min(Math.max(v, 0), alpha);
      return step * uniformCode(c, 0, step, levels);
    });
  },

  referenceGrad(x: Float32Array, _bits: number, dy: Float32Array, options?: ReferenceOptions) {
    assertFinite(x, 'pact');
    const alpha = alphaFor(x, options);
    const dx = new Float32Array(x.length);
    let dAlpha = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v >= 0 && v < alpha) dx[i] = dy[i]!;
      else if (v >= alpha) dAlpha += dy[i]!;
    }
    return options?.params?.alpha !== undefined ? { dx, params: { alpha: dAlpha } } : { dx };
  },

  levels(x: Float32Array, bits: number, options?: ReferenceOptions): Float32Array[] {
    assertFinite(x, 'pact');
    const alpha = alphaFor(x, options);
    const levels = 2 ** bits;
    return [uniformLevels(0, alpha / (levels - 1), levels)];
  },
});
