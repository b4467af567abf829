import { type Backend, lossAndGrads, parseConfig, Random, Sgd } from '@dqa/core';
import { buildModel, countParameters } from '@dqa/models';
import { quantizers } from '@dqa/quantizers';
import { timeCell } from './cell-timer.js';
import type { SpeedMessage } from './protocol.js';
import {
  type SpeedModelId,
  type SpeedRequest,
  type SpeedVariantId,
  speedModels,
  speedVariants,
} from './spec.js';

/** The @dqa/models architecture of each speed model. */
const architectures: Readonly<Record<SpeedModelId, string>> = {
  'small-cnn': 'cnn-small',
  resnet20: 'resnet20',
};

/** What the native-cpu column needs from `@dqa/native-cpu` (loaded by the worker, not here). */
export interface NativeCpuModule {
  nativeCpuAvailable():
    | { available: true; dnnlVersion: string; threads: number }
    | { available: false; reason: string; hint: string };
  createNativeCpuBackend(options?: { threads?: number }): Backend & {
    describe(): { dnnlVersion: string; runtime: string; threads: number };
  };
}

/**
 * Measures every (model, variant) cell of `request` on @dqa/native-cpu, in this process. A step is
 * what `dqa train` does per batch (the Trainer's step, as the `wasm-trainer` column): the
 * relaxations' per-step hooks (the step's T, Algorithm 1's α normalisation), the loss with every
 * layer's regularizer and its gradients (`lossAndGrads`, core's tape autodiff over the addon's
 * kernels), reading the loss back, and the SGD-momentum update. Models are @dqa/models' specs
 * (`cnn-small`, `resnet20`), every Conv2D/Dense layer quantized in STE and DQA.
 */
export async function measureNativeCpu(
  native: NativeCpuModule,
  request: SpeedRequest,
  send: (m: SpeedMessage) => void,
): Promise<void> {
  const availability = native.nativeCpuAvailable();
  if (!availability.available) {
    send({ type: 'unavailable', reason: availability.reason, hint: availability.hint });
    return;
  }
  const backend = native.createNativeCpuBackend({ threads: request.threads });
  const info = backend.describe();
  send({
    type: 'hello',
    engine: 'native-cpu',
    version: info.dnnlVersion,
    details: `oneDNN ${info.dnnlVersion}, ${info.runtime}, ${info.threads} thread${info.threads === 1 ? '' : 's'}`,
  });
  for (const model of request.models) {
    for (const variant of request.variants) {
      try {
        await measureCell(backend, request, model, variant, send);
      } catch (e) {
        send({
          type: 'cell-error',
          model,
          variant,
          error: e instanceof Error ? e.message.split('\n')[0]! : String(e),
        });
      }
    }
  }
  backend.close?.();
}

async function measureCell(
  b: Backend,
  request: SpeedRequest,
  modelId: SpeedModelId,
  variantId: SpeedVariantId,
  send: (m: SpeedMessage) => void,
): Promise<void> {
  const info = speedModels[modelId];
  const variant = speedVariants[variantId].config;
  const config = parseConfig(
    {
      model: { name: architectures[modelId] },
      data: { name: 'synthetic' },
      quantization: variant?.quantization ?? { weights: null },
      ...(variant?.relaxation ? { relaxation: variant.relaxation } : {}),
    },
    { quantizers },
  );
  const model = buildModel(b, config, {
    inputShape: [...info.inputShape],
    classes: info.classes,
  });
  const sgd = new Sgd(
    b,
    model.variables,
    { momentum: request.momentum, weightDecay: 0, nesterov: false },
    model.decayVariables,
  );
  // The same batch as the other columns: seeded uniform images, labels (i·7) mod classes.
  const batch = request.batch[modelId];
  const rng = new Random(7);
  const size = batch * info.inputShape.reduce((a, d) => a * d, 1);
  const x = b.tensor(
    Float32Array.from({ length: size }, () => rng.uniform()),
    [batch, ...info.inputShape],
  );
  const labels = new Float32Array(batch * info.classes);
  for (let i = 0; i < batch; i++) labels[i * info.classes + ((i * 7) % info.classes)] = 1;
  const y = b.tensor(labels, [batch, info.classes]);
  try {
    const id = { model: modelId, variant: variantId };
    await timeCell(request, id, countParameters(model.spec), send, async (i, n) => {
      const step = { step: i, totalSteps: n, stepsPerEpoch: n };
      for (const q of model.quantizers) q.beforeStep(step);
      const { value, grads } = lossAndGrads(b, model, { x, y }, step);
      const loss = b.readSync(value)[0]!;
      b.dispose(value);
      sgd.apply(grads, request.learningRate);
      b.dispose(grads);
      return loss;
    });
  } finally {
    b.dispose([x, y]);
    sgd.dispose();
    model.dispose();
  }
}
