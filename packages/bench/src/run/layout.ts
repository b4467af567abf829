import { DqaError } from '@dqa/core';

/**
 * The run folder of `dqa train`: what the Trainer's events become on disk.
 *
 * ```text
 * <run>/
 *   config.json          the resolved DqaConfig, plus a `run` block: created (ISO time), DQA-TS
 *                        version, backend, command line, steps per epoch and total steps (from the
 *                        Trainer's `start` event), and one entry per resume
 *   metrics.jsonl        one JSON object a line:
 *                          {"type":"step", epoch, step, loss, regularizer, lr, temperature?}   every step
 *                          {"type":"epoch", epoch, trainLoss, testLoss, testAccuracy, seconds}  every epoch
 *                          {"type":"end", relaxedAccuracy, hardAccuracy, stopped}               at the end
 *   attention.jsonl      from `step` events that carry attention (Fig. 3a):
 *                          {epoch, step, temperature?, layers: [{name, relaxation, a, bits?, quantizers?}]}
 *                        a, bits and quantizers are per quantizer, Q_1 (the lowest bitwidth) first
 *   quantization.jsonl   from `quantization` events (Fig. 3b):
 *                          {epoch, step, layers: [{layer, w, q}]}
 *   checkpoints/
 *     last.ckpt          the newest checkpoint: after every epoch, and where a stopped run stopped
 *                        (mid-epoch, with the epoch's running loss), so resume continues there
 *     epoch-<N>.ckpt     after N completed epochs, every `training.checkpointEvery` epochs and at
 *                        the last one; only the newest few are kept
 *   report.md            written by `writeRunReport`: configuration, per-epoch table, final
 *                        accuracies, final attention per layer, the plots
 *   plots/
 *     attention.svg/png      Fig. 3a: a_k over training, one panel per layer
 *     quantization.svg/png   Fig. 3b: q(w) against w at several points of training
 *     training.svg/png       loss per step and test accuracy per epoch
 * ```
 *
 * `epoch` in the JSON lines is the Trainer's 0-based epoch index; `step` the 0-based global batch
 * index b. A checkpoint's epoch counts completed epochs, so `epoch-1.ckpt` follows the epoch line
 * with `"epoch":0`. The report shows epochs 1-based, like the checkpoint names.
 *
 * Lines are appended with one `write` each and checkpoints replaced by rename, so an interrupted
 * run (Ctrl-C, a crash) leaves whole lines and whole checkpoints; `readRun` ignores a torn last line
 * (without its newline) and says so in `warnings`.
 */
export const runFiles = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  attention: 'attention.jsonl',
  quantization: 'quantization.jsonl',
  checkpoints: 'checkpoints',
  lastCheckpoint: 'checkpoints/last.ckpt',
  report: 'report.md',
  plots: 'plots',
} as const;

/** `epoch-<N>.ckpt`: the checkpoint after N completed epochs. */
export function epochCheckpointName(epochsCompleted: number): string {
  return `epoch-${epochsCompleted}.ckpt`;
}

/** The `run` block of config.json. */
export interface RunInfo {
  /** ISO time the run folder was created. */
  created: string;
  /** DQA-TS version that wrote the run. */
  version: string;
  /** Backend name (`tfjs-wasm`, `reference`, …), when the caller said. */
  backend?: string;
  /** The command line that started the run, when the caller said. */
  command?: string;
  /** From the Trainer's `start` event. */
  stepsPerEpoch?: number;
  totalSteps?: number;
  /** One entry per resume: when, and from which checkpoint position. */
  resumed?: { time: string; epoch: number; step: number }[];
}

export interface StepRecord {
  type: 'step';
  epoch: number;
  step: number;
  loss: number;
  regularizer: number;
  lr: number;
  /** DQA's temperature T(b) at this step, when the run has one. */
  temperature?: number;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
}

export interface EndRecord {
  type: 'end';
  /** Test accuracy of the relaxed model (the mixture Σ a_k Q_k); null when stopped early. */
  relaxedAccuracy: number | null;
  /** Test accuracy with every quantizer collapsed to its hard Q_1; null when stopped early. */
  hardAccuracy: number | null;
  /** Stopped before the last epoch (Ctrl-C): no final evaluation, resume from last.ckpt. */
  stopped: boolean;
}

export type MetricsRecord = StepRecord | EpochRecord | EndRecord;

/** One relaxed quantizer's mixing weights at a step. */
export interface LayerAttentionRecord {
  /** The relaxed quantizer's name, e.g. `conv2/weights`. */
  name: string;
  relaxation: string;
  /** Mixing weights a_k, Q_1 first. */
  a: number[];
  /** Bitwidth n_k of each Q_k, when known (from the caller or the configuration). */
  bits?: number[];
  /** Quantizer plugin id of each Q_k, when known. */
  quantizers?: string[];
}

export interface AttentionRecord {
  epoch: number;
  step: number;
  temperature?: number;
  layers: LayerAttentionRecord[];
}

export interface QuantizationRecord {
  epoch: number;
  step: number;
  /** Each layer's effective weight quantization function: q(w) at ascending samples w. */
  layers: { layer: string; w: number[]; q: number[] }[];
}

/** What is wrong with a run file. */
export type RunFileProblem =
  | 'missing'
  | 'unreadable'
  | 'invalid'
  | 'truncated'
  | 'corrupt'
  | 'unsupported-version';

/**
 * A run folder's file is missing, unreadable, malformed, truncated or corrupt. The message names
 * the file (and line, for JSON lines) and says what was expected.
 */
export class RunFileError extends DqaError {
  readonly path: string;
  readonly problem: RunFileProblem;
  /** 1-based line number, for JSON-lines files. */
  readonly line?: number;

  constructor(
    path: string,
    problem: RunFileProblem,
    message: string,
    options: { line?: number; cause?: unknown } = {},
  ) {
    // DqaErrorCode has no file-input code yet; INVALID_ARGUMENT: the path handed in is unusable.
    super('RUN_FILE', message, options.cause === undefined ? {} : { cause: options.cause });
    this.path = path;
    this.problem = problem;
    if (options.line !== undefined) this.line = options.line;
  }
}
