import { deepMerge } from '@dqa/bench';
import { type DqaConfig, type DqaConfigInput, DqaError, parseConfig } from '@dqa/core';
import { loadConfigFile } from '@dqa/core/node';
import { quantizers } from '@dqa/quantizers';
import {
  type Method,
  type MethodChoice,
  paperLambda,
  presets,
  quantizationFor,
  type WeightQuantizer,
} from './presets.js';

/** The flags of `dqa train` that shape the configuration. */
export interface ConfigFlags {
  config?: string;
  preset?: string;
  model?: string;
  data?: string;
  dataRoot?: string;
  method?: Method;
  quantizer?: WeightQuantizer;
  bits?: number;
  activations?: boolean;
  activationBits?: number;
  lambda?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  limitTrain?: number;
  limitTest?: number;
  augment?: boolean;
  backend?: string;
  threads?: number | 'auto';
}

/** The flags that change the configuration (all but `--config`/`--preset`), for messages. */
export const configFlagNames: Record<Exclude<keyof ConfigFlags, 'config' | 'preset'>, string> = {
  model: '--model',
  data: '--data',
  dataRoot: '--data-root',
  method: '--method',
  quantizer: '--quantizer',
  bits: '--bits',
  activations: '--activations',
  activationBits: '--activation-bits',
  lambda: '--lambda',
  epochs: '--epochs',
  batchSize: '--batch-size',
  lr: '--lr',
  seed: '--seed',
  limitTrain: '--limit-train',
  limitTest: '--limit-test',
  augment: '--augment',
  backend: '--backend',
  threads: '--threads',
};

/**
 * The resolved configuration of a new run: a config file (`--config`) or a preset (`quick` by
 * default) as the base, the `--method` shorthand and the other flags over it, validated by core's
 * schema (unknown keys and impossible values name the key).
 */
export async function resolveTrainConfig(flags: ConfigFlags): Promise<DqaConfig> {
  if (flags.config && flags.preset) {
    throw new DqaError(
      'INVALID_ARGUMENT',
      '--config and --preset both give a whole configuration; pick one (flags override either)',
    );
  }
  let base: DqaConfigInput;
  let choice: MethodChoice | null;
  let paper = false;
  if (flags.config) {
    base = await loadConfigFile(flags.config, { quantizers });
    choice = null;
  } else {
    const name = flags.preset ?? 'quick';
    const preset = presets[name];
    if (!preset) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        `unknown preset '${name}'; known presets: ${Object.keys(presets).join(', ')}`,
      );
    }
    paper = name === 'paper';
    base = structuredClone(preset.config);
    choice = { ...preset.method };
  }

  const methodFlags =
    flags.method !== undefined ||
    flags.quantizer !== undefined ||
    flags.bits !== undefined ||
    flags.activations !== undefined ||
    flags.activationBits !== undefined;
  if (methodFlags) {
    choice = {
      ...(choice ?? {
        method: 'dqa',
        quantizer: 'minmax',
        bits: 2,
        activations: false,
        activationBits: 2,
      }),
      ...(flags.method !== undefined ? { method: flags.method } : {}),
      ...(flags.quantizer !== undefined ? { quantizer: flags.quantizer } : {}),
      ...(flags.bits !== undefined ? { bits: flags.bits } : {}),
      ...(flags.activations !== undefined ? { activations: flags.activations } : {}),
      ...(flags.activationBits !== undefined ? { activationBits: flags.activationBits } : {}),
    };
  }

  const over: DqaConfigInput = {
    model: flags.model !== undefined ? { name: flags.model, options: {} } : undefined,
    data: {
      ...(flags.data !== undefined ? { name: flags.data } : {}),
      ...(flags.dataRoot !== undefined ? { root: flags.dataRoot } : {}),
      ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
      ...(flags.limitTrain !== undefined ? { limitTrain: flags.limitTrain } : {}),
      ...(flags.limitTest !== undefined ? { limitTest: flags.limitTest } : {}),
      ...(flags.augment !== undefined ? { augment: flags.augment } : {}),
    } as DqaConfigInput['data'],
    training: {
      ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
      ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    },
    ...(flags.lr !== undefined ? { learningRate: { initial: flags.lr } } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
  } as DqaConfigInput;
  let merged = deepMerge(base, over);
  if (choice && (methodFlags || !flags.config)) {
    const q = quantizationFor(choice);
    merged = deepMerge(merged, {
      quantization: { weights: q.weights, activations: q.activations },
    });
  }
  const data = (merged.data as { name?: string } | undefined)?.name ?? '';
  if (flags.lambda !== undefined) {
    merged = deepMerge(merged, { relaxation: { dqa: { lambda: flags.lambda } } });
  } else if (paper && choice) {
    merged = deepMerge(merged, {
      relaxation: { dqa: { lambda: paperLambda(data, choice.quantizer, choice.activations) } },
    });
  }
  return parseConfig(merged, { quantizers });
}

/** The `--method` a configuration amounts to, for run-folder names. */
export function methodLabel(config: DqaConfig): string {
  const w = config.quantization.weights;
  if (!w) return 'fp';
  const q = w.quantizers[0]!;
  const id = `${q.id}${q.bits}`;
  if (w.relaxation === 'ste') return `ste-${id}`;
  if (w.relaxation === 'binary-relax') return `br-${id}`;
  return `${w.relaxation}-${w.quantizers.map((r) => r.bits).join('-')}-${q.id}`;
}
