import { ArgumentError, type Random } from '@dqa/core';

/** A weight tensor in host memory: row-major values and its shape. */
export interface HostTensor {
  values: Float32Array;
  shape: readonly number[];
}

/**
 * A random direction in weight space, filter-normalised (Li et al. 2017, "Visualizing the Loss
 * Landscape of Neural Nets", Section 4): d ~ N(0, I) of each tensor's shape, then every filter
 * d_f rescaled to the norm of the weights' filter θ_f, d_f ← d_f · ‖θ_f‖ / ‖d_f‖, so a step along
 * d moves each filter by the same fraction of its own size whatever the layer's scale. A filter
 * is one output channel (conv kernels are HWIO) or one output unit (dense kernels are [in, out]):
 * the slice at one index of the last axis. Tensors of rank 0 or 1 (biases, batch norm) get a zero
 * direction (Li et al.'s `biasbn` choice): the surface moves only the kernels.
 */
export function filterNormalizedDirection(
  weights: readonly HostTensor[],
  random: Random,
): Float32Array[] {
  return weights.map((w, t) => {
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (size !== w.values.length)
      throw new ArgumentError(
        `filterNormalizedDirection: tensor ${t} has shape [${w.shape.join(', ')}] but ${w.values.length} values`,
      );
    const d = new Float32Array(size);
    if (w.shape.length < 2) return d;
    const filters = w.shape.at(-1)!;
    for (let i = 0; i < size; i++) d[i] = random.normal();
    const dNorm = new Float64Array(filters);
    const wNorm = new Float64Array(filters);
    for (let i = 0; i < size; i++) {
      const f = i % filters;
      dNorm[f]! += d[i]! * d[i]!;
      wNorm[f]! += w.values[i]! * w.values[i]!;
    }
    for (let i = 0; i < size; i++) {
      const f = i % filters;
      const dn = Math.sqrt(dNorm[f]!);
      d[i] = dn > 0 ? (d[i]! * Math.sqrt(wNorm[f]!)) / dn : 0;
    }
    return d;
  });
}
