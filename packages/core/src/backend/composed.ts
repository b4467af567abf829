import type { Backend, BatchNormTrainingResult, FusedActivation, Tensor } from './backend.js';

/**
 * `batchNormTraining` composed from a backend's own differentiable ops: the batch mean and biased
 * variance over every axis but the last, `batchNorm` with them, then `activation(y + residual)`.
 * The fallback of every backend without a fused kernel; gradients reach x through the statistics.
 * Call it inside a `tidy` (the intermediates are the caller's to free).
 */
export function composedBatchNormTraining(
  b: Backend,
  x: Tensor,
  offset: Tensor | undefined,
  scale: Tensor | undefined,
  epsilon: number,
  residual: Tensor | undefined,
  activation: FusedActivation,
): BatchNormTrainingResult {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const mean = b.mean(x, axes);
  const variance = b.mean(b.square(b.sub(x, mean)), axes);
  let y = b.batchNorm(x, mean, variance, offset, scale, epsilon);
  if (residual) y = b.add(y, residual);
  if (activation === 'relu') y = b.relu(y);
  return { y, mean, variance };
}
