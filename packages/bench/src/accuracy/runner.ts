import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Backend,
  type Checkpoint,
  type DqaConfig,
  type DqaConfigInput,
  DqaError,
  type TrainEvent,
} from '@dqa/core';
import type { Dataset } from '@dqa/models';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readCheckpoint } from '../run/checkpoint-file.js';
import { runFiles } from '../run/layout.js';
import { readRun } from '../run/read-run.js';
import { loadRunDataset, prepareRun, trainRunFolder } from '../run/train-run.js';
import { type BudgetPlan, cellKind, type KindCost, planAccuracyBudget, runCost } from './budget.js';
import {
  type AccuracyCell,
  type AccuracyGridSpec,
  cellConfig,
  configDifference,
  expandAccuracyGrid,
  type RunLength,
} from './grid.js';
import {
  type AccuracyRow,
  type AccuracyRunResult,
  accuracyJson,
  accuracyMarkdown,
  summarizeAccuracy,
  writeAccuracy,
} from './table.js';

/** grid.json: what a grid folder was planned with, so that a rerun continues the same grid. */
export interface AccuracyGridState {
  format: 'dqa-bench-accuracy';
  version: 1;
  created: string;
  /** The budget the run length was fitted to, in seconds; null when the length was given. */
  budgetS: number | null;
  base: DqaConfigInput;
  length: RunLength;
  plan: BudgetPlan;
  calibration: {
    backend: string;
    threads: number;
    /** Seconds the calibration took. */
    seconds: number;
    costs: Record<string, KindCost>;
  };
}

export const accuracyGridFile = 'grid.json';

export type AccuracyEvent =
  | { type: 'dataset'; name: string; train: number; test: number }
  | { type: 'calibrate'; kind: string; index: number; total: number }
  | { type: 'calibrated'; kind: string; cost: KindCost }
  | {
      type: 'plan';
      state: AccuracyGridState;
      /** True when the plan came from an earlier invocation's grid.json. */
      reused: boolean;
      cells: readonly AccuracyCell[];
      /** Runs already finished (skipped), and estimated seconds of each run still to train. */
      finished: number;
      estimates: readonly { name: string; seconds: number }[];
      estimateS: number;
    }
  | {
      type: 'cell-start';
      index: number;
      total: number;
      cell: AccuracyCell;
      /** Where a resumed run continues; null for a fresh run. */
      resume: { epoch: number; step: number } | null;
      estimateS: number;
    }
  | { type: 'train'; index: number; cell: AccuracyCell; event: TrainEvent }
  | {
      type: 'cell-end';
      index: number;
      total: number;
      cell: AccuracyCell;
      status: 'trained' | 'skipped' | 'stopped' | 'diverged';
      result: AccuracyRunResult | null;
      /** The Trainer's message, for a run whose loss became NaN or infinite (now or before). */
      diverged?: string;
      /** Wall seconds this invocation spent on the cell (0 when skipped). */
      seconds: number;
    }
  | { type: 'warning'; message: string };

export interface AccuracyGridOptions {
  spec: AccuracyGridSpec;
  /** The grid folder: grid.json, one run folder per cell, accuracy.md and accuracy.json. */
  dir: string;
  /**
   * Seconds the whole invocation may take (calibration included): the run length is fitted to
   * it. Give this or `length`.
   */
  budgetS?: number;
  /** A fixed run length instead of a budget (no calibration; the ETA learns from the runs). */
  length?: { epochs: number; trainExamples: number | null };
  /** Test examples per evaluation (the first N), or null/absent for the whole test split. */
  testExamples?: number | null;
  /** The backend every run computes on, created by the caller, and its name in configurations. */
  backend: Backend;
  backendId: string;
  /** Data-parallel threads of the Trainer. */
  threads: number;
  /** Loads the grid's data set (default: by `base.data`'s name, from npm or its root). */
  loadDataset?: (config: DqaConfig) => Promise<Dataset>;
  /** PNG plots beside the SVGs in each run's report (default false: SVG only, faster). */
  png?: boolean;
  /** Checked between steps: true stops the current run with a checkpoint, and the grid. */
  shouldStop?: () => boolean;
  onEvent?: (e: AccuracyEvent) => void;
  /** Calibrate and plan, write nothing, train nothing. */
  dryRun?: boolean;
  /** The command line, for each run's config.json. */
  command?: readonly string[];
  /** Most epochs per run the budget may give (default 100). */
  maxEpochs?: number;
  /** Steps and test batches of each calibration run (default 10 and 4). */
  calibrationSteps?: number;
  calibrationTestBatches?: number;
}

export interface AccuracyGridResult {
  cells: AccuracyCell[];
  rows: AccuracyRow[];
  state: AccuracyGridState;
  /** Stopped before every cell was done (Ctrl-C): rerun the same command to continue. */
  stopped: boolean;
  /** accuracy.md and accuracy.json (absent for a dry run). */
  files?: { md: string; json: string };
  markdown: string;
}

type CellState =
  | { status: 'new' }
  | { status: 'done'; result: AccuracyRunResult }
  | { status: 'diverged'; message: string; config: DqaConfig }
  | { status: 'resume'; checkpoint: Checkpoint; config: DqaConfig }
  | { status: 'restart'; reason: string; config?: DqaConfig };

const now = () => performance.now() / 1000;

function resultOf(name: string, run: Awaited<ReturnType<typeof readRun>>): AccuracyRunResult {
  return {
    name,
    hardAccuracy: run.end!.hardAccuracy!,
    relaxedAccuracy: run.end!.relaxedAccuracy!,
    seconds: run.epochs.reduce((s, e) => s + e.seconds, 0),
  };
}

/** What a cell's run folder holds: nothing, a finished run, a run to resume, or a wreck. */
async function cellState(dir: string, name: string): Promise<CellState> {
  if (!existsSync(join(dir, runFiles.config)) && !existsSync(join(dir, runFiles.metrics)))
    return { status: 'new' };
  let run: Awaited<ReturnType<typeof readRun>>;
  try {
    run = await readRun(dir);
  } catch (e) {
    return { status: 'restart', reason: (e as Error).message };
  }
  if (run.end && !run.end.stopped && run.end.hardAccuracy !== null)
    return { status: 'done', result: resultOf(name, run) };
  const diverged = readDiverged(dir);
  if (diverged !== null) return { status: 'diverged', message: diverged, config: run.config };
  const last = join(dir, runFiles.lastCheckpoint);
  if (!existsSync(last))
    return {
      status: 'restart',
      reason: 'it stopped before its first checkpoint',
      config: run.config,
    };
  try {
    return { status: 'resume', checkpoint: await readCheckpoint(last), config: run.config };
  } catch (e) {
    return { status: 'restart', reason: (e as Error).message, config: run.config };
  }
}

/**
 * A run whose loss became NaN or infinite is a result, not a failure of the grid: the Trainer's
 * message is kept in diverged.json beside the run's files, and a rerun does not train it again
 * (the same seed diverges the same way).
 */
export const divergedFile = 'diverged.json';

function readDiverged(dir: string): string | null {
  const path = join(dir, divergedFile);
  if (!existsSync(path)) return null;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as { message?: unknown };
    return typeof v.message === 'string' ? v.message : 'diverged';
  } catch {
    return 'diverged';
  }
}

/** A run's configuration without where it computed (a grid may move between backends). */
function meaning(c: DqaConfig): unknown {
  const { backend: _b, threads: _t, ...training } = c.training;
  return { ...c, training };
}

function readState(path: string): AccuracyGridState | null {
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DqaError(
      'RUN_FILE',
      `${path} is not valid JSON (${(e as Error).message}); delete it to plan the grid again`,
    );
  }
  const s = raw as Partial<AccuracyGridState>;
  if (s.format !== 'dqa-bench-accuracy' || s.version !== 1 || !s.length || !s.plan)
    throw new DqaError(
      'RUN_FILE',
      `${path} is not a dqa bench accuracy grid file (format dqa-bench-accuracy, version 1); delete it or choose another folder`,
    );
  return s as AccuracyGridState;
}

/**
 * Times each kind of run on the backend: a short real run (`calibrationSteps` steps, a few test
 * batches) through the same code as the grid's runs, in a scratch folder removed afterwards.
 */
async function calibrate(
  o: AccuracyGridOptions,
  dataset: Dataset,
  cells: readonly AccuracyCell[],
): Promise<Record<string, KindCost>> {
  const byKind = new Map<string, AccuracyCell>();
  for (const c of cells) if (!byKind.has(cellKind(c))) byKind.set(cellKind(c), c);
  const steps = o.calibrationSteps ?? 10;
  const testBatches = o.calibrationTestBatches ?? 4;
  const scratch = join(o.dir, '.calibration');
  const costs: Record<string, KindCost> = {};
  let index = 0;
  try {
    for (const [kind, cell] of byKind) {
      o.onEvent?.({ type: 'calibrate', kind, index: index++, total: byKind.size });
      const batch = (o.spec.base.data as { batchSize?: number }).batchSize ?? 128;
      const config = cellConfig(
        o.spec,
        cell,
        { epochs: 1, trainExamples: steps * batch, testExamples: testBatches * batch },
        { backend: o.backendId, threads: o.threads },
      );
      const started = now();
      const stepAt: number[] = [];
      let epochAt = 0;
      const { data, model } = prepareRun(o.backend, config, dataset);
      try {
        await trainRunFolder({
          config,
          dir: join(scratch, kind),
          backend: o.backend,
          threads: o.threads,
          data,
          model,
          overwrite: true,
          png: false,
          onEvent: (e) => {
            if (e.type === 'step') stepAt.push(now());
            if (e.type === 'epoch') epochAt = now();
          },
        });
      } finally {
        model.dispose();
      }
      const wall = now() - started;
      const gaps = stepAt.slice(1).map((t, i) => t - stepAt[i]!);
      // The first steps warm the engine up; that cost belongs to every run's overhead.
      const timed = gaps.slice(Math.min(2, Math.max(0, gaps.length - 1))).sort((a, b) => a - b);
      const stepS = timed.length ? timed[Math.floor(timed.length / 2)]! : wall / steps;
      const evalBatchS = Math.max(0, epochAt - (stepAt.at(-1) ?? epochAt)) / data.testSteps;
      const overheadS = Math.max(
        0,
        wall - data.stepsPerEpoch * stepS - 2 * data.testSteps * evalBatchS,
      );
      costs[kind] = { stepS, evalBatchS, overheadS };
      o.onEvent?.({ type: 'calibrated', kind, cost: costs[kind] });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return costs;
}

/**
 * Runs the accuracy grid in `dir`: each cell a run folder (`dqa train`'s), cells already finished
 * skipped, interrupted ones resumed from their last checkpoint; the run length (epochs, training
 * subset) fitted to `budgetS` from a calibration on this machine, printed before any training
 * and kept in grid.json so that a rerun continues the same plan. Ends with accuracy.md (the
 * paper's layout, mean ± std over seeds) and accuracy.json; a stop writes them too, for the runs
 * done so far.
 */
export async function runAccuracyGrid(o: AccuracyGridOptions): Promise<AccuracyGridResult> {
  const started = now();
  const budgetS = o.budgetS ?? null;
  if ((budgetS === null) === (o.length === undefined))
    throw new DqaError(
      'INVALID_ARGUMENT',
      'accuracy grid: give either a time budget or a fixed run length, not both or neither',
    );
  if (budgetS !== null && !(budgetS > 0))
    throw new DqaError(
      'INVALID_ARGUMENT',
      `accuracy grid: budget must be positive, got ${budgetS}s`,
    );
  if (o.length && !(Number.isInteger(o.length.epochs) && o.length.epochs >= 1))
    throw new DqaError(
      'INVALID_ARGUMENT',
      `accuracy grid: epochs must be an integer ≥ 1, got ${o.length.epochs}`,
    );
  const cells = expandAccuracyGrid(o.spec);
  const emit = (e: AccuracyEvent) => o.onEvent?.(e);
  const statePath = join(o.dir, accuracyGridFile);
  const stored = readState(statePath);
  const testExamples = o.testExamples ?? null;
  if (stored) {
    const sameLength = o.length
      ? stored.budgetS === null &&
        stored.length.epochs === o.length.epochs &&
        stored.length.trainExamples === o.length.trainExamples
      : stored.budgetS === budgetS;
    if (!sameLength || stored.length.testExamples !== testExamples) {
      const was =
        stored.budgetS === null
          ? `${stored.length.epochs} epochs on ${stored.length.trainExamples ?? 'all'} training examples`
          : `a ${stored.budgetS / 60}-minute budget`;
      throw new DqaError(
        'INVALID_ARGUMENT',
        `${o.dir} holds a grid planned for ${was} and ${stored.length.testExamples ?? 'all'} test examples; continue it with the same flags (--budget or --epochs/--limit-train, and --limit-test), or choose another --out`,
      );
    }
    const diff = configDifference(stored.base, o.spec.base);
    if (diff)
      throw new DqaError(
        'INVALID_ARGUMENT',
        `${o.dir} holds a grid with another base configuration (${diff}, before vs now); choose another --out`,
      );
  }

  // Any cell's configuration carries the data section (the same for all).
  const probe = cellConfig(
    o.spec,
    cells[0]!,
    { epochs: 1, trainExamples: null, testExamples },
    { backend: o.backendId, threads: o.threads },
  );
  const dataset = await (o.loadDataset ?? ((c: DqaConfig) => loadRunDataset(c)))(probe);
  emit({
    type: 'dataset',
    name: dataset.name,
    train: dataset.train.count,
    test: dataset.test.count,
  });

  const states = new Map<string, CellState>();
  for (const c of cells) states.set(c.name, await cellState(join(o.dir, c.name), c.name));
  const toRun = cells.filter((c) => states.get(c.name)!.status !== 'done');
  const batchSize = probe.data.batchSize;
  const testCount = Math.min(testExamples ?? dataset.test.count, dataset.test.count);

  let state: AccuracyGridState;
  if (stored) {
    // Kinds new to this grid (methods added since) are estimated from the slowest known one.
    state = stored;
  } else if (o.length) {
    const length = { ...o.length, testExamples };
    const perEpoch = Math.ceil(
      Math.min(length.trainExamples ?? dataset.train.count, dataset.train.count) / batchSize,
    );
    state = {
      format: 'dqa-bench-accuracy',
      version: 1,
      created: new Date().toISOString(),
      budgetS: null,
      base: o.spec.base,
      length,
      plan: {
        epochs: length.epochs,
        trainExamples: length.trainExamples,
        steps: length.epochs * perEpoch,
        estimateS: 0,
      },
      calibration: { backend: o.backend.name, threads: o.threads, seconds: 0, costs: {} },
    };
  } else {
    const calibrationStart = now();
    const costs = toRun.length ? await calibrate(o, dataset, toRun) : {};
    const calibrationS = now() - calibrationStart;
    // 10 % of what is left is kept back: other processes, report writing, rounding.
    const availableS = 0.9 * (budgetS! - (now() - started));
    const plan = planAccuracyBudget({
      kinds: toRun.map(cellKind),
      costs,
      availableS,
      batchSize,
      trainCount: dataset.train.count,
      testCount,
      ...(o.maxEpochs !== undefined ? { maxEpochs: o.maxEpochs } : {}),
    });
    state = {
      format: 'dqa-bench-accuracy',
      version: 1,
      created: new Date().toISOString(),
      budgetS,
      base: o.spec.base,
      length: { epochs: plan.epochs, trainExamples: plan.trainExamples, testExamples },
      plan,
      calibration: {
        backend: o.backend.name,
        threads: o.threads,
        seconds: calibrationS,
        costs,
      },
    };
  }

  const known = Object.values(state.calibration.costs);
  const fallback: KindCost | undefined = known.length
    ? {
        stepS: Math.max(...known.map((c) => c.stepS)),
        evalBatchS: Math.max(...known.map((c) => c.evalBatchS)),
        overheadS: Math.max(...known.map((c) => c.overheadS)),
      }
    : undefined;
  const estimateOf = (c: AccuracyCell) => {
    const cost = state.calibration.costs[cellKind(c)] ?? fallback;
    return cost
      ? runCost(
          cost,
          {
            epochs: state.length.epochs,
            trainExamples: state.length.trainExamples ?? dataset.train.count,
          },
          batchSize,
          testCount,
        )
      : 0;
  };
  const estimates = toRun.map((c) => ({ name: c.name, seconds: estimateOf(c) }));
  emit({
    type: 'plan',
    state,
    reused: stored !== null,
    cells,
    finished: cells.length - toRun.length,
    estimates,
    estimateS: estimates.reduce((s, e) => s + e.seconds, 0),
  });

  const place = { backend: o.backendId, threads: o.threads };
  const configs = new Map(cells.map((c) => [c.name, cellConfig(o.spec, c, state.length, place)]));
  // A run folder made under another plan would mix two run lengths in one row: refuse it.
  for (const c of cells) {
    const s = states.get(c.name)!;
    const existing =
      s.status === 'resume' || s.status === 'restart' || s.status === 'diverged'
        ? s.config
        : undefined;
    const done = s.status === 'done';
    if (!existing && !done) continue;
    const runConfig = existing ?? (await readRun(join(o.dir, c.name))).config;
    const diff = configDifference(meaning(runConfig), meaning(configs.get(c.name)!));
    if (diff)
      throw new DqaError(
        'INVALID_ARGUMENT',
        `${join(o.dir, c.name)} holds a run with another configuration than this grid plans for it (${diff}, there vs planned); move it away or choose another --out`,
      );
  }

  if (o.dryRun) {
    const rows = summarizeAccuracy(cells, new Map(), { lambda: lambdaOf(configs) });
    return { cells, rows, state, stopped: false, markdown: accuracyMarkdown(rows) };
  }
  if (!stored) await writeFileAtomic(statePath, `${JSON.stringify(state, null, 2)}\n`);

  const results = new Map<string, AccuracyRunResult>();
  const diverged = new Map<string, string>();
  let stopped = false;
  for (const [index, cell] of cells.entries()) {
    const s = states.get(cell.name)!;
    if (s.status === 'diverged') {
      diverged.set(cell.name, s.message);
      emit({
        type: 'cell-end',
        index,
        total: cells.length,
        cell,
        status: 'skipped',
        result: null,
        diverged: s.message,
        seconds: 0,
      });
      continue;
    }
    if (s.status === 'done') {
      results.set(cell.name, s.result);
      emit({
        type: 'cell-end',
        index,
        total: cells.length,
        cell,
        status: 'skipped',
        result: s.result,
        seconds: 0,
      });
      continue;
    }
    if (o.shouldStop?.()) {
      stopped = true;
      break;
    }
    if (s.status === 'restart')
      emit({
        type: 'warning',
        message: `${join(o.dir, cell.name)}: starting the run again (${s.reason})`,
      });
    const config = configs.get(cell.name)!;
    const resume = s.status === 'resume' ? s.checkpoint : undefined;
    emit({
      type: 'cell-start',
      index,
      total: cells.length,
      cell,
      resume: resume ? { epoch: resume.epoch, step: resume.step } : null,
      estimateS: estimateOf(cell),
    });
    const cellStarted = now();
    const { data, model } = prepareRun(o.backend, config, dataset);
    let outcome: Awaited<ReturnType<typeof trainRunFolder>> | null = null;
    let trainedSteps = 0;
    try {
      outcome = await trainRunFolder({
        config,
        dir: join(o.dir, cell.name),
        backend: o.backend,
        threads: o.threads,
        data,
        model,
        ...(resume ? { resume } : {}),
        ...(s.status === 'restart' ? { overwrite: true } : {}),
        ...(o.command ? { command: o.command } : {}),
        ...(o.shouldStop ? { shouldStop: o.shouldStop } : {}),
        png: o.png ?? false,
        onEvent: (event) => {
          if (event.type === 'step') trainedSteps++;
          emit({ type: 'train', index, cell, event });
        },
      });
    } catch (e) {
      // A diverged run is a result, not a fault of the grid: its loss became NaN, or, once it
      // has trained, a learned parameter left its domain (PACT's clip level α below 0 makes the
      // quantizer refuse its input). An invalid argument before the first step is a real error.
      const diverging =
        e instanceof DqaError &&
        (e.code === 'NON_FINITE_INPUT' || (e.code === 'INVALID_ARGUMENT' && trainedSteps > 0));
      if (!diverging) throw e;
      const message =
        e.code === 'NON_FINITE_INPUT' ? e.message : `after ${trainedSteps} steps: ${e.message}`;
      await writeFileAtomic(
        join(o.dir, cell.name, divergedFile),
        `${JSON.stringify({ message, time: new Date().toISOString() }, null, 2)}\n`,
      );
      diverged.set(cell.name, message);
    } finally {
      model.dispose();
    }
    const seconds = now() - cellStarted;
    if (!outcome) {
      emit({
        type: 'cell-end',
        index,
        total: cells.length,
        cell,
        status: 'diverged',
        result: null,
        diverged: diverged.get(cell.name)!,
        seconds,
      });
      continue;
    }
    if (outcome.result.stopped) {
      emit({
        type: 'cell-end',
        index,
        total: cells.length,
        cell,
        status: 'stopped',
        result: null,
        seconds,
      });
      stopped = true;
      break;
    }
    const run = await readRun(join(o.dir, cell.name));
    const result = resultOf(cell.name, run);
    results.set(cell.name, result);
    emit({
      type: 'cell-end',
      index,
      total: cells.length,
      cell,
      status: 'trained',
      result,
      seconds,
    });
  }
  // Cells after a stop that were finished earlier still count in the table.
  for (const c of cells) {
    const s = states.get(c.name)!;
    if (s.status === 'done' && !results.has(c.name)) results.set(c.name, s.result);
    if (s.status === 'diverged' && !diverged.has(c.name)) diverged.set(c.name, s.message);
  }

  const rows = summarizeAccuracy(cells, results, { lambda: lambdaOf(configs), diverged });
  const markdown = accuracyMarkdown(rows, {
    title: `Accuracy grid: ${probe.data.name}`,
    notes: gridNotes(state, dataset, probe, o.spec.seeds.length, stopped),
  });
  const runs = cells
    .filter((c) => results.has(c.name) || diverged.has(c.name))
    .map((c) =>
      results.has(c.name)
        ? { ...results.get(c.name)!, key: c.key, seed: c.seed }
        : { name: c.name, key: c.key, seed: c.seed, diverged: diverged.get(c.name)! },
    );
  const files = await writeAccuracy(
    o.dir,
    markdown,
    accuracyJson(rows, runs, {
      data: probe.data.name,
      batchSize,
      length: state.length,
      plan: state.plan,
      budgetS: state.budgetS,
      calibration: state.calibration,
      base: state.base,
      seeds: [...o.spec.seeds],
      stopped,
    }),
  );
  return { cells, rows, state, stopped, files, markdown };
}

function lambdaOf(configs: ReadonlyMap<string, DqaConfig>): number {
  const first = configs.values().next().value as DqaConfig | undefined;
  return first?.relaxation.dqa.lambda ?? 1;
}

/** The lines under the table's title: run length, schedules, seeds, backend. */
export function gridNotes(
  state: AccuracyGridState,
  dataset: Pick<Dataset, 'train' | 'test'>,
  config: DqaConfig,
  seeds: number,
  stopped = false,
): string[] {
  const L = state.length;
  const train = L.trainExamples ?? dataset.train.count;
  const test = Math.min(L.testExamples ?? dataset.test.count, dataset.test.count);
  const dqa = config.relaxation.dqa.temperature;
  const lr = config.learningRate;
  const lrText =
    lr.kind === 'step'
      ? `SGD lr ${lr.initial} ÷${Math.round(1 / lr.gamma)} at ${lr.milestones.map((m) => `${Math.round(100 * m)} %`).join(' and ')} of the run`
      : `SGD lr ${lr.initial} (${lr.kind})`;
  return [
    `**Short budget**: each run trains ${L.epochs} epoch${L.epochs === 1 ? '' : 's'} on ${train === dataset.train.count ? `all ${train}` : `the first ${train} of ${dataset.train.count}`} training examples (${state.plan.steps} steps at batch ${config.data.batchSize})${state.budgetS === null ? '' : `, fitted to a ${Math.round(state.budgetS / 60)}-minute budget`}; tested on ${test} examples. The paper trains 300 epochs.`,
    `**Schedules scaled to the run's length**: DQA's temperature ${dqa.shape} ${dqa.t0} → ${dqa.tEnd} over the run's steps; Binary-Relax's ω = ${config.relaxation.binaryRelax.growth}^(${config.relaxation.binaryRelax.refEpochs}·t), t the fraction of the run done (\`scaled\`; the paper: ×1.02 per epoch); Quantization Networks' temperature rises over the run; ${lrText}.`,
    `**Accuracy**: the final low-bit model (every quantizer collapsed to Q_1; FP: the float model), mean ± sample std over ${seeds} seed${seeds === 1 ? '' : 's'} (initialisation and data order); "relaxed": the model as trained (the mixture) at the end; a run whose loss became NaN or infinite counts as "diverged" and is left out of the mean. With activations: STE and BR (FP pair) quantize them with PACT under STE, BR-mix and DQA relax PACT 2/4/8 like the weights, QN relaxes PACT with its sigmoids.`,
    `**Where**: backend ${state.calibration.backend}, the Trainer on ${state.calibration.threads} thread${state.calibration.threads === 1 ? '' : 's'}; quantized layers as the base configuration says (first layer ${config.quantization.quantizeFirstLayer ? 'quantized' : 'float'}, last layer ${config.quantization.quantizeLastLayer ? 'quantized' : 'float'}).${stopped ? ' **Stopped before the end**: rows with fewer seeds are incomplete; rerun the command to continue.' : ''}`,
  ];
}
