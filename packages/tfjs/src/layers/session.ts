import type {
  Backend,
  DqaConfig,
  QuantizationFunction,
  QuantizerRegistry,
  StepInfo,
} from '@dqa/core';

/** How quantized layers run: the training mixture, or the collapsed hard low-bit quantizers. */
export type QuantizationMode = 'relaxed' | 'hard';

/** One layer's attention (mixing weights) at a step, for logs and the paper's Fig. 3a. */
export interface LayerAttention {
  layer: string;
  /** Mixing weights a_k of the weight quantizers (Q_1 first), or null when weights are float. */
  weights: number[] | null;
  /** Mixing weights of the activation quantizers, or null. */
  activations: number[] | null;
}

/** A layer's effective weight quantization function at a step (Fig. 3b); defined in @dqa/core. */
export type { QuantizationFunction };

/** What a quantized layer needs from the model it belongs to. */
export interface SessionLayer {
  readonly name: string;
  /** Creates the layer's relaxed quantizers and their trainable variables. */
  initQuantization(session: QuantizationSession): void;
  beforeStep(step: StepInfo): void;
  /** After the optimizer's update: projects bounded plugin parameters (PACT's α ≥ its min). */
  afterStep(): void;
  attention(step: StepInfo): LayerAttention;
  /** The effective weight quantization function, or null when the weights are float. */
  quantizationFunction(step: StepInfo, samples: number): QuantizationFunction | null;
}

/**
 * The state shared by the quantized layers of one model: the compute backend their relaxations
 * run on, where training is (the schedules are pure functions of it), S (the network's weight
 * count, eq. 6) and whether layers use the training mixture or the hard quantizers.
 */
export class QuantizationSession {
  step: StepInfo = { step: 0, totalSteps: 1, stepsPerEpoch: 1 };
  mode: QuantizationMode = 'relaxed';
  /** S of eq. 6: the number of weights in the whole network. */
  totalWeights = 1;
  readonly layers: SessionLayer[] = [];

  constructor(
    readonly backend: Backend,
    readonly quantizers: QuantizerRegistry,
    readonly relaxation: DqaConfig['relaxation'],
  ) {}

  /** Sets the step and runs every layer's per-step hook (DQA: α ← α / std(α)). */
  beforeStep(step: StepInfo): void {
    this.step = step;
    for (const layer of this.layers) layer.beforeStep(step);
  }

  /**
   * After each optimizer update: keeps every bounded plugin parameter within its bound (PACT's
   * clip level ≥ PACT_MIN_ALPHA), as @dqa/core's Trainer does; tfjs optimizers know no bounds.
   */
  afterStep(): void {
    for (const layer of this.layers) layer.afterStep();
  }

  /** Every layer's current mixing weights. */
  attention(step: StepInfo = this.step): LayerAttention[] {
    return this.layers.map((l) => l.attention(step));
  }

  /** Every quantized layer's effective weight quantization function (`samples` points each). */
  quantizationFunctions(step: StepInfo = this.step, samples = 256): QuantizationFunction[] {
    return this.layers.flatMap((l) => l.quantizationFunction(step, samples) ?? []);
  }

  /** From now on every layer uses its hard low-bit quantizer Q_1 (evaluation, export). */
  collapse(): void {
    this.mode = 'hard';
  }
}
