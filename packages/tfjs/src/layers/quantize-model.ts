import {
  type Backend,
  builtModuleUrl,
  type DqaConfig,
  type DqaConfigInput,
  DqaError,
  parseConfig,
  type QuantizerRegistry,
  resolveLayerQuantization,
  type StepInfo,
  type TrainableModel,
  type Variable,
} from '@dqa/core';
import { quantizers as defaultQuantizers } from '@dqa/quantizers';
import * as tf from '@tensorflow/tfjs';
import {
  isQuantizedLayer,
  type LayerQuantizationConfig,
  QUANTIZED_CLASS_NAMES,
  type QuantizableClassName,
  type QuantizedLayer,
} from './quantized-layers.js';
import { type LayerAttention, type QuantizationFunction, QuantizationSession } from './session.js';

/** The part of a DQA-TS configuration `quantizeModel` uses. */
export type QuantizeModelConfig = Pick<DqaConfigInput, 'quantization' | 'relaxation'>;

export interface QuantizeModelOptions {
  /** The DQA backend the relaxations run on; its tensors must be tf.Tensors (`createTfjsBackend`). */
  backend: Backend;
  /** Quantizer plugins (default: `quantizers` of @dqa/quantizers, including registered third-party ones). */
  quantizers?: QuantizerRegistry;
  /**
   * Layers with weights that DQA-TS cannot quantize (Conv1D, LSTM, …) and that should stay in float.
   * Any such layer not listed here is an error, so nothing is skipped silently.
   */
  keepFloat?: readonly string[];
}

/** What `quantizeModel` decided for one layer. */
export interface LayerPlan extends LayerQuantizationConfig {
  name: string;
  className: string;
}

/** Layers that carry weights but are kept in float by design (normalisation, learned activations). */
const FLOAT_BY_DESIGN = new Set(['BatchNormalization', 'LayerNormalization', 'PReLU']);

export class QuantizedModel {
  constructor(
    readonly model: tf.LayersModel,
    readonly session: QuantizationSession,
    /** Every layer that holds weights, and how it is quantized (null: float). */
    readonly plan: readonly LayerPlan[],
    /** What a worker thread needs to quantize the same model the same way (data-parallel training). */
    private readonly recipe?: QuantizedModelReplicaArgs,
  ) {}

  /** The quantized layers, in model order. */
  get quantizedLayers(): (tf.layers.Layer & QuantizedLayer)[] {
    return this.model.layers.filter(isQuantizedLayer);
  }

  /**
   * A callback for `model.fit` / `fitDataset` that drives the schedules: it counts batches, sets
   * the session's step (T(b), Binary-Relax's ω) and runs each layer's per-step hook (α ← α/std(α)).
   * `onAttention` receives every layer's mixing weights every `every` steps (Fig. 3a data).
   */
  callback(options: FitCallbackOptions = {}): tf.Callback {
    return new DqaFitCallback(this.session, options);
  }

  /**
   * The model as @dqa/core's `train` sees it, so the same Trainer that trains every DQA-TS model
   * (schedules, regularizers, checkpoints, resume) trains this one. The model must output logits:
   * the Trainer applies the softmax inside its cross-entropy.
   */
  trainable(): TrainableModel {
    const last = this.model.layers.at(-1);
    const activation = (last?.getConfig() as { activation?: unknown } | undefined)?.activation;
    if (activation === 'softmax') {
      throw new DqaError(
        'INVALID_ARGUMENT',
        `trainable(): the last layer '${last!.name}' applies a softmax, but the Trainer expects logits (it applies the softmax in its cross-entropy); build the model without the final softmax, or train it with model.fit`,
      );
    }
    const layers = this.quantizedLayers;
    const relaxed = layers.flatMap((l) =>
      [l.weightQuantizer, l.activationQuantizer].filter((q) => q !== null),
    );
    const relaxationVariables = new Set(
      relaxed.flatMap((q) => q.variables as unknown as tf.Variable[]),
    );
    const variables = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const session = this.session;
    const model = this.model;
    // Batch norm's moving statistics: updated by the forward pass in training mode, checkpointed.
    const state = this.model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
    return {
      variables: variables as unknown as Variable[],
      state: state as unknown as Variable[],
      // Weight decay on the layers' own weights, never on the attention α or PACT's clip.
      decayVariables: variables.filter((v) => !relaxationVariables.has(v)) as unknown as Variable[],
      quantizers: relaxed,
      weightCount: session.totalWeights,
      forward: (x, ctx) => {
        session.step = ctx.step;
        session.mode = ctx.hard ? 'hard' : 'relaxed';
        return model.apply(x as tf.Tensor, { training: ctx.training }) as tf.Tensor;
      },
      quantizationFunctions: (step, samples) => session.quantizationFunctions(step, samples),
      ...(this.recipe
        ? {
            replica: {
              module: builtModuleUrl(import.meta.url),
              export: 'quantizedModelReplica',
              args: this.recipe,
            },
          }
        : {}),
    };
  }

  /** After training: every layer uses its hard low-bit quantizer Q_1 from now on. */
  collapse(): void {
    this.session.collapse();
  }
}

/** What the `model.fit` callback streams (the paper's Fig. 3 data). */
export interface FitCallbackOptions {
  /** Every layer's mixing weights a_k (Fig. 3a), every `every` batches. */
  onAttention?: (step: StepInfo, attention: LayerAttention[]) => void;
  /** Every layer's effective quantization function q(w) (Fig. 3b), every `every` batches. */
  onQuantizationFunction?: (step: StepInfo, functions: QuantizationFunction[]) => void;
  /** Batches between events (default 1). */
  every?: number;
  /** Points per quantization function (default 256). */
  samples?: number;
}

class DqaFitCallback extends tf.Callback {
  private step = 0;
  private totalSteps = 1;
  private stepsPerEpoch = 1;

  constructor(
    private readonly session: QuantizationSession,
    private readonly options: FitCallbackOptions,
  ) {
    super();
  }

  override async onTrainBegin(): Promise<void> {
    const p = this.params as {
      epochs?: number;
      initialEpoch?: number;
      steps?: number | null;
      samples?: number;
      batchSize?: number;
    };
    const epochs = (p.epochs ?? 1) - (p.initialEpoch ?? 0);
    const perEpoch =
      p.steps ?? (p.samples && p.batchSize ? Math.ceil(p.samples / p.batchSize) : null);
    if (!perEpoch) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        'DQA callback: cannot tell the number of batches per epoch; pass batchesPerEpoch to fitDataset',
      );
    }
    this.stepsPerEpoch = perEpoch;
    this.totalSteps = Math.max(1, epochs * perEpoch);
    this.step = (p.initialEpoch ?? 0) * perEpoch;
  }

  override async onBatchBegin(): Promise<void> {
    this.session.beforeStep({
      step: this.step,
      totalSteps: this.totalSteps,
      stepsPerEpoch: this.stepsPerEpoch,
    });
  }

  override async onBatchEnd(): Promise<void> {
    this.session.afterStep();
    const o = this.options;
    if (this.step % (o.every ?? 1) === 0) {
      o.onAttention?.(this.session.step, this.session.attention());
      o.onQuantizationFunction?.(
        this.session.step,
        this.session.quantizationFunctions(this.session.step, o.samples),
      );
    }
    this.step++;
  }
}

/** What `quantizedModelReplica` rebuilds a quantized model from. */
export interface QuantizedModelReplicaArgs {
  /** The original (float) model's topology, `model.toJSON(null, false)`. */
  topology: object;
  config: DqaConfig;
  keepFloat: string[];
}

/**
 * Rebuilds, in a worker thread, the trainable model of `quantizeModel` from the original
 * topology and the same configuration: the same layers and variables in the same order (the
 * Trainer sends the weights every step). Quantizer plugins come from the default registry, which
 * third-party plugins join when the Trainer's `workerImports` imports them.
 */
export async function quantizedModelReplica(
  backend: Backend,
  args: QuantizedModelReplicaArgs,
): Promise<TrainableModel> {
  const model = await tf.models.modelFromJSON({
    modelTopology: args.topology as tf.io.ModelJSON['modelTopology'],
  });
  const quantized = await quantizeModel(model, args.config, {
    backend,
    keepFloat: args.keepFloat,
  });
  model.dispose();
  return quantized.trainable();
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

function resolveConfig(
  config: QuantizeModelConfig | DqaConfig,
  quantizers: QuantizerRegistry,
): DqaConfig {
  // quantizeModel needs only the quantization and relaxation sections; the rest is filled in.
  const input = config as Partial<DqaConfig>;
  return parseConfig(
    {
      model: { name: 'tfjs-layers-model' },
      data: { name: 'user-data' },
      ...(input.quantization !== undefined ? { quantization: input.quantization } : {}),
      ...(input.relaxation !== undefined ? { relaxation: input.relaxation } : {}),
    },
    { quantizers },
  );
}

/**
 * Returns a trainable copy of a tfjs-layers model whose Conv2D, DepthwiseConv2D and Dense layers
 * are quantized as `config` says (defaults, first/last-layer exceptions, per-layer overrides) —
 * the convention of TensorFlow Model Optimization's `quantize_model`. Weights are copied; the
 * original model is untouched. Layers with weights that cannot be quantized are an error naming
 * them, unless listed in `keepFloat`. Compile the returned model, then train it with
 * `model.fit(x, y, { callbacks: [quantized.callback()] })` and call `collapse()` before evaluating
 * the final low-bit model.
 */
export async function quantizeModel(
  model: tf.LayersModel,
  config: QuantizeModelConfig | DqaConfig,
  options: QuantizeModelOptions,
): Promise<QuantizedModel> {
  const quantizers = options.quantizers ?? defaultQuantizers;
  const cfg = resolveConfig(config, quantizers);
  const keepFloat = new Set(options.keepFloat ?? []);
  const known = new Set(model.layers.map((l) => l.name));
  const unknownKeep = [...keepFloat].filter((n) => !known.has(n));
  if (unknownKeep.length) {
    throw new DqaError(
      'INVALID_ARGUMENT',
      `quantizeModel: keepFloat names layers the model does not have: ${unknownKeep.join(', ')} (layers: ${[...known].join(', ')})`,
    );
  }

  const cannot: string[] = [];
  const quantizable: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (isQuantizedLayer(layer)) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        `quantizeModel: layer '${layer.name}' is already quantized (${cls})`,
      );
    }
    if (cls in QUANTIZED_CLASS_NAMES) quantizable.push(layer);
    else if (layer.weights.length > 0 && !FLOAT_BY_DESIGN.has(cls) && !keepFloat.has(layer.name)) {
      cannot.push(`${layer.name} (${cls})`);
    }
  }
  if (cannot.length) {
    throw new DqaError(
      'INVALID_ARGUMENT',
      `quantizeModel: cannot quantize ${cannot.join(', ')}: DQA-TS quantizes Conv2D, DepthwiseConv2D and Dense layers. ` +
        `Pass keepFloat: [${cannot.map((c) => `'${c.split(' ')[0]}'`).join(', ')}] to keep them in float.`,
    );
  }

  const plan: LayerPlan[] = [];
  const byName = new Map<string, LayerQuantizationConfig>();
  quantizable.forEach((layer, i) => {
    const q = keepFloat.has(layer.name)
      ? { weights: null, activations: null }
      : resolveLayerQuantization(cfg, {
          name: layer.name,
          isFirst: i === 0,
          isLast: i === quantizable.length - 1,
        });
    plan.push({ name: layer.name, className: layer.getClassName(), ...q });
    if (q.weights || q.activations) byName.set(layer.name, q);
  });
  for (const layer of model.layers) {
    if (layer.weights.length > 0 && !(layer.getClassName() in QUANTIZED_CLASS_NAMES)) {
      plan.push({
        name: layer.name,
        className: layer.getClassName(),
        weights: null,
        activations: null,
      });
    }
  }

  // Rebuild the topology from its JSON with the quantized classes swapped in.
  const json = model.toJSON(null, false) as unknown as {
    class_name: string;
    config: { layers: LayerJson[] };
  };
  for (const l of json.config.layers) {
    const q = byName.get(l.config.name);
    if (!q) continue;
    l.class_name = QUANTIZED_CLASS_NAMES[l.class_name as QuantizableClassName];
    l.config.dqaQuantization = q;
  }
  const copy = await tf.models.modelFromJSON({
    modelTopology: json as unknown as tf.io.ModelJSON['modelTopology'],
  });
  for (const layer of model.layers) {
    const target = copy.getLayer(layer.name);
    target.setWeights(layer.getWeights());
  }

  const session = new QuantizationSession(options.backend, quantizers, cfg.relaxation);
  // S of eq. 6: the float model's trainable weights.
  session.totalWeights = model.trainableWeights.reduce(
    (n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1),
    0,
  );
  for (const layer of copy.layers) if (isQuantizedLayer(layer)) layer.initQuantization(session);
  return new QuantizedModel(copy, session, plan, {
    topology: model.toJSON(null, false) as object,
    config: cfg,
    keepFloat: [...keepFloat],
  });
}
