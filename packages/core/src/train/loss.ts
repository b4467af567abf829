import type { Backend, Tensor } from '../backend/backend.js';
import type { StepInfo } from '../relaxation/relaxation.js';
import type { Batch, TrainableModel } from './trainer.js';

/** One batch's training objective and its gradients. */
export interface StepGradients {
  /** Cross-entropy plus every layer's regularizer, as a scalar tensor the caller disposes. */
  value: Tensor;
  /** d value / d model.variables[i], in order; the caller disposes them. */
  grads: Tensor[];
  /** The regularizer part of the value (Σ layers λ gᵀa / S, eq. 6). */
  regularizer: number;
}

/**
 * The training objective of one batch, mean cross-entropy plus every relaxed quantizer's
 * regularizer, and its gradients with respect to the model's variables. The Trainer and each
 * data-parallel worker compute exactly this.
 */
export function lossAndGrads(
  b: Backend,
  model: TrainableModel,
  batch: Batch,
  step: StepInfo,
): StepGradients {
  let regularizer = 0;
  const { value, grads } = b.valueAndGrads(() => {
    const logits = model.forward(batch.x, { training: true, step, hard: false });
    const ce = b.softmaxCrossEntropy(logits, batch.y);
    let reg: Tensor | null = null;
    for (const q of model.quantizers) {
      const r = q.regularizer(step, model.weightCount);
      if (r) reg = reg ? b.add(reg, r) : r;
    }
    if (!reg) return ce;
    regularizer = b.readSync(reg)[0]!;
    return b.add(ce, reg);
  }, model.variables);
  return { value, grads, regularizer };
}
