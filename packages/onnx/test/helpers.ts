import {
  type Backend,
  createReferenceBackend,
  type DqaConfigInput,
  parseConfig,
  type QuantizerRegistry,
  Random,
} from '@dqa/core';
import {
  type BuiltModel,
  buildModelFromSpec,
  type ImageShape,
  type ModelSpec,
  parameterSpecs,
  SpecBuilder,
} from '@dqa/models';
import { quantizers } from '@dqa/quantizers';
import { type ExportedModel, exportModel, modelLogits } from '../src/index.js';

/**
 * A small network with every op the exporters write: 'same' and 'valid' convolutions with stride
 * and dilation, a depthwise convolution with multiplier 2, batch norm, ReLU and ReLU6, max and
 * average pooling with padding, a residual add, global average pooling, and a dense layer.
 */
export function allOpsSpec(inputShape: ImageShape = [12, 12, 3]): ModelSpec {
  const g = new SpecBuilder('all-ops', inputShape, 5);
  let h = g.conv2d('conv1', g.input, { filters: 8, kernelSize: 3, padding: 'same' });
  h = g.relu('relu1', g.batchNorm('bn1', h));
  const skip = h;
  h = g.depthwiseConv2d('dw', h, { kernelSize: 3, multiplier: 2, padding: 'same' });
  h = g.conv2d('pw', g.relu6('relu6', h), { filters: 8, kernelSize: 1, useBias: false });
  h = g.add('residual', h, skip);
  h = g.maxPool('pool1', h, { pool: 3, strides: 2, padding: 'same' });
  h = g.conv2d('conv2', h, { filters: 12, kernelSize: 3, padding: 'valid', dilations: 2 });
  h = g.avgPool('pool2', h, { pool: 2, strides: 2, padding: 'same' });
  h = g.conv2d('conv3', h, { filters: 6, kernelSize: 1, strides: 1 });
  g.dense('logits', g.globalAvgPool('gap', g.relu('relu3', h)), { units: 5 });
  return g.build();
}

/** conv → pool → flatten → dense (a flatten of an NHWC image, as cnn-small has). */
export function flattenSpec(inputShape: ImageShape = [8, 8, 1]): ModelSpec {
  const g = new SpecBuilder('flat', inputShape, 4);
  let h = g.conv2d('conv1', g.input, { filters: 4, kernelSize: 3, strides: 2 });
  h = g.maxPool('pool1', g.relu('relu1', h), { pool: 2 });
  g.dense('logits', g.flatten('flatten', h), { units: 4 });
  return g.build();
}

export interface TinyModel {
  b: Backend;
  model: BuiltModel;
  exported: ExportedModel;
  images: Uint8Array;
  count: number;
  /** Our own hard forward pass on `images`. */
  reference: Float32Array;
}

/** Per-channel input statistics of a made-up data set (two decimals, like real ones). */
export function inputOf(spec: ModelSpec) {
  const c = spec.inputShape[2];
  return {
    shape: spec.inputShape,
    mean: Array.from({ length: c }, (_, k) => 0.3 + 0.1 * k),
    std: Array.from({ length: c }, (_, k) => 0.25 + 0.05 * k),
  };
}

/**
 * Builds `spec` quantized as `quantization` says on the reference backend (seeded initial weights,
 * random batch-norm statistics and PACT clip levels so nothing is trivial), exports it, and runs
 * our hard forward pass on `count` random images.
 */
export async function tinyModel(
  spec: ModelSpec,
  quantization: DqaConfigInput['quantization'],
  options: {
    count?: number;
    seed?: number;
    relaxation?: DqaConfigInput['relaxation'];
    /** Plugins (default: @dqa/quantizers'). */
    registry?: QuantizerRegistry;
    /** Changes the model before it is exported (e.g. trained-looking qnet α and β). */
    prepare?: (b: Backend, model: BuiltModel) => void;
  } = {},
): Promise<TinyModel> {
  const registry = options.registry ?? quantizers;
  const seed = options.seed ?? 1;
  const config = parseConfig(
    {
      seed,
      model: { name: spec.name },
      data: { name: 'made-up' },
      quantization,
      ...(options.relaxation ? { relaxation: options.relaxation } : {}),
    },
    { quantizers: registry },
  );
  const b = createReferenceBackend();
  const model = buildModelFromSpec(b, spec, config, { quantizers: registry });
  const rng = new Random(seed + 100);
  for (const p of parameterSpecs(spec)) {
    const v = model.parameter(p.name);
    const n = p.shape.reduce((a, d) => a * d, 1);
    if (p.role === 'movingMean')
      b.tidy(() => v.assign(b.tensor(rng.normalArray(n, 0, 0.2), p.shape)));
    if (p.role === 'movingVariance')
      b.tidy(() => v.assign(b.tensor(rng.uniformArray(n, 0.5, 2), p.shape)));
    if (p.role === 'beta') b.tidy(() => v.assign(b.tensor(rng.normalArray(n, 0, 0.1), p.shape)));
  }
  for (const l of model.layers) {
    const alpha = l.activationQuantizer?.quantizers[0]?.params.alpha;
    if (alpha) b.tidy(() => alpha.assign(b.tensor([1 + 3 * rng.uniform()], [])));
  }
  options.prepare?.(b, model);
  const input = inputOf(spec);
  const exported = await exportModel(b, model, {
    input,
    classNames: Array.from({ length: spec.classes }, (_, k) => `class ${k}`),
  });
  const count = options.count ?? 64;
  const size = spec.inputShape.reduce((a, d) => a * d, 1);
  const images = Uint8Array.from({ length: count * size }, () => rng.int(256));
  const reference = modelLogits(b, model, input, images, count);
  return { b, model, exported, images, count, reference };
}
