import { resolve } from 'node:path';
import {
  defaultSpeedBackends,
  formatMs,
  parseSpeedList,
  runSpeedBenchmark,
  SpeedEta,
  type SpeedEvent,
  type SpeedModelId,
  type SpeedVariantId,
  speedBackends,
  speedMarkdown,
  speedModelIds,
  speedModels,
  speedVariantIds,
  speedVariants,
  writeSpeed,
} from '@dqa/bench';
import { DqaError } from '@dqa/core';
import { MultiBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { checkedOption, integerOption, numberOption } from './options.js';

interface SpeedCliOptions {
  models: SpeedModelId[];
  variants: SpeedVariantId[];
  backends: string[];
  steps: number;
  warmup: number;
  timeBudget: number;
  batch?: number;
  python: string;
  out: string;
  progress: boolean;
}

interface BenchIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  progressStream: NodeJS.WriteStream | null;
}

const list = (kind: 'models' | 'variants' | 'backends') =>
  checkedOption((v: string) => parseSpeedList(kind, v));

const seconds = (s: number) => {
  const t = Math.max(0, Math.round(s));
  const m = Math.floor(t / 60);
  return m > 0 ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
};

/** `dqa bench …` and its `speed` command; `accuracy` and `surface` are added beside it (bench-accuracy.ts, bench-surface.ts). */
export function addBenchCommand(program: Command, io: BenchIo): void {
  const bench = program
    .command('bench')
    .description(
      "benchmarks: training speed beside PyTorch, the paper's accuracy tables, its loss surfaces",
    );

  bench
    .command('speed')
    .description(
      'median time of one training step (small CNN, ResNet-20; FP, 2-bit STE, DQA 2/4/8) on each backend, beside PyTorch',
    )
    .option('--models <list>', `comma-separated: ${speedModelIds.join(', ')}`, list('models'), [
      ...speedModelIds,
    ])
    .option(
      '--backends <list>',
      `comma-separated, in column order: ${speedBackends.ids().join(', ')}`,
      list('backends'),
      [...defaultSpeedBackends],
    )
    .option(
      '--variants <list>',
      `comma-separated: ${speedVariantIds.join(', ')}`,
      list('variants'),
      [...speedVariantIds],
    )
    .option('--steps <n>', 'timed steps per cell, at most', integerOption(1), 20)
    .option('--warmup <n>', 'untimed warm-up steps per cell', integerOption(0), 2)
    .option(
      '--time-budget <s>',
      'seconds of timed steps after which a cell stops early (at least 3 steps; 0: no limit)',
      numberOption(0),
      30,
    )
    .option(
      '--batch <n>',
      'one batch size for every model (default: 64 small CNN, 128 ResNet-20)',
      integerOption(1),
    )
    .option('--python <path>', 'Python interpreter for the PyTorch column', '/usr/bin/python3')
    .option('-o, --out <dir>', 'folder for speed.md and speed.json', 'runs/bench-speed')
    .option('--no-progress', 'no progress bar or progress lines')
    .action(async (opts: SpeedCliOptions) => {
      const progress = opts.progress ? createProgress(io) : { onEvent: () => {}, stop: () => {} };
      let result: Awaited<ReturnType<typeof runSpeedBenchmark>>;
      try {
        result = await runSpeedBenchmark({
          models: opts.models,
          variants: opts.variants,
          backends: opts.backends,
          steps: opts.steps,
          warmup: opts.warmup,
          timeBudgetS: opts.timeBudget,
          ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
          python: opts.python,
          onEvent: progress.onEvent,
        });
      } finally {
        progress.stop();
      }
      io.stdout(speedMarkdown(result));
      const files = await writeSpeed(result, opts.out);
      io.stdout(`\nWrote:\n  ${files.md}\n  ${files.json}\n`);
      for (const b of result.backends) {
        if (b.status === 'not-installed')
          io.stderr(`dqa: ${b.label} not installed: ${b.reason}${b.hint ? `\n  ${b.hint}` : ''}\n`);
      }
      const failed = result.backends.filter((b) => b.status === 'failed');
      const failedCells = result.cells.filter(
        (c) => c.medianMs === null && !failed.some((b) => b.id === c.backend),
      );
      if (failed.length || failedCells.length) {
        const what = [
          ...failed.map(
            (b) => `${b.label}: ${(b.reason ?? '').split('\n').slice(0, 6).join('\n  ')}`,
          ),
          ...failedCells.map((c) => `${c.backend} ${c.model} ${c.variant}: ${c.error}`),
        ];
        throw new DqaError(
          'BACKEND_STATE',
          `bench speed: ${what.length} part${what.length > 1 ? 's' : ''} failed (the table and JSON in ${resolve(opts.out)} show the rest):\n  ${what.join('\n  ')}`,
        );
      }
    });
}

const cellName = (e: { backend: string; model: SpeedModelId; variant: SpeedVariantId }) =>
  `${e.backend} ${speedModels[e.model].label} ${speedVariants[e.variant].label}`;

/**
 * Progress with an ETA (`SpeedEta`: per backend and model, from the steps seen so far): a
 * cli-progress bar on a terminal; otherwise one line per finished cell (logs, CI).
 */
function createProgress(io: BenchIo): { onEvent: (e: SpeedEvent) => void; stop: () => void } {
  const started = Date.now();
  let estimate: SpeedEta | null = null;
  const eta = () => {
    const left = estimate?.remainingSeconds() ?? null;
    return left === null ? '…' : seconds(left);
  };
  const observe = (e: SpeedEvent) => {
    if (e.type === 'plan') estimate = new SpeedEta(e.settings);
    estimate?.observe(e);
  };

  if (!io.progressStream) {
    return {
      onEvent: (e) => {
        observe(e);
        const elapsed = seconds((Date.now() - started) / 1000);
        if (e.type === 'backend-start') io.stderr(`${e.label}…\n`);
        if (e.type === 'cell') {
          const c = e.cell;
          const what =
            c.medianMs === null
              ? `failed: ${c.error}`
              : `${formatMs(c.medianMs)} ms (median of ${c.stepsMs.length})`;
          io.stderr(`  ${cellName(c)}: ${what} [${elapsed}, ETA ${eta()}]\n`);
        }
      },
      stop: () => {},
    };
  }

  const bars = new MultiBar(
    {
      stream: io.progressStream,
      format:
        ' {bar} {percentage}% | {value}/{total} steps | {duration_formatted} elapsed, ETA {remaining} | {what}',
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    Presets.shades_classic,
  );
  let bar: ReturnType<MultiBar['create']> | null = null;
  const update = (done: number, what?: string) =>
    bar?.update(done, { remaining: eta(), ...(what !== undefined ? { what } : {}) });
  return {
    onEvent: (e) => {
      observe(e);
      if (e.type === 'plan') bar = bars.create(e.total, 0, { what: 'starting', remaining: '…' });
      else if (e.type === 'backend-start') update(e.done, e.label);
      else if (e.type === 'step')
        update(
          e.done,
          `${cellName(e)}: ${e.phase === 'warmup' ? 'warm-up' : 'step'} ${e.step}/${e.steps}, ${formatMs(e.ms)} ms`,
        );
      else if (e.type === 'cell') {
        const c = e.cell;
        bars.log(
          `  ${cellName(c)}: ${c.medianMs === null ? `failed: ${c.error}` : `${formatMs(c.medianMs)} ms`}\n`,
        );
        update(e.done);
      } else if (e.type === 'backend-end') {
        if (e.run.status !== 'ok')
          bars.log(
            `  ${e.run.label}: ${e.run.status === 'not-installed' ? 'not installed' : 'failed'}\n`,
          );
        update(e.done);
      }
    },
    stop: () => bars.stop(),
  };
}
