import {
  ArgumentError,
  createRelaxedQuantizer,
  DqaError,
  parameterBounds,
  type RelaxedQuantizer,
  type StepInfo,
  type TensorQuantConfig,
  type Variable,
} from '@dqa/core';
import * as tf from '@tensorflow/tfjs';
import type {
  LayerAttention,
  QuantizationFunction,
  QuantizationSession,
  SessionLayer,
} from './session.js';

/**
 * Quantized versions of tfjs-layers' Conv2D, DepthwiseConv2D and Dense. Each subclasses the stock
 * layer (same config, initializers, regularizers, output shapes, serialization) and changes one
 * thing: in `call`, the kernel the stock code reads is the relaxation's effective tensor
 * q = Σ a_k Q_k(w) (or Q_1(w) once the session has collapsed), and the layer input goes through the
 * activation relaxation when one is configured. The relaxation's variables (DQA's α, PACT's clip)
 * are layer weights, so `model.fit`, the optimizer and `getWeights` see them, and DQA's
 * regularizer (eq. 6) is a layer loss, so it enters the training loss.
 */

/** The per-layer quantization a quantized layer carries in its config (`dqaQuantization`). */
export interface LayerQuantizationConfig {
  weights: TensorQuantConfig | null;
  activations: TensorQuantConfig | null;
}

/** The stock layer fields the quantized layers rely on. */
interface StockLayer extends tf.layers.Layer {
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  getConfig(): tf.serialization.ConfigDict;
}

type StockLayerClass = new (args: Record<string, unknown>) => StockLayer;

/** A kernel holder as the stock layers use it (`this.kernel.read()`). */
interface KernelHolder {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
  shape: number[];
}

function stockClass(className: string): StockLayerClass {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry)
    throw new DqaError('BACKEND_CAPABILITY', `tfjs-layers has no '${className}' layer class`);
  return entry[0] as unknown as StockLayerClass;
}

/** The quantized layer classes' names, as they appear in saved model JSON. */
export const QUANTIZED_CLASS_NAMES = {
  Conv2D: 'DqaConv2D',
  DepthwiseConv2D: 'DqaDepthwiseConv2D',
  Dense: 'DqaDense',
} as const;

export type QuantizableClassName = keyof typeof QUANTIZED_CLASS_NAMES;

/** Public surface of a quantized layer. */
export interface QuantizedLayer extends SessionLayer {
  readonly quantization: LayerQuantizationConfig;
  readonly weightQuantizer: RelaxedQuantizer | null;
  readonly activationQuantizer: RelaxedQuantizer | null;
  /** The kernel as evaluation uses it after `session.collapse()`: Q_1(w). */
  hardKernel(): tf.Tensor;
  /** The float kernel variable. */
  floatKernel(): tf.Tensor;
}

/** The constructor of a quantized layer class (the stock layer's args plus `dqaQuantization`). */
export interface QuantizedLayerClass {
  new (args: Record<string, unknown>): tf.layers.Layer & QuantizedLayer;
  readonly className: string;
}

function quantizedClass(
  stockName: QuantizableClassName,
  kernelField: 'kernel' | 'depthwiseKernel',
): QuantizedLayerClass {
  const Base = stockClass(stockName);
  const className = QUANTIZED_CLASS_NAMES[stockName];

  class Quantized extends Base implements QuantizedLayer {
    static className = className;
    readonly quantization: LayerQuantizationConfig;
    weightQuantizer: RelaxedQuantizer | null = null;
    activationQuantizer: RelaxedQuantizer | null = null;
    private session: QuantizationSession | null = null;

    constructor(args: Record<string, unknown>) {
      const { dqaQuantization, ...stock } = args;
      super(stock);
      const q = (dqaQuantization ?? {
        weights: null,
        activations: null,
      }) as LayerQuantizationConfig;
      this.quantization = { weights: q.weights ?? null, activations: q.activations ?? null };
    }

    override getClassName(): string {
      return className;
    }

    override getConfig(): tf.serialization.ConfigDict {
      return {
        ...super.getConfig(),
        dqaQuantization: this.quantization as unknown as tf.serialization.ConfigDictValue,
      };
    }

    private kernelHolder(): KernelHolder {
      const k = (this as unknown as Record<string, KernelHolder | null>)[kernelField];
      if (!k)
        throw new DqaError(
          'INVALID_ARGUMENT',
          `layer '${this.name}' is not built yet (no ${kernelField})`,
        );
      return k;
    }

    floatKernel(): tf.Tensor {
      return this.kernelHolder().read();
    }

    /** A trainable layer weight holding `values`: how relaxations' variables join the layer. */
    private makeVariable = (
      name: string,
      values: readonly number[],
      shape: readonly number[],
    ): Variable => {
      // e.g. `conv2/weights/dqa_alpha`: scoped by the layer like its kernel (`conv2/kernel`).
      const scoped = name.replace(/[^A-Za-z0-9_./-]/g, '_');
      const lv = this.addWeight(
        scoped,
        [...shape],
        'float32',
        tf.initializers.zeros(),
        undefined,
        true,
      );
      lv.write(tf.tensor(values as number[], [...shape]));
      return lv.read() as tf.Variable as unknown as Variable;
    };

    initQuantization(session: QuantizationSession): void {
      if (this.session)
        throw new ArgumentError(`layer '${this.name}' already belongs to a quantization session`);
      if (!this.built)
        throw new ArgumentError(
          `layer '${this.name}' must be built before its quantization is initialised`,
        );
      this.session = session;
      const kernel = this.kernelHolder();
      const common = {
        quantizers: session.quantizers,
        relaxationConfig: session.relaxation,
        makeVariable: this.makeVariable,
      };
      const w = this.quantization.weights;
      if (w) {
        // Depthwise kernels are [fh, fw, C, multiplier]: "the last axis" means the channel C.
        const spec =
          kernelField === 'depthwiseKernel'
            ? {
                ...w,
                quantizers: w.quantizers.map((q) => ({
                  ...q,
                  channelAxis: q.channelAxis === -1 ? 2 : q.channelAxis,
                })),
              }
            : w;
        this.weightQuantizer = createRelaxedQuantizer(session.backend, spec, {
          ...common,
          name: `${this.name}/weights`,
          rank: kernel.shape.length,
          target: 'weights',
        });
      }
      const a = this.quantization.activations;
      if (a) {
        const rank = (this.batchInputShape?.length ?? this.inputSpec?.[0]?.ndim ?? 4) as number;
        this.activationQuantizer = createRelaxedQuantizer(session.backend, a, {
          ...common,
          name: `${this.name}/inputs`,
          rank,
          target: 'activations',
        });
      }
      for (const rq of [this.weightQuantizer, this.activationQuantizer]) {
        if (rq?.relaxation === 'dqa') {
          this.addLoss(() => rq.regularizer(session.step, session.totalWeights) as tf.Scalar);
        }
      }
      session.layers.push(this);
    }

    beforeStep(step: StepInfo): void {
      this.weightQuantizer?.beforeStep(step);
      this.activationQuantizer?.beforeStep(step);
    }

    afterStep(): void {
      const quantizers = [this.weightQuantizer, this.activationQuantizer].filter(
        (q): q is RelaxedQuantizer => q !== null,
      );
      for (const [v, min] of parameterBounds(quantizers)) {
        const tv = v as unknown as tf.Variable;
        tf.tidy(() => tv.assign(tf.maximum(tv, min)));
      }
    }

    attention(step: StepInfo): LayerAttention {
      return {
        layer: this.name,
        weights: this.weightQuantizer?.mixingWeights(step) ?? null,
        activations: this.activationQuantizer?.mixingWeights(step) ?? null,
      };
    }

    quantizationFunction(step: StepInfo, samples: number): QuantizationFunction | null {
      const wq = this.weightQuantizer;
      if (!wq) return null;
      return tf.tidy(() => {
        const w = this.floatKernel();
        const q = (this.session?.mode === 'hard' ? wq.hard(w) : wq.forward(w, step)) as tf.Tensor;
        const wv = w.dataSync();
        const qv = q.dataSync();
        // Evenly spaced ranks of the sorted weights, ends included.
        const order = Array.from(wv.keys()).sort((i, j) => wv[i]! - wv[j]!);
        const n = Math.min(samples, order.length);
        const picks = Array.from(
          { length: n },
          (_, k) => order[Math.round((k * (order.length - 1)) / Math.max(n - 1, 1))]!,
        );
        return { layer: this.name, w: picks.map((i) => wv[i]!), q: picks.map((i) => qv[i]!) };
      });
    }

    hardKernel(): tf.Tensor {
      const w = this.floatKernel();
      return this.weightQuantizer ? (this.weightQuantizer.hard(w) as tf.Tensor) : w.clone();
    }

    override call(
      inputs: tf.Tensor | tf.Tensor[],
      kwargs: Record<string, unknown>,
    ): tf.Tensor | tf.Tensor[] {
      const session = this.session;
      if (!session) {
        throw new DqaError(
          'INVALID_ARGUMENT',
          `quantized layer '${this.name}' has no quantization session: create the model with quantizeModel()`,
        );
      }
      return tf.tidy(() => {
        const hard = session.mode === 'hard';
        let x = Array.isArray(inputs) ? inputs[0]! : inputs;
        const aq = this.activationQuantizer;
        if (aq) x = (hard ? aq.hard(x) : aq.forward(x, session.step)) as tf.Tensor;
        const wq = this.weightQuantizer;
        if (!wq) return super.call(x, kwargs);
        const holder = this.kernelHolder();
        const w = holder.read();
        const q = (hard ? wq.hard(w) : wq.forward(w, session.step)) as tf.Tensor;
        // The stock call reads `this[kernelField].read()`: hand it the quantized kernel.
        const self = this as unknown as Record<string, unknown>;
        self[kernelField] = { ...holder, read: () => q, shape: holder.shape };
        try {
          return super.call(x, kwargs);
        } finally {
          self[kernelField] = holder;
        }
      });
    }
  }
  tf.serialization.registerClass(
    Quantized as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>,
  );
  return Quantized as unknown as QuantizedLayerClass;
}

/** Quantized Conv2D: the stock layer with a relaxed-quantized kernel (and optionally inputs). */
export const DqaConv2D: QuantizedLayerClass = quantizedClass('Conv2D', 'kernel');
/** Quantized DepthwiseConv2D. */
export const DqaDepthwiseConv2D: QuantizedLayerClass = quantizedClass(
  'DepthwiseConv2D',
  'depthwiseKernel',
);
/** Quantized Dense. */
export const DqaDense: QuantizedLayerClass = quantizedClass('Dense', 'kernel');

/** Whether a layer is one of the quantized layer classes. */
export function isQuantizedLayer(
  layer: tf.layers.Layer,
): layer is tf.layers.Layer & QuantizedLayer {
  return (
    layer instanceof DqaConv2D || layer instanceof DqaDepthwiseConv2D || layer instanceof DqaDense
  );
}
