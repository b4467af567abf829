import type { Backend, Tensor } from '../backend/backend.js';
import { assertFinite } from '../errors.js';
import { defineQuantizer } from '../quantizer/plugin.js';
import { straightThrough, straightThroughReferenceGrad } from '../quantizer/straight-through.js';

/**
 * A small symmetric uniform quantizer (levels −m + i·2m/(2ⁿ − 1), m = max|x|) with a
 * straight-through gradient. It lets core test relaxations on every backend without depending on
 * @dqa/quantizers, and doubles as a worked example of a plugin.
 */
export const conformanceQuantizer = defineQuantizer({
  id: 'conformance-uniform',
  description: 'symmetric uniform quantizer on [−max|x|, max|x|] (conformance suite only)',
  bits: { min: 1, max: 16 },
  targets: ['weights', 'activations'],
  granularities: ['tensor'],
  forward(b: Backend, x: Tensor, ctx) {
    const L = 2 ** ctx.bits - 1;
    return straightThrough(b, x, (v) =>
      b.tidy(() => {
        const m = b.max(b.abs(v));
        const delta = b.div(b.mul(m, 2), L);
        const safe = b.where(b.greater(delta, 0), delta, 1);
        const code = b.clip(b.floor(b.add(b.div(b.add(v, m), safe), 0.5)), 0, L);
        return b.sub(b.mul(code, delta), m);
      }),
    );
  },
  reference(x: Float32Array, bits: number) {
    assertFinite(x, 'conformance-uniform');
    const L = 2 ** bits - 1;
    let m = 0;
    for (const v of x) m = Math.max(m, Math.abs(v));
    const delta = Math.fround((2 * m) / L);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const code = delta > 0 ? Math.min(Math.max(Math.floor((x[i]! + m) / delta + 0.5), 0), L) : 0;
      out[i] = code * delta - m;
    }
    return out;
  },
  referenceGrad: straightThroughReferenceGrad,
  levels(x: Float32Array, bits: number) {
    const L = 2 ** bits - 1;
    let m = 0;
    for (const v of x) m = Math.max(m, Math.abs(v));
    const delta = Math.fround((2 * m) / L);
    return [Float32Array.from({ length: L + 1 }, (_, i) => i * delta - m)];
  },
});
