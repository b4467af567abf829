import {
  type Backend,
  type Checkpoint,
  type DqaConfig,
  qnetTemperature,
  type TrainEvent,
  type TrainResult,
  temperatureAt,
  train,
} from '@dqa/core';
import {
  type BuiltModel,
  buildModel,
  createTrainData,
  type Dataset,
  type DatasetTrainData,
} from '@dqa/models';
import { loadDataset } from '@dqa/models/node';
import { quantizers } from '@dqa/quantizers';
import { createRunRecorder } from './recorder.js';
import { type RunReportFiles, writeRunReport } from './report.js';

/**
 * One training run from its resolved configuration into a run folder: what `dqa train` does and
 * what every cell of `dqa bench accuracy` does. The backend is the caller's (chosen at the edge);
 * the data set may be shared between runs.
 */

/** Loads `config.data` (by name, from `config.data.root` when given). */
export function loadRunDataset(
  config: DqaConfig,
  log?: (message: string) => void,
): Promise<Dataset> {
  return loadDataset(config.data.name, {
    ...(config.data.root !== undefined ? { root: config.data.root } : {}),
    ...(log ? { log } : {}),
  });
}

/** A run's batches and model on `backend`, from its configuration and an in-memory data set. */
export function prepareRun(
  backend: Backend,
  config: DqaConfig,
  dataset: Dataset,
): { data: DatasetTrainData; model: BuiltModel } {
  const data = createTrainData(backend, dataset, {
    batchSize: config.data.batchSize,
    seed: config.seed,
    augment: config.data.augment,
    ...(config.data.limitTrain !== undefined ? { limitTrain: config.data.limitTrain } : {}),
    ...(config.data.limitTest !== undefined ? { limitTest: config.data.limitTest } : {}),
  });
  const model = buildModel(backend, config, {
    quantizers,
    inputShape: dataset.inputShape,
    classes: dataset.classes,
  });
  return { data, model };
}

/**
 * The temperature a run's progress shows at a step: DQA's falling T(b), or Quantization
 * Networks' rising one (uniform levels); undefined when neither relaxation is used.
 */
export function runTemperature(
  config: DqaConfig,
  stepsPerEpoch: number,
): (step: number) => number | undefined {
  const totalSteps = stepsPerEpoch * config.training.epochs;
  const uses = (id: string) =>
    [config.quantization.weights, config.quantization.activations].some(
      (q) => q?.relaxation === id,
    );
  if (uses('dqa'))
    return (step) =>
      temperatureAt(step, { ...config.relaxation.dqa.temperature, steps: totalSteps });
  if (uses('qnet'))
    return (step) => qnetTemperature({ step, totalSteps, stepsPerEpoch }, config.relaxation.qnet);
  return () => undefined;
}

/** Each relaxed quantizer's bitwidths by the name its attention events carry (`conv2/weights`). */
export function relaxedBitsByName(model: BuiltModel): (name: string) => number[] | undefined {
  const map = new Map(model.quantizers.map((q) => [q.name, q.quantizers.map((k) => k.bits)]));
  return (name) => map.get(name);
}

export interface TrainRunOptions {
  config: DqaConfig;
  /** The run folder (created; see `createRunRecorder`). */
  dir: string;
  backend: Backend;
  /** Data-parallel threads of the Trainer. */
  threads: number;
  data: DatasetTrainData;
  model: BuiltModel;
  /** Continue from this checkpoint of the run in `dir` (its files are cut back to it). */
  resume?: Checkpoint;
  /** Replace a run already in `dir`. */
  overwrite?: boolean;
  /** The command line, for config.json's `run` block. */
  command?: readonly string[];
  /** Checked between steps: true stops with a checkpoint of exactly there (Ctrl-C). */
  shouldStop?: () => boolean;
  /** Every Trainer event, after the recorder has written it. */
  onEvent?: (e: TrainEvent) => void;
  /** Also write PNG plots beside the SVGs (default true). */
  png?: boolean;
}

/**
 * Trains `model` as `config` says, recording the run in `dir` (config.json, metrics, attention,
 * checkpoints), then writes its report with plots. A stop (`shouldStop`) leaves a checkpoint to
 * resume from and a report of the run so far.
 */
export async function trainRunFolder(
  o: TrainRunOptions,
): Promise<{ result: TrainResult; files: RunReportFiles }> {
  const { config, dir, backend, data, model } = o;
  const recorder = createRunRecorder(dir, {
    config,
    ...(o.resume ? { resume: o.resume } : {}),
    ...(o.overwrite ? { overwrite: true } : {}),
    run: { backend: backend.name, ...(o.command ? { command: o.command } : {}) },
  });
  let result: TrainResult;
  try {
    result = await train(backend, model, data, {
      epochs: config.training.epochs,
      learningRate: config.learningRate,
      optimizer: config.optimizer,
      threads: o.threads,
      attentionEvery: Math.max(1, Math.round(data.stepsPerEpoch / 10)),
      ...(o.resume ? { resume: o.resume } : {}),
      ...(o.shouldStop ? { shouldStop: o.shouldStop } : {}),
      onEvent: (e) => {
        recorder.onEvent(e);
        o.onEvent?.(e);
      },
    });
  } finally {
    await recorder.close();
  }
  const files = await writeRunReport(dir, { png: o.png ?? true });
  return { result, files };
}
