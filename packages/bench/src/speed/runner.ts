import { cpus, loadavg, totalmem } from 'node:os';
import { ArgumentError, DqaError } from '@dqa/core';
import {
  defaultLaunchContext,
  type SpeedBackend,
  type SpeedLaunchContext,
  speedBackends,
} from './backends.js';
import { type ChildCommand, runProtocolChild } from './child.js';
import type { SpeedMessage } from './protocol.js';
import {
  type SpeedModelId,
  type SpeedRequest,
  type SpeedVariantId,
  speedModelIds,
  speedModels,
  speedOptimizer,
  speedVariantIds,
} from './spec.js';

export interface SpeedOptions {
  /** Default: every model (`small-cnn`, `resnet20`). */
  models?: readonly SpeedModelId[];
  /** Default: every variant (`fp`, `ste2`, `dqa248`). */
  variants?: readonly SpeedVariantId[];
  /** Registered backend ids, in column order. Default `defaultSpeedBackends`. */
  backends?: readonly string[];
  /** Timed steps per cell, at most (default 20). */
  steps?: number;
  /** Untimed warm-up steps per cell (default 2). */
  warmup?: number;
  /**
   * Seconds of timed steps after which a cell stops early once it has `minSteps` (default 30;
   * 0: always run `steps`). A ResNet-20 step on tfjs' `cpu` takes seconds.
   */
  timeBudgetS?: number;
  /** Timed steps a cell always runs, budget or not (default 3, at most `steps`). */
  minSteps?: number;
  /** One batch size for every model, instead of the issue's 64 (small CNN) and 128 (ResNet-20). */
  batch?: number;
  /** Threads for engines that can use several (PyTorch); default 2, this machine's cores. */
  threads?: number;
  /**
   * Seconds an engine process may go without writing a line (a step's progress) before it is
   * killed and its column reported as failed (default 600; 0: wait forever).
   */
  stallTimeoutS?: number;
  /** Python interpreter and script of the PyTorch reference. */
  python?: string;
  pythonScript?: string;
  /** Progress, for a bar with an ETA. */
  onEvent?: (event: SpeedEvent) => void;
}

/**
 * The columns of a plain `dqa bench speed`: the tfjs engines, @dqa/native-cpu, the plain oneDNN
 * C++ step (the limit) and PyTorch (the reference). An engine that is not installed here reads
 * 'not installed' with how to install it; the others still run.
 */
export const defaultSpeedBackends = [
  'wasm',
  'wasm-trainer',
  'cpu',
  'native-cpu',
  'onednn',
  'pytorch',
] as const;

/** One measured (backend, model, variant). Times in milliseconds. */
export interface SpeedCell {
  backend: string;
  model: SpeedModelId;
  variant: SpeedVariantId;
  batch: number;
  warmup: number;
  /** Every timed step, in order. */
  stepsMs: number[];
  /** Median of `stepsMs`; null when the cell failed. */
  medianMs: number | null;
  /** 1000 / median. */
  stepsPerSecond: number | null;
  /** Trainable parameters of the float model, as the engine counted them. */
  params?: number;
  /** Loss of the last step. */
  loss?: number;
  error?: string;
}

export type SpeedBackendStatus = 'ok' | 'not-installed' | 'failed';

export interface SpeedBackendRun {
  id: string;
  label: string;
  role: SpeedBackend['role'];
  status: SpeedBackendStatus;
  /** What the engine reported about itself. */
  engine?: string;
  version?: string;
  details?: string;
  /** Why it did not run, or failed. */
  reason?: string;
  /** How to install it, when it is not installed. */
  hint?: string;
  seconds: number;
}

export interface SpeedSettings {
  models: SpeedModelId[];
  variants: SpeedVariantId[];
  backends: string[];
  /** Backend id → the variants it measures: `variants`, less those it cannot (the limit: FP). */
  backendVariants: Record<string, SpeedVariantId[]>;
  steps: number;
  warmup: number;
  timeBudgetS: number;
  minSteps: number;
  batch: Record<SpeedModelId, number>;
  threads: number;
  optimizer: { kind: 'sgd-momentum'; learningRate: number; momentum: number };
}

export interface SpeedResult {
  settings: SpeedSettings;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    platform: string;
    /** 1-minute load average before and after: other work on the machine skews the times. */
    loadBefore: number;
    loadAfter: number;
  };
  backends: SpeedBackendRun[];
  cells: SpeedCell[];
  startedAt: string;
  seconds: number;
}

/** Progress events. `done` and `total` count steps (warm-up included) over the whole run. */
export type SpeedEvent =
  | { type: 'plan'; total: number; settings: SpeedSettings }
  | { type: 'backend-start'; backend: string; label: string; done: number; total: number }
  | {
      type: 'step';
      backend: string;
      model: SpeedModelId;
      variant: SpeedVariantId;
      phase: 'warmup' | 'timed';
      step: number;
      steps: number;
      ms: number;
      done: number;
      total: number;
    }
  | { type: 'cell'; cell: SpeedCell; done: number; total: number }
  | { type: 'backend-end'; run: SpeedBackendRun; done: number; total: number };

/** Median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Checks ids against the known ones; `noun` names them in messages (`unknown model 'x'`). */
function checkIds<T extends string>(
  noun: string,
  known: readonly T[],
  values: readonly string[],
): T[] {
  if (values.length === 0) throw new ArgumentError(`no ${noun} given; known: ${known.join(', ')}`);
  const unknown = values.filter((v) => !known.includes(v as T));
  if (unknown.length) {
    throw new ArgumentError(
      `unknown ${noun}${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')}; known: ${known.join(', ')}`,
    );
  }
  const dup = values.find((v, i) => values.indexOf(v) !== i);
  if (dup) throw new ArgumentError(`${noun} '${dup}' is listed twice`);
  return [...values] as T[];
}

const NOUNS = { models: 'model', variants: 'variant', backends: 'backend' } as const;
const knownIds = (kind: keyof typeof NOUNS): readonly string[] =>
  kind === 'models' ? speedModelIds : kind === 'variants' ? speedVariantIds : speedBackends.ids();

/**
 * Splits a comma-separated list (`small-cnn,resnet20`) and checks it against the known ids; the
 * error says which id is unknown and lists the known ones (the CLI adds the option's name).
 */
export function parseSpeedList(kind: 'models' | 'variants' | 'backends', text: string): string[] {
  const values = text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  return checkIds(NOUNS[kind], knownIds(kind), values);
}

/** `checkIds` with the option's name in front of the message. */
function listOf<T extends string>(kind: keyof typeof NOUNS, values: readonly string[]): T[] {
  try {
    return checkIds(NOUNS[kind], knownIds(kind) as readonly T[], values);
  } catch (e) {
    throw new ArgumentError(`${kind}: ${(e as Error).message}`);
  }
}

const integer = (what: string, v: number, min: number) => {
  if (!(Number.isSafeInteger(v) && v >= min))
    throw new ArgumentError(`${what}: expected an integer ≥ ${min}, got ${v}`);
  return v;
};

/** The settings a run uses: options checked (errors name the option) and defaults filled in. */
export function resolveSpeedSettings(o: Omit<SpeedOptions, 'onEvent'> = {}): SpeedSettings {
  const models = listOf<SpeedModelId>('models', o.models ?? speedModelIds);
  const variants = listOf<SpeedVariantId>('variants', o.variants ?? speedVariantIds);
  const backends = listOf<string>('backends', o.backends ?? defaultSpeedBackends);
  const backendVariants = Object.fromEntries(
    backends.map((id) => {
      const can = speedBackends.get(id).variants;
      return [id, can ? variants.filter((v) => can.includes(v)) : [...variants]];
    }),
  );
  const steps = integer('steps', o.steps ?? 20, 1);
  const warmup = integer('warmup', o.warmup ?? 2, 0);
  const budget = o.timeBudgetS ?? 30;
  if (!(Number.isFinite(budget) && budget >= 0))
    throw new ArgumentError(`timeBudgetS: expected a number ≥ 0 (0: no limit), got ${budget}`);
  const minSteps = Math.min(integer('minSteps', o.minSteps ?? 3, 1), steps);
  const batchFor = (id: SpeedModelId) =>
    o.batch === undefined ? speedModels[id].batch : integer('batch', o.batch, 1);
  return {
    models,
    variants,
    backends,
    backendVariants,
    steps,
    warmup,
    timeBudgetS: budget,
    minSteps,
    batch: { 'small-cnn': batchFor('small-cnn'), resnet20: batchFor('resnet20') },
    threads: integer('threads', o.threads ?? 2, 1),
    optimizer: { kind: 'sgd-momentum', ...speedOptimizer },
  };
}

/**
 * Runs the speed benchmark: for each backend, one process measures every (model, variant) cell —
 * warm-up steps, then timed training steps — and reports the step times; the medians are taken
 * here. Backends run one after another (on 2 cores, side by side they would slow each other
 * down). A backend that is not installed, or crashes, is reported in its `SpeedBackendRun` and
 * the others still run.
 */
export async function runSpeedBenchmark(options: SpeedOptions = {}): Promise<SpeedResult> {
  const settings = resolveSpeedSettings(options);
  const ctx: SpeedLaunchContext = {
    python: options.python ?? defaultLaunchContext.python,
    pythonScript: options.pythonScript ?? defaultLaunchContext.pythonScript,
  };
  const emit = options.onEvent ?? (() => {});
  const stallS = options.stallTimeoutS ?? 600;
  if (!(Number.isFinite(stallS) && stallS >= 0))
    throw new ArgumentError(`stallTimeoutS: expected a number ≥ 0 (0: no limit), got ${stallS}`);
  const request: SpeedRequest = {
    engine: '',
    models: settings.models,
    variants: settings.variants,
    steps: settings.steps,
    warmup: settings.warmup,
    timeBudgetS: settings.timeBudgetS,
    minSteps: settings.minSteps,
    batch: settings.batch,
    learningRate: settings.optimizer.learningRate,
    momentum: settings.optimizer.momentum,
    threads: settings.threads,
  };
  const perCell = settings.warmup + settings.steps;
  const cellsOf = (id: string) => settings.models.length * settings.backendVariants[id]!.length;
  const total = settings.backends.reduce((n, id) => n + cellsOf(id) * perCell, 0);
  emit({ type: 'plan', total, settings });

  const started = Date.now();
  const loadBefore = loadavg()[0]!;
  const runs: SpeedBackendRun[] = [];
  const cells: SpeedCell[] = [];
  let base = 0;
  for (const id of settings.backends) {
    const backend = speedBackends.get(id);
    emit({ type: 'backend-start', backend: id, label: backend.label, done: base, total });
    const own = { ...request, variants: settings.backendVariants[id]! };
    const { run, cells: got } = await measureBackend(backend, own, ctx, stallS, (e, cellIndex) => {
      if (e.type === 'progress') {
        const done =
          base + cellIndex * perCell + (e.phase === 'warmup' ? e.step : settings.warmup + e.step);
        emit({ ...e, type: 'step', backend: id, done, total });
      } else {
        emit({ type: 'cell', cell: e.cell, done: base + (cellIndex + 1) * perCell, total });
      }
    });
    runs.push(run);
    cells.push(...got);
    base += cellsOf(id) * perCell;
    emit({ type: 'backend-end', run, done: base, total });
  }
  const cpu = cpus();
  return {
    settings,
    machine: {
      cpu: cpu[0]?.model.trim() ?? 'unknown',
      cores: cpu.length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      loadBefore: Number(loadBefore.toFixed(2)),
      loadAfter: Number(loadavg()[0]!.toFixed(2)),
    },
    backends: runs,
    cells,
    startedAt: new Date(started).toISOString(),
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
  };
}

type CellProgress =
  | Extract<SpeedMessage, { type: 'progress' }>
  | { type: 'cell-done'; cell: SpeedCell };

/** One backend's process: its messages become cells; a failure becomes the run's status. */
async function measureBackend(
  backend: SpeedBackend,
  request: SpeedRequest,
  ctx: SpeedLaunchContext,
  stallS: number,
  progress: (e: CellProgress, cellIndex: number) => void,
): Promise<{ run: SpeedBackendRun; cells: SpeedCell[] }> {
  const t0 = Date.now();
  const cells: SpeedCell[] = [];
  const run: SpeedBackendRun = {
    id: backend.id,
    label: backend.label,
    role: backend.role,
    status: 'ok',
    seconds: 0,
  };
  const order = request.models.flatMap((m) => request.variants.map((v) => `${m}/${v}`));
  const indexOf = (m: string, v: string) => Math.max(0, order.indexOf(`${m}/${v}`));
  if (request.variants.length === 0) {
    // Nothing it can measure was asked (the FP-only limit with `--variants ste2`).
    run.details = `measures ${backend.variants?.join(', ') ?? 'nothing'} only; not asked`;
    return { run, cells };
  }
  let unavailable: string | null = null;
  let unavailableHint: string | undefined;
  let command: ChildCommand;
  try {
    command = backend.command(request, ctx);
  } catch (e) {
    const missing = e instanceof DqaError && e.code === 'BACKEND_UNAVAILABLE';
    run.status = missing ? 'not-installed' : 'failed';
    run.reason = e instanceof Error ? e.message : String(e);
    const hint = missing ? backend.installHint?.(ctx) : undefined;
    if (hint) run.hint = hint;
    run.seconds = Number(((Date.now() - t0) / 1000).toFixed(1));
    return { run, cells };
  }
  const finishCell = (cell: SpeedCell) => {
    cells.push(cell);
    progress({ type: 'cell-done', cell }, indexOf(cell.model, cell.variant));
  };
  const outcome = await runProtocolChild(
    command,
    (m) => {
      switch (m.type) {
        case 'hello':
          run.engine = m.engine;
          run.version = m.version;
          if (m.details) run.details = m.details;
          break;
        case 'unavailable':
          unavailable = m.reason;
          unavailableHint = m.hint;
          break;
        case 'progress':
          progress(m, indexOf(m.model, m.variant));
          break;
        case 'cell': {
          const med = median(m.stepsMs);
          finishCell({
            backend: backend.id,
            model: m.model,
            variant: m.variant,
            batch: m.batch,
            warmup: m.warmup,
            stepsMs: m.stepsMs.map((v) => Number(v.toFixed(3))),
            medianMs: med,
            stepsPerSecond: med && med > 0 ? 1000 / med : null,
            ...(m.params !== undefined ? { params: m.params } : {}),
            ...(m.loss !== undefined ? { loss: m.loss } : {}),
            ...(med === null ? { error: 'no timed steps' } : {}),
          });
          break;
        }
        case 'cell-error':
          finishCell({
            backend: backend.id,
            model: m.model,
            variant: m.variant,
            batch: request.batch[m.model] ?? 0,
            warmup: request.warmup,
            stepsMs: [],
            medianMs: null,
            stepsPerSecond: null,
            error: m.error,
          });
          break;
      }
    },
    stallS > 0 ? { stallMs: stallS * 1000 } : {},
  );
  run.seconds = Number(((Date.now() - t0) / 1000).toFixed(1));
  const hint = backend.installHint?.(ctx);
  if (outcome.spawnError) {
    const notFound = outcome.spawnError.code === 'ENOENT';
    run.status = notFound ? 'not-installed' : 'failed';
    run.reason = notFound
      ? `${command.command} not found`
      : `cannot start ${command.command}: ${outcome.spawnError.message}`;
    if (notFound && hint) run.hint = hint;
  } else if (unavailable !== null) {
    run.status = 'not-installed';
    run.reason = unavailable;
    const how = unavailableHint ?? hint;
    if (how) run.hint = how;
  } else if (outcome.stalled) {
    run.status = 'failed';
    run.reason = `${backend.label} wrote nothing for ${stallS} s and was stopped (a hung engine?)${outcome.tail ? `:\n${outcome.tail}` : ''}`;
  } else if (outcome.code !== 0 || outcome.protocolErrors.length > 0) {
    run.status = 'failed';
    const how = outcome.signal
      ? `was killed by ${outcome.signal}`
      : `exited with code ${outcome.code}`;
    const detail = [...outcome.protocolErrors, outcome.tail].filter(Boolean).join('\n');
    run.reason =
      outcome.code !== 0 || outcome.signal
        ? `${backend.label} ${how}${detail ? `:\n${detail}` : ''}`
        : `${backend.label}: ${detail}`;
  }
  // Cells the process never reported (a crash part-way) are failed cells, so every cell appears.
  for (const key of order) {
    const [model, variant] = key.split('/') as [SpeedModelId, SpeedVariantId];
    if (
      !cells.some((c) => c.model === model && c.variant === variant) &&
      run.status !== 'not-installed'
    ) {
      cells.push({
        backend: backend.id,
        model,
        variant,
        batch: request.batch[model],
        warmup: request.warmup,
        stepsMs: [],
        medianMs: null,
        stepsPerSecond: null,
        error: run.status === 'failed' ? 'the engine process failed' : 'not reported',
      });
    }
  }
  return { run, cells };
}
