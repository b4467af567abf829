import { conformanceQuantizer } from '../src/conformance/index.js';
import {
  type Backend,
  type ConfigRegistries,
  createQuantizerRegistry,
  defineQuantizer,
  type QuantizerRegistry,
  type Tensor,
} from '../src/index.js';

/**
 * Small stand-ins for the plugins of @dqa/quantizers (which core's tests must not import: that
 * would be a dependency cycle). They reuse the conformance quantizer's arithmetic and differ only
 * in what they declare (ids, accepted bits, targets, granularities, parameters, identity).
 */

/** Like `minmax`: 2–16 bits, weights and activations, per tensor or per channel. */
export const fakeMinmax = defineQuantizer({
  ...conformanceQuantizer,
  id: 'minmax',
  description: 'fake min-max (uniform) quantizer for tests',
  bits: { min: 2, max: 16 },
  granularities: ['tensor', 'channel'],
});

/** Like `bwn`: 1 bit only, weights only. */
export const fakeBwn = defineQuantizer({
  ...conformanceQuantizer,
  id: 'bwn',
  description: 'fake binary-weight quantizer for tests',
  bits: { values: [1] },
  targets: ['weights'],
});

/**
 * Like `pact`: activations only, with a learnable clip level `alpha` initialised to 4 + bits and
 * kept ≥ 0.001 by the optimizer.
 */
export const fakePact = defineQuantizer({
  ...conformanceQuantizer,
  id: 'pact',
  description: 'fake PACT: clips activations to [0, alpha] (no rounding)',
  bits: { min: 1, max: 8 },
  targets: ['activations'],
  parameters: [
    { name: 'alpha', description: 'clip level', init: (bits: number) => 4 + bits, min: 1e-3 },
  ],
  forward(b: Backend, x: Tensor, ctx) {
    // min(relu(x), alpha): the gradient reaches x below alpha and alpha above it.
    return b.minimum(b.relu(x), ctx.params.alpha!);
  },
});

/** Like `fp`: the identity, declared as 32 bit. */
export const fakeFp = defineQuantizer({
  ...conformanceQuantizer,
  id: 'fp',
  description: 'fake full-precision (identity) quantizer for tests',
  bits: { values: [32] },
  identity: true,
  forward(b: Backend, x: Tensor) {
    return b.mul(x, 1);
  },
  reference(x: Float32Array) {
    return x.slice();
  },
});

export function fakeQuantizers(): QuantizerRegistry {
  return createQuantizerRegistry([conformanceQuantizer, fakeMinmax, fakeBwn, fakePact, fakeFp]);
}

export function fakeRegistries(): ConfigRegistries {
  return { quantizers: fakeQuantizers() };
}
