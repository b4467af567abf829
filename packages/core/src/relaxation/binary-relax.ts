import type { Backend, Tensor } from '../backend/backend.js';
import { binaryRelaxMix, binaryRelaxOmega, binaryRelaxOmegaScaled } from '../math/binary-relax.js';
import {
  disposeQuantizerParams,
  type LayerQuantizer,
  mixConstant,
  quantize,
  type Relaxation,
  type RelaxedQuantizer,
  type StepInfo,
} from './relaxation.js';

export interface BinaryRelaxOptions {
  /**
   * `literal`: ω = growth^epoch, multiplied after each epoch (eq. 8 as in the paper).
   * `scaled`: ω = growth^(refEpochs · t), t the fraction of training done, so a short run ends
   * with the same ≈ 99.5% weight on Q_1 as 300 epochs would.
   */
  schedule: 'literal' | 'scaled';
  /** Per-epoch factor, the paper's 1.02. */
  growth: number;
  /** Epochs the scaled rule stretches over the run (300, the paper's CIFAR budget). */
  refEpochs: number;
}

export const defaultBinaryRelaxOptions: BinaryRelaxOptions = {
  schedule: 'literal',
  growth: 1.02,
  refEpochs: 300,
};

/** ω at a step under the chosen rule. */
export function binaryRelaxOmegaAt(step: StepInfo, o: BinaryRelaxOptions): number {
  if (o.schedule === 'scaled') {
    return binaryRelaxOmegaScaled(
      Math.min(Math.max(step.step / step.totalSteps, 0), 1),
      o.growth,
      o.refEpochs,
    );
  }
  return binaryRelaxOmega(Math.floor(step.step / step.stepsPerEpoch), o.growth);
}

/**
 * Binary-Relax (Yin et al. 2018) as the paper's eq. 8: a fixed schedule moves the mixture
 * (ω·Q_1 + Q_2 + … + Q_K)/(ω + K − 1) towards the low-bit Q_1. With K = 2 and Q_2 = `fp` it is
 * the original quantized/full-precision pair.
 */
export const binaryRelaxRelaxation: Relaxation<Partial<BinaryRelaxOptions>> = {
  id: 'binary-relax',
  description:
    "Binary-Relax: fixed schedule ω from the mixture to Q_1 (eq. 8; K = 2 with 'fp' is the original pair)",
  minQuantizers: 2,
  maxQuantizers: 16,
  create(
    b: Backend,
    name: string,
    quantizers: readonly LayerQuantizer[],
    options: Partial<BinaryRelaxOptions>,
  ): RelaxedQuantizer {
    const o = { ...defaultBinaryRelaxOptions, ...options };
    const weights = (step: StepInfo) =>
      binaryRelaxMix(binaryRelaxOmegaAt(step, o), quantizers.length);
    return {
      relaxation: 'binary-relax',
      name,
      quantizers,
      variables: quantizers.flatMap((q) => Object.values(q.params)),
      beforeStep: () => {},
      forward: (x: Tensor, step: StepInfo) => mixConstant(b, x, quantizers, weights(step)),
      regularizer: () => null,
      mixingWeights: weights,
      hard: (x: Tensor) => quantize(b, x, quantizers[0]!),
      dispose: () => disposeQuantizerParams(b, quantizers),
    };
  },
};
