import type { Backend, Tensor } from '../backend/backend.js';

/**
 * The straight-through estimator: the forward pass is `quantize(x)`, the backward pass ignores the
 * quantization (d out / d x = 1), as in the paper's Section 2.
 */
export function straightThrough(b: Backend, x: Tensor, quantize: (x: Tensor) => Tensor): Tensor {
  return b.customGrad((input) => ({ value: quantize(input!), gradFunc: (dy) => [dy] }))(x);
}

/** The plain reference of the straight-through rule: d out / d x = 1, so dx = dy. */
export function straightThroughReferenceGrad(
  _x: Float32Array,
  _bits: number,
  dy: Float32Array,
): { dx: Float32Array } {
  return { dx: dy.slice() };
}
