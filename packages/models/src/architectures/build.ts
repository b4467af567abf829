import {
  ArgumentError,
  type Backend,
  type BatchNormEpilogue,
  builtModuleUrl,
  createRelaxedQuantizer,
  type DqaConfig,
  DqaError,
  type ForwardContext,
  formatShape,
  matchesLayer,
  type QuantizerRegistry,
  Random,
  type Registry,
  type Relaxation,
  type RelaxedQuantizer,
  type ReplicaRecipe,
  resolveLayerQuantization,
  ShapeError,
  type StepInfo,
  type Tensor,
  type TensorQuantConfig,
  type TrainableModel,
  type Variable,
} from '@dqa/core';
import { quantizers as defaultQuantizers } from '@dqa/quantizers';
import { countParameters, parameterSpecs, quantizableLayers } from './analysis.js';
import { initialValues } from './init.js';
import { ModelOptionError } from './options.js';
import { architectureSpec } from './registry.js';
import {
  type BatchNormNode,
  type ImageShape,
  MODEL_INPUT,
  type ModelNode,
  type ModelSpec,
  type QuantizableNode,
} from './spec.js';

/** Options of `buildModelFromSpec`. */
export interface BuildSpecOptions {
  /** Quantizer plugins (default: `quantizers` of @dqa/quantizers, with third-party registrations). */
  quantizers?: QuantizerRegistry;
  /** Relaxations (default: core's `ste`, `binary-relax`, `dqa`). */
  relaxations?: Registry<Relaxation<never>>;
  /**
   * Prefix of every variable name (`<scope>/<layer>/kernel`), so that two models can live on one
   * backend (variable names are unique per backend; tfjs' are global to the process).
   */
  scope?: string;
}

/** Options of `buildModel`. */
export interface BuildModelOptions extends BuildSpecOptions {
  /** Input shape the data set dictates; replaces `inputShape`/`inputSize` of `model.options`. */
  inputShape?: ImageShape;
  /** Classes the data set has; replaces `classes` of `model.options`. */
  classes?: number;
}

/** What `resolveLayerQuantization` decided for one quantizable layer. */
export interface LayerPlan {
  name: string;
  op: QuantizableNode['op'];
  isFirst: boolean;
  isLast: boolean;
  /** Weight quantization, or null: float weights. */
  weights: TensorQuantConfig | null;
  /** Quantization of the layer's input, or null: float inputs. */
  activations: TensorQuantConfig | null;
}

/** A built conv2d, depthwiseConv2d or dense layer. */
export interface BuiltLayer {
  readonly node: QuantizableNode;
  readonly kernel: Variable;
  readonly bias: Variable | null;
  readonly weightQuantizer: RelaxedQuantizer | null;
  readonly activationQuantizer: RelaxedQuantizer | null;
}

/** A layer's effective weight quantization function (the paper's Fig. 3b), sampled. */
export interface LayerQuantizationFunction {
  layer: string;
  /** Float weights of the layer at evenly spaced ranks, ascending (ends included). */
  w: number[];
  /** What the layer computes with at this step: q = Σ a_k Q_k(w). */
  q: number[];
}

/** What `builtModelReplica` rebuilds a model from (structured-cloneable). */
export interface BuiltModelReplicaArgs {
  spec: ModelSpec;
  config: DqaConfig;
  scope?: string;
}

/** A spec built on a backend: core's `TrainableModel` plus what exporters and tools need. */
export interface BuiltModel extends TrainableModel {
  readonly spec: ModelSpec;
  /** Per quantizable layer, in order: how it is quantized. */
  readonly plan: readonly LayerPlan[];
  /** Batch norm's moving means and variances (non-trainable; the Trainer checkpoints them). */
  readonly state: readonly Variable[];
  /** How a data-parallel worker rebuilds this model: `builtModelReplica` of @dqa/models' build. */
  readonly replica: ReplicaRecipe;
  /** The quantizable layers with their variables and quantizers, in order. */
  readonly layers: readonly BuiltLayer[];
  /**
   * Per quantized layer, its weight quantization function at `step`: `samples` float weights at
   * evenly spaced ranks and their effective quantized values (the Trainer's `quantization` events).
   */
  quantizationFunctions(step: StepInfo, samples: number): LayerQuantizationFunction[];
  /** A layer variable or state by its spec name (`<layer>/kernel`, `<layer>/moving_mean`, …). */
  parameter(name: string): Variable;
  /** Releases every variable (layers, state, relaxations). Idempotent. */
  dispose(): void;
}

/**
 * Builds the model `config.model` names (an architecture of the registry with `model.options`),
 * quantized as `config.quantization` says, initialised from `config.seed`.
 */
export function buildModel(
  b: Backend,
  config: DqaConfig,
  options: BuildModelOptions = {},
): BuiltModel {
  const archOptions: Record<string, unknown> = { ...config.model.options };
  if (options.inputShape !== undefined) {
    delete archOptions.inputSize;
    archOptions.inputShape = options.inputShape;
  }
  if (options.classes !== undefined) archOptions.classes = options.classes;
  const spec = architectureSpec(config.model.name, archOptions);
  return buildModelFromSpec(b, spec, config, options);
}

/** The per-layer plan: defaults, first/last-layer exceptions, overrides (later ones win). */
export function planQuantization(spec: ModelSpec, config: DqaConfig): LayerPlan[] {
  const layers = quantizableLayers(spec);
  config.quantization.overrides.forEach((o, i) => {
    const patterns = typeof o.layers === 'string' ? [o.layers] : o.layers;
    for (const p of patterns) {
      if (layers.some((l) => matchesLayer(p, l.name))) continue;
      const names = layers.map((l) => l.name);
      const shown = names.length > 12 ? [...names.slice(0, 12), '…'] : names;
      throw new ModelOptionError(
        spec.name,
        `quantization.overrides[${i}].layers`,
        `quantization.overrides[${i}].layers: pattern '${p}' matches no quantizable layer ('*' matches any run of characters); layers: ${shown.join(', ')}`,
      );
    }
  });
  return layers.map((node, i) => {
    const isFirst = i === 0;
    const isLast = i === layers.length - 1;
    const q = resolveLayerQuantization(config, { name: node.name, isFirst, isLast });
    return { name: node.name, op: node.op, isFirst, isLast, ...q };
  });
}

/** Depthwise kernels are `[fh, fw, C, multiplier]`: per-channel "last axis" means C (axis 2). */
function depthwiseChannelAxis(q: TensorQuantConfig): TensorQuantConfig {
  return {
    ...q,
    quantizers: q.quantizers.map((r) => ({
      ...r,
      channelAxis: r.channelAxis === -1 ? 2 : r.channelAxis,
    })),
  };
}

/**
 * Rebuilds, in a data-parallel worker thread, the model of `buildModelFromSpec`: the same variables
 * in the same order (the Trainer sends the weights every step). Quantizer plugins come from the
 * default registry, which third-party plugins join when the Trainer's `workerImports` imports them.
 */
export function builtModelReplica(backend: Backend, args: BuiltModelReplicaArgs): BuiltModel {
  return buildModelFromSpec(
    backend,
    args.spec,
    args.config,
    args.scope ? { scope: args.scope } : {},
  );
}

/**
 * Builds `spec` on `b`: variables initialised from `config.seed` (He normal for convolutions,
 * Glorot uniform for dense layers, γ = 1, β = 0), each quantizable layer's weights and inputs
 * through the relaxed quantizers `config` gives it (as @dqa/tfjs' quantized layers do), and a
 * forward pass that returns logits.
 */
export function buildModelFromSpec(
  b: Backend,
  spec: ModelSpec,
  config: DqaConfig,
  options: BuildSpecOptions = {},
): BuiltModel {
  const plan = planQuantization(spec, config);
  const params = parameterSpecs(spec);
  const quantizerRegistry = options.quantizers ?? defaultQuantizers;
  const scoped = (name: string) => (options.scope ? `${options.scope}/${name}` : name);
  const rng = new Random(config.seed);
  const byName = new Map<string, Variable>();
  const relaxed: RelaxedQuantizer[] = [];
  try {
    for (const p of params) {
      const values = initialValues(p, rng);
      const v = b.tidy(() =>
        b.variable(b.tensor(values, p.shape), { name: scoped(p.name), trainable: p.trainable }),
      );
      byName.set(p.name, v);
    }
    const layers: BuiltLayer[] = quantizableLayers(spec).map((node, i) => {
      const lp = plan[i]!;
      const kernel = byName.get(`${node.name}/kernel`)!;
      const common = {
        quantizers: quantizerRegistry,
        ...(options.relaxations ? { relaxations: options.relaxations } : {}),
        relaxationConfig: config.relaxation,
      };
      let weightQuantizer: RelaxedQuantizer | null = null;
      let activationQuantizer: RelaxedQuantizer | null = null;
      if (lp.weights) {
        const w = node.op === 'depthwiseConv2d' ? depthwiseChannelAxis(lp.weights) : lp.weights;
        weightQuantizer = createRelaxedQuantizer(b, w, {
          ...common,
          name: scoped(`${node.name}/weights`),
          rank: kernel.shape.length,
          target: 'weights',
        });
        relaxed.push(weightQuantizer);
      }
      if (lp.activations) {
        activationQuantizer = createRelaxedQuantizer(b, lp.activations, {
          ...common,
          name: scoped(`${node.name}/inputs`),
          rank: node.op === 'dense' ? 2 : 4,
          target: 'activations',
        });
        relaxed.push(activationQuantizer);
      }
      return {
        node,
        kernel,
        bias: byName.get(`${node.name}/bias`) ?? null,
        weightQuantizer,
        activationQuantizer,
      };
    });
    const replica: BuiltModelReplicaArgs = {
      spec,
      config,
      ...(options.scope ? { scope: options.scope } : {}),
    };
    return new SpecModel(b, spec, plan, params, byName, layers, relaxed, replica);
  } catch (e) {
    for (const q of relaxed) q.dispose();
    b.dispose([...byName.values()]);
    throw e;
  }
}

class SpecModel implements BuiltModel {
  readonly variables: readonly Variable[];
  readonly decayVariables: readonly Variable[];
  readonly state: readonly Variable[];
  readonly weightCount: number;
  readonly replica: ReplicaRecipe;
  private readonly layerByName: Map<string, BuiltLayer>;
  private disposed = false;
  /** Kernels quantized once for the evaluation in progress (see `evaluating`). */
  private frozen: Map<BuiltLayer, Tensor> | null = null;
  /**
   * Nodes computed together with the nodes after them, by name (see `planFusions`): a 2-D
   * convolution with the ReLU that is its only consumer, a batch norm with its ReLU, and a batch
   * norm with the residual add (and ReLU) that consumes it.
   */
  private readonly fusions: ReadonlyMap<string, Fusion>;

  constructor(
    private readonly b: Backend,
    readonly spec: ModelSpec,
    readonly plan: readonly LayerPlan[],
    params: ReturnType<typeof parameterSpecs>,
    private readonly byName: Map<string, Variable>,
    readonly layers: readonly BuiltLayer[],
    readonly quantizers: readonly RelaxedQuantizer[],
    replicaArgs: BuiltModelReplicaArgs,
  ) {
    const own = params.filter((p) => p.trainable).map((p) => byName.get(p.name)!);
    // Weight decay on the layers' own weights (kernels, biases, γ, β, as @dqa/tfjs' trainable()
    // does), never on the attention α or PACT's clip level.
    this.decayVariables = own;
    this.variables = [...own, ...quantizers.flatMap((q) => q.variables)];
    this.state = params.filter((p) => !p.trainable).map((p) => byName.get(p.name)!);
    // S of eq. 6: the float network's trainable weights.
    this.weightCount = countParameters(spec);
    this.layerByName = new Map(layers.map((l) => [l.node.name, l]));
    this.fusions = planFusions(spec);
    this.replica = {
      module: builtModuleUrl(import.meta.url),
      export: 'builtModelReplica',
      args: replicaArgs,
    };
  }

  quantizationFunctions(step: StepInfo, samples: number): LayerQuantizationFunction[] {
    const b = this.b;
    return this.layers.flatMap((layer) => {
      const wq = layer.weightQuantizer;
      if (!wq) return [];
      const q = b.tidy(() => wq.forward(layer.kernel, step));
      const wv = b.readSync(layer.kernel);
      const qv = b.readSync(q);
      b.dispose(q);
      const order = Array.from(wv.keys()).sort((i, j) => wv[i]! - wv[j]!);
      const n = Math.min(samples, order.length);
      const picks = Array.from(
        { length: n },
        (_, k) => order[Math.round((k * (order.length - 1)) / Math.max(n - 1, 1))]!,
      );
      return [{ layer: layer.node.name, w: picks.map((i) => wv[i]!), q: picks.map((i) => qv[i]!) }];
    });
  }

  parameter(name: string): Variable {
    const v = this.byName.get(name);
    if (!v) {
      throw new ArgumentError(
        `model '${this.spec.name}': no variable '${name}'; variables are named '<layer>/kernel', '<layer>/bias', '<layer>/gamma', '<layer>/beta', '<layer>/moving_mean', '<layer>/moving_variance'`,
      );
    }
    return v;
  }

  /**
   * The quantized kernels of an evaluation (`evaluating`): computed once, used by every batch.
   * The weights do not change during an evaluation, so the values are the same as quantizing at
   * every batch; a SAWB 2/4/8 mixture (exact α* at 8 bits) then costs one pass, not one a batch.
   */
  evaluating<T>(ctx: ForwardContext, fn: () => T): T {
    if (this.frozen || ctx.training) return fn();
    const b = this.b;
    const frozen = new Map<BuiltLayer, Tensor>();
    try {
      for (const layer of this.layers) {
        const wq = layer.weightQuantizer;
        if (!wq) continue;
        frozen.set(
          layer,
          b.tidy(() => (ctx.hard ? wq.hard(layer.kernel) : wq.forward(layer.kernel, ctx.step))),
        );
      }
      this.frozen = frozen;
      return fn();
    } finally {
      this.frozen = null;
      b.dispose([...frozen.values()]);
    }
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    if (this.disposed) {
      throw new DqaError('DISPOSED_TENSOR', `model '${this.spec.name}' has been disposed`);
    }
    const want = this.spec.inputShape;
    if (x.shape.length !== 4 || want.some((d, i) => x.shape[i + 1] !== d)) {
      throw new ShapeError(
        `model '${this.spec.name}': input must be [batch, ${want.join(', ')}] (NHWC), got ${formatShape(x.shape)}`,
      );
    }
    const b = this.b;
    return b.tidy(() => {
      const values = new Map<string, Tensor>([[MODEL_INPUT, x]]);
      for (const node of this.spec.nodes) {
        if (values.has(node.name)) continue; // computed by a fused node before it
        const f = this.fusions.get(node.name);
        if (f?.kind === 'deferred') continue; // a batch norm computed at its residual add
        if (f?.kind === 'residual') {
          const bn = f.batchNorm;
          values.set(
            f.output,
            this.batchNorm(bn, values.get(bn.inputs[0]!)!, ctx.training, {
              residual: values.get(f.residual)!,
              activation: f.activation,
            }),
          );
          continue;
        }
        const ins = node.inputs.map((n) => values.get(n)!);
        if (f?.kind === 'relu' && node.op === 'batchNorm')
          values.set(f.output, this.batchNorm(node, ins[0]!, ctx.training, { activation: 'relu' }));
        else if (f?.kind === 'relu') values.set(f.output, this.apply(node, ins, ctx, 'relu'));
        else values.set(node.name, this.apply(node, ins, ctx));
      }
      return values.get(this.spec.nodes[this.spec.nodes.length - 1]!.name)!;
    });
  }

  /** One node's output; `activation` (a 2-D convolution's only): the ReLU fused into it. */
  private apply(
    node: ModelNode,
    ins: Tensor[],
    ctx: ForwardContext,
    activation: 'linear' | 'relu' = 'linear',
  ): Tensor {
    const b = this.b;
    const x = ins[0]!;
    switch (node.op) {
      case 'conv2d':
      case 'depthwiseConv2d':
      case 'dense': {
        const layer = this.layerByName.get(node.name)!;
        const aq = layer.activationQuantizer;
        const input = aq ? (ctx.hard ? aq.hard(x) : aq.forward(x, ctx.step)) : x;
        const wq = layer.weightQuantizer;
        const k = wq
          ? (this.frozen?.get(layer) ??
            (ctx.hard ? wq.hard(layer.kernel) : wq.forward(layer.kernel, ctx.step)))
          : layer.kernel;
        if (node.op === 'dense') {
          const y = b.matMul(input, k);
          return layer.bias ? b.add(y, layer.bias) : y;
        }
        const o = { strides: node.strides, padding: node.padding, dilations: node.dilations };
        if (node.op === 'depthwiseConv2d') {
          const y = b.depthwiseConv2d(input, k, o);
          return layer.bias ? b.add(y, layer.bias) : y;
        }
        return b.fusedConv2d(input, k, {
          ...o,
          ...(layer.bias ? { bias: layer.bias } : {}),
          activation,
        });
      }
      case 'batchNorm':
        return this.batchNorm(node, x, ctx.training);
      case 'relu':
        return b.relu(x);
      case 'relu6':
        return b.clip(x, 0, 6);
      case 'maxPool':
      case 'avgPool': {
        const o = { filterSize: node.pool, strides: node.strides, padding: node.padding };
        return node.op === 'maxPool' ? b.maxPool(x, o) : b.avgPool(x, o);
      }
      case 'globalAvgPool':
        return b.mean(x, [1, 2]);
      case 'flatten':
        return b.reshape(x, [x.shape[0]!, -1]);
      case 'add':
        return b.add(x, ins[1]!);
    }
  }

  /**
   * Training: normalise with the batch's mean and (biased) variance over every axis but the last,
   * gradients flowing through both, and move the moving statistics towards them, the variance
   * with Bessel's correction as PyTorch and tfjs-layers do. The update is an `assign`, outside
   * the gradient path. Evaluation: normalise with the moving statistics.
   */
  private batchNorm(
    node: BatchNormNode,
    x: Tensor,
    training: boolean,
    epilogue: BatchNormEpilogue = {},
  ): Tensor {
    const b = this.b;
    const gamma = this.byName.get(`${node.name}/gamma`)!;
    const beta = this.byName.get(`${node.name}/beta`)!;
    const movingMean = this.byName.get(`${node.name}/moving_mean`)!;
    const movingVariance = this.byName.get(`${node.name}/moving_variance`)!;
    if (!training) {
      let y = b.batchNorm(x, movingMean, movingVariance, beta, gamma, node.epsilon);
      if (epilogue.residual) y = b.add(y, epilogue.residual);
      return epilogue.activation === 'relu' ? b.relu(y) : y;
    }
    const { y, mean, variance } = b.batchNormTraining(x, beta, gamma, node.epsilon, epilogue);
    const n = x.size / x.shape[x.shape.length - 1]!;
    const m = node.momentum;
    const nextMean = b.add(b.mul(movingMean, m), b.mul(mean, 1 - m));
    const nextVariance = b.add(
      b.mul(movingVariance, m),
      b.mul(variance, ((1 - m) * n) / Math.max(n - 1, 1)),
    );
    movingMean.assign(nextMean);
    movingVariance.assign(nextVariance);
    return y;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const q of this.quantizers) q.dispose();
    this.b.dispose([...this.byName.values()]);
  }
}

/** How `BuiltModel.forward` computes a node together with the ones after it. */
type Fusion =
  /** This node (a 2-D convolution or a batch norm) also applies the ReLU `output`. */
  | { kind: 'relu'; output: string }
  /** This batch norm is computed at its residual add (the add's other input comes later). */
  | { kind: 'deferred' }
  /** This add runs as `batchNorm` + `residual` (+ ReLU), and its result is node `output`'s. */
  | {
      kind: 'residual';
      batchNorm: BatchNormNode;
      residual: string;
      activation: 'linear' | 'relu';
      output: string;
    };

/**
 * The fusions of a spec: a 2-D convolution or batch norm whose only consumer is a ReLU computes
 * it (`fusedConv2d`, `batchNormTraining`'s epilogue); a batch norm whose only consumer is an add
 * computes the add (and the ReLU that is the add's only consumer) with the other input as its
 * residual. Each fused-away node is used by nothing else, so no value is lost.
 */
export function planFusions(spec: ModelSpec): Map<string, Fusion> {
  const consumers = new Map<string, ModelNode[]>();
  for (const node of spec.nodes)
    for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const last = spec.nodes[spec.nodes.length - 1]!.name;
  const only = (name: string) => {
    const after = consumers.get(name);
    return name !== last && after?.length === 1 ? after[0]! : undefined;
  };
  const fusions = new Map<string, Fusion>();
  for (const node of spec.nodes) {
    if (node.op !== 'conv2d' && node.op !== 'batchNorm') continue;
    const next = only(node.name);
    if (next?.op === 'relu') fusions.set(node.name, { kind: 'relu', output: next.name });
    else if (
      node.op === 'batchNorm' &&
      next?.op === 'add' &&
      !fusions.has(next.name) &&
      next.inputs[0] !== next.inputs[1]
    ) {
      const relu = only(next.name);
      fusions.set(node.name, { kind: 'deferred' });
      fusions.set(next.name, {
        kind: 'residual',
        batchNorm: node,
        residual: next.inputs[0] === node.name ? next.inputs[1]! : next.inputs[0]!,
        activation: relu?.op === 'relu' ? 'relu' : 'linear',
        output: relu?.op === 'relu' ? relu.name : next.name,
      });
    }
  }
  return fusions;
}
