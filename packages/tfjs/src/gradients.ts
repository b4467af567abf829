import * as tf from '@tensorflow/tfjs';

/**
 * Comparison kernels that tfjs 4.22 registers no gradient for. tfjs has one for `GreaterEqual`
 * (zeros), but none for these, so `tf.grad` throws "gradient function not found for Greater" as
 * soon as a comparison lies between a variable and the loss — even when its result only feeds a
 * `where` condition or a mask. The contract of @dqa/core says comparisons have a zero gradient.
 */
const ZERO_GRADIENT_KERNELS = ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual'] as const;

/**
 * Registers a zero gradient for each comparison kernel that has none, like tfjs' own
 * `GreaterEqual` gradient (float32 zeros of each input's shape). A kernel that already has a
 * gradient (tfjs' own, or one a user registered) is left alone, so calling this again is a no-op.
 */
export function registerComparisonGradients(): void {
  for (const kernelName of ZERO_GRADIENT_KERNELS) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => {
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        return { a: () => tf.zeros(a.shape), b: () => tf.zeros(b.shape) };
      },
    });
  }
}
