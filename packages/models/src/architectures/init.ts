import type { Random } from '@dqa/core';
import type { ParameterSpec } from './analysis.js';

/**
 * Initial values of a variable: He normal for convolution kernels (std √(2 / fan_in), He et al.
 * 2015; fan_in = kh·kw·inC, and kh·kw for a depthwise kernel, whose outputs each see one channel),
 * Glorot uniform for dense kernels (±√(6 / (in + out))), zero biases and β, γ = 1, moving mean 0
 * and moving variance 1. Only kernels draw from `rng`, in the order they are asked for.
 */
export function initialValues(p: ParameterSpec, rng: Random): Float32Array {
  const size = p.shape.reduce((a, d) => a * d, 1);
  switch (p.role) {
    case 'kernel': {
      if (p.op === 'dense') {
        const [fanIn, fanOut] = p.shape as [number, number];
        const limit = Math.sqrt(6 / (fanIn + fanOut));
        return rng.uniformArray(size, -limit, limit);
      }
      const [kh, kw, inC] = p.shape as [number, number, number, number];
      const fanIn = p.op === 'depthwiseConv2d' ? kh * kw : kh * kw * inC;
      return rng.normalArray(size, 0, Math.sqrt(2 / fanIn));
    }
    case 'gamma':
    case 'movingVariance':
      return new Float32Array(size).fill(1);
    default:
      return new Float32Array(size);
  }
}
