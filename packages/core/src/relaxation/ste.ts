import type { Backend, Tensor } from '../backend/backend.js';
import {
  disposeQuantizerParams,
  type LayerQuantizer,
  quantize,
  type Relaxation,
  type RelaxedQuantizer,
} from './relaxation.js';

/**
 * Plain straight-through training with a single quantizer: the forward pass uses Q(w; n), the
 * backward pass the plugin's gradient rule. The baseline the paper calls "vanilla training".
 */
export const steRelaxation: Relaxation<Record<string, never>> = {
  id: 'ste',
  description: 'one quantizer, straight-through gradients (the plain low-bit baseline)',
  minQuantizers: 1,
  maxQuantizers: 1,
  create(b: Backend, name: string, quantizers: readonly LayerQuantizer[]): RelaxedQuantizer {
    const q = quantizers[0]!;
    return {
      relaxation: 'ste',
      name,
      quantizers,
      variables: Object.values(q.params),
      beforeStep: () => {},
      forward: (x: Tensor) => quantize(b, x, q),
      regularizer: () => null,
      mixingWeights: () => [1],
      hard: (x: Tensor) => quantize(b, x, q),
      dispose: () => disposeQuantizerParams(b, quantizers),
    };
  },
};
