import { DqaError, lossAndGrads, Sgd, type StepInfo, type Tensor } from '@dqa/core';
import { DataParallel } from '@dqa/core/node';
import { createTfjsBackend, quantizeModel, type TfjsEngine } from '@dqa/tfjs';
import * as tf from '@tensorflow/tfjs';
import { type CellId, timeCell } from './cell-timer.js';
import { speedModelBuilders, trainableParams } from './models.js';
import type { SpeedMessage } from './protocol.js';
import { type SpeedRequest, speedModels, speedVariants } from './spec.js';

/**
 * Measures every (model, variant) cell of `request` on one tfjs engine, in this process. One step
 * is what `model.fit` does per batch: the DQA callback's per-step work (`session.beforeStep`:
 * the step's T and Algorithm 1's α ← α/std(α)), then `trainOnBatch` (forward, the loss with DQA's
 * regularizer, gradients, the SGD-momentum update, reading the loss back).
 */
export async function measureTfjs(
  request: SpeedRequest,
  send: (m: SpeedMessage) => void,
): Promise<void> {
  let backend: Awaited<ReturnType<typeof createTfjsBackend>>;
  try {
    backend = await createTfjsBackend({ engine: request.engine as TfjsEngine });
  } catch (e) {
    if (e instanceof DqaError && e.code === 'BACKEND_UNAVAILABLE') {
      send({ type: 'unavailable', reason: e.message });
      return;
    }
    throw e;
  }
  send({
    type: 'hello',
    engine: tf.getBackend(),
    version: tf.version_core,
    details: backend.describe(),
  });

  const measure = request.trainer ? measureTrainerCell : measureCell;
  for (const modelId of request.models) {
    for (const variantId of request.variants) {
      try {
        await measure(request, modelId, variantId, backend, send);
      } catch (e) {
        send({
          type: 'cell-error',
          model: modelId,
          variant: variantId,
          error: e instanceof Error ? e.message.split('\n')[0]! : String(e),
        });
      }
    }
  }
  backend.close();
}

/** The cell's seeded random images and fixed one-hot labels. */
function cellInputs(request: SpeedRequest, id: CellId): { x: tf.Tensor; labels: tf.Tensor } {
  const info = speedModels[id.model];
  const batch = request.batch[id.model];
  const x = tf.randomUniform([batch, ...info.inputShape], 0, 1, 'float32', 7);
  const labels = tf.tidy(() =>
    tf
      .oneHot(
        tf.tensor1d(
          Array.from({ length: batch }, (_, i) => (i * 7) % info.classes),
          'int32',
        ),
        info.classes,
      )
      .toFloat(),
  );
  return { x, labels };
}

async function measureCell(
  request: SpeedRequest,
  modelId: SpeedRequest['models'][number],
  variantId: SpeedRequest['variants'][number],
  backend: Awaited<ReturnType<typeof createTfjsBackend>>,
  send: (m: SpeedMessage) => void,
): Promise<void> {
  const variant = speedVariants[variantId];
  const float = speedModelBuilders[modelId]();
  const params = trainableParams(float);
  const quantized = variant.config ? await quantizeModel(float, variant.config, { backend }) : null;
  if (quantized) float.dispose();
  const model = quantized?.model ?? float;
  const optimizer = tf.train.momentum(request.learningRate, request.momentum);
  model.compile({
    optimizer,
    loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
  });
  const { x, labels } = cellInputs(request, { model: modelId, variant: variantId });
  try {
    await timeCell(request, { model: modelId, variant: variantId }, params, send, async (i, n) => {
      quantized?.session.beforeStep({ step: i, totalSteps: n, stepsPerEpoch: n });
      const value = await model.trainOnBatch(x, labels);
      return Array.isArray(value) ? value[0]! : value;
    });
  } finally {
    tf.dispose([x, labels]);
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * One step as @dqa/core's Trainer takes it (`dqa train`): the relaxations' per-step hooks, then
 * the loss with every layer's regularizer and its gradients — split by rows over `threads`
 * data-parallel threads, one wasm engine each, when threads > 1 — then the SGD-momentum update.
 * The model is the same `quantizeModel` model (FP: quantized with no quantizers).
 */
async function measureTrainerCell(
  request: SpeedRequest,
  modelId: SpeedRequest['models'][number],
  variantId: SpeedRequest['variants'][number],
  backend: Awaited<ReturnType<typeof createTfjsBackend>>,
  send: (m: SpeedMessage) => void,
): Promise<void> {
  const variant = speedVariants[variantId];
  const float = speedModelBuilders[modelId]();
  const params = trainableParams(float);
  const quantized = await quantizeModel(
    float,
    variant.config ?? { quantization: { weights: null } },
    { backend },
  );
  float.dispose();
  const model = quantized.trainable();
  const pool =
    request.threads > 1
      ? await DataParallel.start(backend, model, { threads: request.threads })
      : null;
  const sgd = new Sgd(
    backend,
    model.variables,
    { momentum: request.momentum, weightDecay: 0, nesterov: false },
    model.decayVariables,
  );
  const { x, labels } = cellInputs(request, { model: modelId, variant: variantId });
  try {
    await timeCell(request, { model: modelId, variant: variantId }, params, send, async (i, n) => {
      const step: StepInfo = { step: i, totalSteps: n, stepsPerEpoch: n };
      for (const q of model.quantizers) q.beforeStep(step);
      let grads: Tensor[];
      let loss: number;
      if (pool) {
        ({ grads, loss } = await pool.step({ x, y: labels }, step));
      } else {
        const r = lossAndGrads(backend, model, { x, y: labels }, step);
        grads = r.grads;
        loss = backend.readSync(r.value)[0]!;
        backend.dispose(r.value);
      }
      sgd.apply(grads, request.learningRate);
      backend.dispose(grads);
      return loss;
    });
  } finally {
    tf.dispose([x, labels]);
    sgd.dispose();
    await pool?.dispose();
    quantized.model.dispose();
  }
}
