import { z } from 'zod';

/**
 * The configuration of a DQA-TS run, as a zod schema: structure, types, ranges and defaults live
 * here; the checks that need the plugin registries (known quantizer ids, accepted bits, K per
 * relaxation) are in `parse.ts`. Every object is strict: an unknown key is an error naming it.
 */

export const granularitySchema = z.enum(['tensor', 'channel']);

/** One quantizer Q_k of a layer: plugin id and bitwidth n_k. */
export const quantizerRefSchema = z.strictObject({
  /** Registered quantizer id: `minmax`, `sawb`, `bwn`, `twn`, `pact`, `fp`, or a plugin's. */
  id: z.string().min(1),
  /** Bitwidth n_k (32 for `fp`). */
  bits: z.number().int().positive(),
  /** Per tensor (the paper) or per output channel (`minmax` and `sawb`). */
  granularity: granularitySchema.default('tensor'),
  /** Channel axis for per-channel quantization; default the last (HWIO and [in, out] layouts). */
  channelAxis: z.number().int().default(-1),
});

/** How one tensor kind (weights or activations) is quantized. */
export const tensorQuantSchema = z.strictObject({
  /** `ste` (one quantizer), `binary-relax`, `dqa`, `qnet`, or a registered relaxation. */
  relaxation: z.string().min(1),
  /** Q_1 … Q_K, sorted by bitwidth; Q_1 is what the model is finally quantized to. */
  quantizers: z.array(quantizerRefSchema),
});

export const temperatureConfigSchema = z.strictObject({
  shape: z.enum(['exponential', 'linear', 'cosine']).default('exponential'),
  /** T(0); the paper's 100. */
  t0: z.number().positive().default(100),
  /** T(B); the paper's 0.03. */
  tEnd: z.number().positive().default(0.03),
});

export const dqaConfigSchema = z.strictObject({
  temperature: temperatureConfigSchema.default({ shape: 'exponential', t0: 100, tEnd: 0.03 }),
  /** λ of eq. 6 (the paper's tables use 0.5–30). */
  lambda: z.number().nonnegative().default(1),
  /** Penalty g, strictly increasing, one per quantizer; default [1, 4, 16, …]. */
  g: z.array(z.number()).optional(),
  /** α initialisation: `eq7` or explicit values, one per quantizer. */
  init: z.union([z.literal('eq7'), z.array(z.number())]).default('eq7'),
  /** Algorithm 1's α ← α / std(α) each step. */
  normalize: z.boolean().default(true),
});

export const binaryRelaxConfigSchema = z.strictObject({
  /** `literal`: ω = 1.02^epoch (eq. 8); `scaled`: ω = 1.02^(300·t) for short runs. */
  schedule: z.enum(['literal', 'scaled']).default('literal'),
  growth: z.number().gt(1).default(1.02),
  refEpochs: z.number().int().positive().default(300),
});

export const qnetTemperatureConfigSchema = z.strictObject({
  /** How T rises from t0 to tEnd over the run: linear or exponential in the step. */
  // Exponential by default: with T(B) ≈ 138 a linear rise makes the sigmoids steep from early on
  // and short runs diverge (measured: 32 steps of cnn-small on MNIST, 15.6 % linear vs 75.8 %
  // exponential); exponential stays near 1 for most of the run and sharpens at the end.
  shape: z.enum(['linear', 'exponential']).default('exponential'),
  /** T(0); Quantization Networks start at 1. */
  t0: z.number().positive().default(1),
  /**
   * T(B), above t0; `auto`: ln((1 − ε)/ε)/(band·h) (h the smallest step height in mean gaps, 1
   * for uniform levels), so every sigmoid is within ε of its step except within band·h of its
   * threshold, and the soft and hard quantizers agree on the final model (≈ 138 for ε = 10⁻³,
   * band 0.05).
   */
  tEnd: z.union([z.literal('auto'), z.number().positive()]).default('auto'),
});

export const qnetConfigSchema = z.strictObject({
  temperature: qnetTemperatureConfigSchema.default({
    shape: 'exponential',
    t0: 1,
    tEnd: 'auto',
  }),
  /** ε of the `auto` end temperature: how close to a unit step each sigmoid ends. */
  epsilon: z.number().gt(0).lt(0.5).default(1e-3),
  /** Half-width (in step heights) of the band around each threshold left soft by `auto`. */
  band: z.number().gt(0).max(0.5).default(0.05),
});

export const layerOverrideSchema = z.strictObject({
  /** Layer names this override applies to; `*` matches any run of characters (e.g. `conv1`, `block2.*`). */
  layers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** Replaces the default weight quantization for these layers; `null` keeps them in float. */
  weights: tensorQuantSchema.nullable().optional(),
  /** Replaces the default activation quantization for these layers; `null` keeps them in float. */
  activations: tensorQuantSchema.nullable().optional(),
});

export const quantizationConfigSchema = z.strictObject({
  /** Weight quantization of every quantizable layer; `null` trains in float. */
  weights: tensorQuantSchema.nullable().default(null),
  /** Activation quantization (inputs of quantized layers); `null` keeps activations in float. */
  activations: tensorQuantSchema.nullable().default(null),
  /** Quantize the first layer too (common practice keeps it in float). */
  quantizeFirstLayer: z.boolean().default(false),
  /** Quantize the last layer too (common practice keeps it in float). */
  quantizeLastLayer: z.boolean().default(false),
  /** Per-layer exceptions, applied in order (later ones win). */
  overrides: z.array(layerOverrideSchema).default([]),
});

export const learningRateConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('step'),
    initial: z.number().positive().default(0.1),
    /** Fractions of training where the rate drops; the paper's 1/3 and 2/3. */
    milestones: z.array(z.number().gt(0).lt(1)).default([1 / 3, 2 / 3]),
    gamma: z.number().positive().lt(1).default(0.1),
  }),
  z.strictObject({
    kind: z.literal('cosine'),
    initial: z.number().positive().default(0.1),
    final: z.number().nonnegative().default(0),
  }),
  z.strictObject({ kind: z.literal('constant'), initial: z.number().positive() }),
]);

export const optimizerConfigSchema = z.strictObject({
  kind: z.literal('sgd').default('sgd'),
  momentum: z.number().min(0).lt(1).default(0.9),
  weightDecay: z.number().nonnegative().default(5e-4),
  nesterov: z.boolean().default(false),
});

export const modelConfigSchema = z.strictObject({
  /** Architecture name from @dqa/models (`cnn-small`, `resnet20`, …). */
  name: z.string().min(1),
  /** Architecture options (width multiplier, classes, …), checked by the model's own schema. */
  options: z.record(z.string(), z.unknown()).default({}),
});

export const dataConfigSchema = z.strictObject({
  /** Data set name (`mnist`, `fashion-mnist`, `cifar10`, `cifar100`, …). */
  name: z.string().min(1),
  /** Folder holding the data set's files, for data sets read from the user's disk. */
  root: z.string().min(1).optional(),
  batchSize: z.number().int().positive().default(128),
  /** CIFAR augmentation (random crop with padding 4, horizontal flip). */
  augment: z.boolean().default(false),
  /** Use only the first N training examples (quick runs). */
  limitTrain: z.number().int().positive().optional(),
  /** Use only the first N test examples (quick runs). */
  limitTest: z.number().int().positive().optional(),
});

export const trainingConfigSchema = z.strictObject({
  epochs: z.number().int().positive().default(1),
  /** Checkpoint every N epochs (and at the end). */
  checkpointEvery: z.number().int().positive().default(1),
  /**
   * Compute backend, chosen at the edge (`dqa train --backend`): `auto`, `wasm`, `cpu`,
   * `tensorflow` (tfjs engines), `reference`, or one a backend package registers.
   */
  backend: z.string().min(1).default('auto'),
  /** Threads computing each step's gradients (data-parallel workers); `auto`: one per core. */
  threads: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
});

export const configSchema = z.strictObject({
  /** Seed of every random choice (initialisation, shuffling, augmentation). */
  seed: z.number().int().nonnegative().default(0),
  model: modelConfigSchema,
  data: dataConfigSchema,
  training: trainingConfigSchema.default({
    epochs: 1,
    checkpointEvery: 1,
    backend: 'auto',
    threads: 'auto',
  }),
  optimizer: optimizerConfigSchema.default({
    kind: 'sgd',
    momentum: 0.9,
    weightDecay: 5e-4,
    nesterov: false,
  }),
  learningRate: learningRateConfigSchema.default({
    kind: 'step',
    initial: 0.1,
    milestones: [1 / 3, 2 / 3],
    gamma: 0.1,
  }),
  quantization: quantizationConfigSchema.default({
    weights: null,
    activations: null,
    quantizeFirstLayer: false,
    quantizeLastLayer: false,
    overrides: [],
  }),
  relaxation: z
    .strictObject({
      dqa: dqaConfigSchema.default({
        temperature: { shape: 'exponential', t0: 100, tEnd: 0.03 },
        lambda: 1,
        init: 'eq7',
        normalize: true,
      }),
      binaryRelax: binaryRelaxConfigSchema.default({
        schedule: 'literal',
        growth: 1.02,
        refEpochs: 300,
      }),
      /** Quantization Networks (`qnet`): the rising sigmoid temperature. */
      qnet: qnetConfigSchema.default({
        temperature: { shape: 'exponential', t0: 1, tEnd: 'auto' },
        epsilon: 1e-3,
        band: 0.05,
      }),
    })
    .default({
      dqa: {
        temperature: { shape: 'exponential', t0: 100, tEnd: 0.03 },
        lambda: 1,
        init: 'eq7',
        normalize: true,
      },
      binaryRelax: { schedule: 'literal', growth: 1.02, refEpochs: 300 },
      qnet: {
        temperature: { shape: 'exponential', t0: 1, tEnd: 'auto' },
        epsilon: 1e-3,
        band: 0.05,
      },
    }),
});

/** A resolved, validated configuration (every default filled in). */
export type DqaConfig = z.output<typeof configSchema>;
/** What a user may write: defaults may be left out. */
export type DqaConfigInput = z.input<typeof configSchema>;
export type TensorQuantConfig = z.output<typeof tensorQuantSchema>;
export type QuantizerRefConfig = z.output<typeof quantizerRefSchema>;
export type DqaRelaxationConfig = z.output<typeof dqaConfigSchema>;
export type BinaryRelaxConfig = z.output<typeof binaryRelaxConfigSchema>;
export type QnetConfig = z.output<typeof qnetConfigSchema>;
export type LearningRateConfig = z.output<typeof learningRateConfigSchema>;
export type LayerOverrideConfig = z.output<typeof layerOverrideSchema>;
