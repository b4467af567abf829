/**
 * What the speed benchmark measures: its models, its variants and the settings of a run. Plain
 * data, no tfjs: the CLI and the report import this without loading an engine.
 */

export type SpeedModelId = 'small-cnn' | 'resnet20';
export type SpeedVariantId = 'fp' | 'ste2' | 'dqa248';

export interface SpeedModelInfo {
  id: SpeedModelId;
  label: string;
  description: string;
  /** Height, width, channels of one input image. */
  inputShape: readonly [number, number, number];
  /** The batch size the issue measures at. */
  batch: number;
  classes: number;
  /** Multiply-accumulates of one forward pass of one image (for the ETA's first guesses). */
  macsPerImage: number;
}

export const speedModels: Readonly<Record<SpeedModelId, SpeedModelInfo>> = {
  'small-cnn': {
    id: 'small-cnn',
    label: 'small CNN',
    description:
      "conv3×3 1→32 'same' ReLU, maxpool 2, conv3×3 32→64 'same' ReLU, maxpool 2, dense 3136→10; 28×28×1",
    inputShape: [28, 28, 1],
    batch: 64,
    classes: 10,
    // conv1 28·28·32·9 + conv2 14·14·64·9·32 + dense 3136·10
    macsPerImage: 3_869_824,
  },
  resnet20: {
    id: 'resnet20',
    label: 'ResNet-20',
    description:
      'CIFAR ResNet-20: 3 stages × 3 basic blocks, 16/32/64 channels, batch norm, 1×1 projection shortcuts at stride 2 (option B), global average pool, dense 64→10; 32×32×3',
    inputShape: [32, 32, 3],
    batch: 128,
    classes: 10,
    // He et al.'s ≈ 41 M for ResNet-20, plus the two 1×1 projections (2 × 131 072)
    macsPerImage: 41_000_000,
  },
};

export const speedModelIds = Object.keys(speedModels) as SpeedModelId[];

/** The quantization part of a DQA-TS configuration, as `quantizeModel` takes it. */
export interface SpeedQuantization {
  quantization: {
    weights: { relaxation: string; quantizers: { id: string; bits: number }[] };
    quantizeFirstLayer: boolean;
    quantizeLastLayer: boolean;
  };
  relaxation?: { dqa: { lambda: number } };
}

export interface SpeedVariantInfo {
  id: SpeedVariantId;
  label: string;
  description: string;
  /** null: the stock float layers. */
  config: SpeedQuantization | null;
}

const minmax = (bits: number) => ({ id: 'minmax', bits });

/**
 * The three training variants. The quantized ones quantize every Conv2D and Dense layer, the first
 * and the last included (`quantizeFirstLayer`/`quantizeLastLayer`: true, not the library's
 * default): the benchmark measures the cost of quantized training, so every layer pays it. Batch
 * norm stays in float, as `quantizeModel` always keeps it.
 */
export const speedVariants: Readonly<Record<SpeedVariantId, SpeedVariantInfo>> = {
  fp: {
    id: 'fp',
    label: 'FP',
    description: 'float32, the stock layers',
    config: null,
  },
  ste2: {
    id: 'ste2',
    label: 'STE 2-bit',
    description: '2-bit min-max weights, straight-through gradients (relaxation `ste`)',
    config: {
      quantization: {
        weights: { relaxation: 'ste', quantizers: [minmax(2)] },
        quantizeFirstLayer: true,
        quantizeLastLayer: true,
      },
    },
  },
  dqa248: {
    id: 'dqa248',
    label: 'DQA 2/4/8',
    description:
      'DQA over 2/4/8-bit min-max weights: softmax(α/T) attention, α normalised each step, regularizer λ·gᵀa/S with λ = 1',
    config: {
      quantization: {
        weights: { relaxation: 'dqa', quantizers: [minmax(2), minmax(4), minmax(8)] },
        quantizeFirstLayer: true,
        quantizeLastLayer: true,
      },
      relaxation: { dqa: { lambda: 1 } },
    },
  },
};

export const speedVariantIds = Object.keys(speedVariants) as SpeedVariantId[];

/** SGD with momentum, the same in every engine. */
export const speedOptimizer = { learningRate: 0.01, momentum: 0.9 } as const;

/** What one engine process is asked to measure (sent to it as JSON). */
export interface SpeedRequest {
  /** The engine inside the process (`wasm`, `cpu`, `tensorflow` for tfjs; ignored by PyTorch). */
  engine: string;
  models: SpeedModelId[];
  variants: SpeedVariantId[];
  /** Timed steps per cell, at most. */
  steps: number;
  /** Untimed steps before them. */
  warmup: number;
  /**
   * Seconds of timed steps after which a cell stops early, once it has at least `minSteps`
   * (0: no limit). Keeps a 10-second-a-step cell from running for minutes.
   */
  timeBudgetS: number;
  minSteps: number;
  /** Batch size per model (the 64 and 128 unless overridden). */
  batch: Record<SpeedModelId, number>;
  learningRate: number;
  momentum: number;
  /** Threads the engine may use (PyTorch's `set_num_threads`; the data-parallel tfjs Trainer's threads). */
  threads: number;
  /**
   * tfjs only: time @dqa/core's Trainer step (schedules, loss + regularizer, gradients over
   * `threads` data-parallel threads, SGD) instead of tfjs-layers' `trainOnBatch`.
   */
  trainer?: boolean;
}
