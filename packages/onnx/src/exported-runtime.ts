import { ArgumentError, type Backend, parseConfig, type StepInfo } from '@dqa/core';
import {
  type BuiltModel,
  buildModelFromSpec,
  normalizationTable,
  PARAMETER_SUFFIX,
  type ParameterRole,
} from '@dqa/models';
import { quantizers } from '@dqa/quantizers';
import {
  type ExportedInput,
  type ExportedModel,
  type ExportedTensor,
  tensorValues,
  validateExportedModel,
} from './exported-model.js';

/**
 * Builds an exported model (e.g. one read back from a packed file) on backend `b`: the spec's
 * layers with the exported values as float weights (quantized kernels hold exactly their levels),
 * and each PACT-quantized input as a straight-through PACT quantizer with the learned clip level.
 * Its forward pass (`hard: true` or not: both are the deployed model) computes what the trained
 * model's hard forward pass computed, on the same backend, bit for bit.
 */
export function buildExportedModel(
  b: Backend,
  m: ExportedModel,
  options: { scope?: string } = {},
): BuiltModel {
  validateExportedModel(m, 'buildExportedModel');
  const overrides = m.layers
    .filter((l) => l.activation)
    .map((l) => ({
      layers: l.name,
      activations: {
        relaxation: 'ste',
        quantizers: [{ id: 'pact', bits: l.activation!.bits }],
      },
    }));
  const config = parseConfig(
    {
      model: { name: m.spec.name },
      data: { name: 'exported' },
      quantization: {
        weights: null,
        activations: null,
        quantizeFirstLayer: true,
        quantizeLastLayer: true,
        overrides,
      },
    },
    { quantizers },
  );
  const model = buildModelFromSpec(b, m.spec, config, {
    quantizers,
    ...(options.scope ? { scope: options.scope } : {}),
  });
  try {
    for (const l of m.layers) {
      for (const [role, t] of Object.entries(l.tensors) as [ParameterRole, ExportedTensor][]) {
        const v = model.parameter(`${l.name}/${PARAMETER_SUFFIX[role]}`);
        b.tidy(() => v.assign(b.tensor(tensorValues(t), [...t.shape])));
      }
      if (l.activation) {
        const alpha = model.layers.find((x) => x.node.name === l.name)?.activationQuantizer
          ?.quantizers[0]?.params.alpha;
        if (!alpha)
          throw new ArgumentError(`layer '${l.name}': the built model has no PACT clip level`);
        b.tidy(() => alpha.assign(b.tensor([l.activation!.alpha], [])));
      }
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

const EVAL_STEP: StepInfo = { step: 0, totalSteps: 1, stepsPerEpoch: 1 };

/**
 * Logits `[count, classes]` of `model` on `count` images (bytes, NHWC), normalised as in training,
 * `batchSize` at a time, with every quantizer hard (the final low-bit model). `step` is passed to
 * the model (a trained model's relaxations read it; the hard forward pass does not depend on it).
 */
export function modelLogits(
  b: Backend,
  model: BuiltModel,
  input: ExportedInput,
  images: Uint8Array,
  count: number,
  options: { batchSize?: number; step?: StepInfo } = {},
): Float32Array {
  const [h, w, c] = input.shape;
  const per = h * w * c;
  if (images.length < count * per)
    throw new ArgumentError(
      `modelLogits: ${count} images of [${h}, ${w}, ${c}] need ${count * per} bytes, got ${images.length}`,
    );
  const lut = normalizationTable(input.mean, input.std);
  const batchSize = options.batchSize ?? 256;
  const classes = model.spec.classes;
  const out = new Float32Array(count * classes);
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const x = new Float32Array(n * per);
    for (let i = 0; i < n * per; i++) x[i] = lut[(i % c) * 256 + images[start * per + i]!]!;
    const logits = b.tidy(() => {
      const t = b.tensor(x, [n, h, w, c]);
      const y = model.forward(t, { training: false, hard: true, step: options.step ?? EVAL_STEP });
      return b.readSync(y);
    });
    out.set(logits, start * classes);
  }
  return out;
}
