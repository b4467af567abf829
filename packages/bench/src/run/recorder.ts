import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  ArgumentError,
  type Checkpoint,
  type DqaConfig,
  DqaError,
  type TrainEvent,
  temperatureAt as temperatureSchedule,
} from '@dqa/core';
import { OutputFileError } from '../io/atomic-write.js';
import { ensureDirSync, writeFileDurableSync } from '../io/durable-write.js';
import { encodeCheckpoint } from './checkpoint-file.js';
import {
  dqaVersion,
  formatCommand,
  type LayerQuantizerInfo,
  quantizersFromConfig,
  usesDqa,
} from './describe.js';
import {
  type AttentionRecord,
  type EndRecord,
  type EpochRecord,
  epochCheckpointName,
  type LayerAttentionRecord,
  type QuantizationRecord,
  RunFileError,
  type RunInfo,
  runFiles,
  type StepRecord,
} from './layout.js';

export interface RunRecorderOptions {
  /** The resolved configuration, written to config.json. */
  config: DqaConfig;
  /**
   * Bitwidths and quantizer ids of each relaxed quantizer's Q_1 … Q_K, by the name its attention
   * events carry (`conv2/weights`). Names not listed are resolved from `config` where they read
   * `<layer>/weights` or `<layer>/activations`.
   */
  layers?: Readonly<Record<string, LayerQuantizerInfo>>;
  /**
   * T(b) recorded with steps and attention. Default: DQA's schedule from `config` (over the
   * Trainer's total steps) when any layer uses DQA, otherwise none.
   */
  temperatureAt?: (step: number) => number | undefined;
  /**
   * Continue a run in `dir` from this checkpoint position: the JSON lines are cut back to what
   * precedes it, epoch checkpoints after it are removed, and (given a whole `Checkpoint`)
   * last.ckpt becomes it, so the folder reads as one straight run.
   */
  resume?: { epoch: number; step: number } | Checkpoint;
  /** Replace a finished or abandoned run already in `dir` (default: refuse). */
  overwrite?: boolean;
  /** For config.json's `run` block. */
  run?: { version?: string; backend?: string; command?: string | readonly string[] };
  /** How many `epoch-<N>.ckpt` files to keep, newest first (default 3; last.ckpt always). */
  keepCheckpoints?: number;
}

export interface RunRecorder {
  readonly dir: string;
  /** Records one Trainer event; synchronous, so nothing is pending when it returns. */
  onEvent(e: TrainEvent): void;
  /** Closes the JSON-lines files. Further events are an error. */
  close(): Promise<void>;
}

/** A JSON value as one line: NaN and ±Infinity become null (JSON has neither). */
function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

const jsonlFiles = [runFiles.metrics, runFiles.attention, runFiles.quantization] as const;

/** What `truncateRunFiles` kept and dropped per file. */
export type TruncationSummary = Record<
  (typeof jsonlFiles)[number],
  { kept: number; dropped: number }
>;

/** The position of a JSON line in the run: its step and epoch, and whether it is the end. */
function keepLine(file: string, v: Record<string, unknown>, at: { epoch: number; step: number }) {
  if (file === runFiles.metrics) {
    if (v.type === 'end') return false;
    if (v.type === 'epoch') return typeof v.epoch === 'number' && v.epoch < at.epoch;
  }
  return typeof v.step === 'number' && v.step < at.step;
}

/**
 * Cuts metrics.jsonl, attention.jsonl and quantization.jsonl in `dir` back to what precedes the
 * checkpoint position `at` (steps before `at.step`, epochs before `at.epoch`, no end line), each
 * file replaced atomically. A torn last line (no newline: the process died mid-write) is dropped;
 * any other bad line is a `RunFileError` naming file and line. Missing files are created empty.
 */
export function truncateRunFiles(
  dir: string,
  at: { epoch: number; step: number },
): TruncationSummary {
  const summary = {} as TruncationSummary;
  for (const file of jsonlFiles) {
    const path = join(dir, file);
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new RunFileError(path, 'unreadable', `cannot read ${path}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    const lines = text.split('\n');
    const torn = lines.pop() ?? '';
    const kept: string[] = [];
    let dropped = torn ? 1 : 0;
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new RunFileError(
          path,
          'invalid',
          `${path}:${i + 1}: not valid JSON (${(e as Error).message}); cannot resume over it`,
          { line: i + 1, cause: e },
        );
      }
      if (v && typeof v === 'object' && keepLine(file, v as Record<string, unknown>, at))
        kept.push(line);
      else dropped++;
    });
    writeFileDurableSync(path, kept.map((l) => `${l}\n`).join(''));
    summary[file] = { kept: kept.length, dropped };
  }
  return summary;
}

function epochCheckpoints(dir: string): { epoch: number; name: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, m: /^epoch-(\d+)\.ckpt$/.exec(name) }))
    .filter((e) => e.m)
    .map((e) => ({ epoch: Number(e.m![1]), name: e.name }))
    .sort((a, b) => a.epoch - b.epoch);
}

/** Removes a file if it is there; `OutputFileError` names it when it cannot be removed. */
function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutputFileError(path, e);
  }
}

/** Plots `writeRunReport` writes, removed when a run folder is overwritten. */
const plotFiles = ['attention', 'quantization', 'training'].flatMap((p) => [
  `${runFiles.plots}/${p}.svg`,
  `${runFiles.plots}/${p}.png`,
]);

function readExistingRunInfo(path: string): RunInfo | undefined {
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { run?: RunInfo };
    return raw.run && typeof raw.run.created === 'string' ? raw.run : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records a training run in `dir` (layout in `layout.ts`): config.json now, then one JSON line
 * per event and the checkpoint files. Every write is synchronous and whole (one `write` per line,
 * checkpoints by rename), so Ctrl-C or a crash leaves complete lines and checkpoints behind.
 */
export function createRunRecorder(dir: string, options: RunRecorderOptions): RunRecorder {
  const { config } = options;
  const keep = options.keepCheckpoints ?? 3;
  if (!(Number.isInteger(keep) && keep >= 0))
    throw new ArgumentError(
      `createRunRecorder: keepCheckpoints must be an integer ≥ 0, got ${keep}`,
    );
  const configPath = join(dir, runFiles.config);
  const checkpointDir = join(dir, runFiles.checkpoints);
  try {
    ensureDirSync(dir);
  } catch (e) {
    throw new OutputFileError(dir, e);
  }

  const previous = readExistingRunInfo(configPath);
  const now = new Date().toISOString();
  const resume = options.resume;
  if (resume) {
    for (const key of ['epoch', 'step'] as const) {
      if (!(Number.isInteger(resume[key]) && resume[key] >= 0))
        throw new ArgumentError(
          `createRunRecorder: resume.${key} must be an integer ≥ 0, got ${resume[key]}`,
        );
    }
    truncateRunFiles(dir, resume);
    for (const e of epochCheckpoints(checkpointDir))
      if (e.epoch > resume.epoch) removeFile(join(checkpointDir, e.name));
    if ('variables' in resume)
      writeFileDurableSync(join(dir, runFiles.lastCheckpoint), encodeCheckpoint(resume));
  } else if (existsSync(configPath) || existsSync(join(dir, runFiles.metrics))) {
    if (!options.overwrite) {
      throw new OutputFileError(
        dir,
        new Error(
          'it already holds a run (config.json, metrics.jsonl); resume it, remove it, or pass overwrite',
        ),
      );
    }
    for (const file of [runFiles.report, runFiles.lastCheckpoint, ...jsonlFiles, ...plotFiles])
      removeFile(join(dir, file));
    for (const e of epochCheckpoints(checkpointDir)) removeFile(join(checkpointDir, e.name));
  }

  const run: RunInfo = {
    created: resume && previous ? previous.created : now,
    version: options.run?.version ?? dqaVersion(),
    ...(options.run?.backend ? { backend: options.run.backend } : {}),
    ...(options.run?.command ? { command: formatCommand(options.run.command) } : {}),
    ...(resume && previous?.stepsPerEpoch !== undefined
      ? { stepsPerEpoch: previous.stepsPerEpoch }
      : {}),
    ...(resume && previous?.totalSteps !== undefined ? { totalSteps: previous.totalSteps } : {}),
  };
  if (resume)
    run.resumed = [
      ...(previous?.resumed ?? []),
      { time: now, epoch: resume.epoch, step: resume.step },
    ];
  const writeConfig = (): void =>
    writeFileDurableSync(configPath, `${JSON.stringify({ ...config, run }, null, 2)}\n`);
  writeConfig();

  const fds = new Map<string, number>();
  for (const file of jsonlFiles) {
    const path = join(dir, file);
    try {
      fds.set(file, openSync(path, 'a'));
    } catch (e) {
      for (const fd of fds.values()) closeSync(fd);
      throw new OutputFileError(path, e);
    }
  }
  let closed = false;

  const append = (file: (typeof jsonlFiles)[number], value: unknown): void => {
    const fd = fds.get(file);
    if (closed || fd === undefined)
      throw new DqaError(
        'BACKEND_STATE',
        `run recorder for ${dir} is closed; no more events can be recorded`,
      );
    // One write per line: the line lands whole or, if the process dies first, not at all.
    const bytes = Buffer.from(jsonLine(value), 'utf8');
    try {
      let written = 0;
      while (written < bytes.length)
        written += writeSync(fd, bytes, written, bytes.length - written);
    } catch (e) {
      throw new OutputFileError(join(dir, file), e);
    }
  };

  let temperature = options.temperatureAt;
  const layerInfo = new Map<string, LayerQuantizerInfo | undefined>();
  const infoFor = (name: string, k: number): LayerQuantizerInfo | undefined => {
    if (!layerInfo.has(name)) {
      const given = options.layers?.[name];
      if (given && (given.bits.length !== k || given.quantizers.length !== k)) {
        throw new ArgumentError(
          `createRunRecorder: layers['${name}'] lists ${given.bits.length} bitwidths and ${given.quantizers.length} quantizers, but its attention has ${k} weights`,
        );
      }
      const fromConfig = given ?? quantizersFromConfig(config, name);
      layerInfo.set(name, fromConfig && fromConfig.bits.length === k ? fromConfig : undefined);
    }
    return layerInfo.get(name);
  };
  const withTemperature = (step: number): { temperature?: number } => {
    const t = temperature?.(step);
    return t === undefined ? {} : { temperature: t };
  };

  const writeCheckpoints = (c: Checkpoint): void => {
    const bytes = encodeCheckpoint(c);
    writeFileDurableSync(join(dir, runFiles.lastCheckpoint), bytes);
    const every = config.training.checkpointEvery;
    // A checkpoint inside an epoch (a stop) is only the resume point, never `epoch-<N>`.
    if (
      !c.partial &&
      keep > 0 &&
      c.epoch > 0 &&
      (c.epoch % every === 0 || c.epoch === config.training.epochs)
    ) {
      writeFileDurableSync(join(checkpointDir, epochCheckpointName(c.epoch)), bytes);
      const all = epochCheckpoints(checkpointDir);
      for (const old of all.slice(0, Math.max(0, all.length - keep)))
        removeFile(join(checkpointDir, old.name));
    }
  };

  return {
    dir,
    onEvent(e: TrainEvent): void {
      switch (e.type) {
        case 'start': {
          if (resume && e.startEpoch !== resume.epoch) {
            throw new ArgumentError(
              `createRunRecorder: the Trainer resumes at epoch ${e.startEpoch}, but the run in ${dir} was cut back to epoch ${resume.epoch}; pass the checkpoint the Trainer resumes from`,
            );
          }
          if (!temperature && usesDqa(config)) {
            const t = config.relaxation.dqa.temperature;
            const steps = e.totalSteps;
            temperature = (step) => {
              try {
                return temperatureSchedule(step, { ...t, steps });
              } catch {
                return undefined; // an impossible schedule fails in the relaxation itself
              }
            };
          }
          if (run.stepsPerEpoch !== e.stepsPerEpoch || run.totalSteps !== e.totalSteps) {
            run.stepsPerEpoch = e.stepsPerEpoch;
            run.totalSteps = e.totalSteps;
            writeConfig();
          }
          return;
        }
        case 'step': {
          const t = withTemperature(e.step);
          const line: StepRecord = {
            type: 'step',
            epoch: e.epoch,
            step: e.step,
            loss: e.loss,
            regularizer: e.regularizer,
            lr: e.lr,
            ...t,
          };
          append(runFiles.metrics, line);
          if (e.attention) {
            const layers = e.attention.map((l): LayerAttentionRecord => {
              const info = infoFor(l.name, l.a.length);
              return {
                name: l.name,
                relaxation: l.relaxation,
                a: [...l.a],
                ...(info ? { bits: [...info.bits], quantizers: [...info.quantizers] } : {}),
              };
            });
            const record: AttentionRecord = { epoch: e.epoch, step: e.step, ...t, layers };
            append(runFiles.attention, record);
          }
          return;
        }
        case 'epoch': {
          const line: EpochRecord = {
            type: 'epoch',
            epoch: e.epoch,
            trainLoss: e.trainLoss,
            testLoss: e.testLoss,
            testAccuracy: e.testAccuracy,
            seconds: e.seconds,
          };
          append(runFiles.metrics, line);
          return;
        }
        case 'quantization': {
          const record: QuantizationRecord = {
            epoch: e.epoch,
            step: e.step,
            layers: e.functions.map((f) => ({ layer: f.layer, w: f.w, q: f.q })),
          };
          append(runFiles.quantization, record);
          return;
        }
        case 'checkpoint':
          writeCheckpoints(e.checkpoint);
          return;
        case 'end': {
          const line: EndRecord = {
            type: 'end',
            relaxedAccuracy: e.relaxedAccuracy,
            hardAccuracy: e.hardAccuracy,
            stopped: e.stopped,
          };
          append(runFiles.metrics, line);
          return;
        }
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const [file, fd] of fds) {
        try {
          closeSync(fd);
        } catch (e) {
          throw new OutputFileError(join(dir, file), e);
        }
      }
      fds.clear();
    },
  };
}
