import { resolve } from 'node:path';
import {
  AccuracyEta,
  type AccuracyEvent,
  type AccuracyGridSpec,
  type ActivationSetting,
  deepMerge,
  defaultBits,
  expandAccuracyGrid,
  type Method,
  methods,
  paperActivationSettings,
  paperWeightSettings,
  type QuantizerSetting,
  runAccuracyGrid,
  type WeightQuantizer,
  weightQuantizers,
} from '@dqa/bench';
import { type DqaConfigInput, DqaError } from '@dqa/core';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { integerOption, numberOption } from './options.js';
import { cliBackends, createCliBackend } from './train/backends.js';
import { threadsOption } from './train/command.js';
import { presets } from './train/presets.js';

interface AccuracyCliOptions {
  quick?: boolean;
  budget?: number;
  epochs?: number;
  limitTrain?: number;
  limitTest?: number;
  models?: string[];
  methods?: Method[];
  quantizers?: WeightQuantizer[];
  activationQuantizers?: WeightQuantizer[];
  activations: boolean;
  bits?: number;
  activationBits?: number;
  seeds?: number;
  lambda?: number;
  backend: string;
  threads?: number | 'auto';
  out?: string;
  plan?: boolean;
  png?: boolean;
  progress: boolean;
}

interface BenchIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  progressStream: NodeJS.WriteStream | null;
}

/** Defaults of the full grid and of `--quick`. */
const grids = {
  full: { budgetMinutes: 110, limitTest: undefined, out: 'runs/bench-accuracy' },
  quick: { budgetMinutes: 8, limitTest: 2000, out: 'runs/bench-accuracy-quick' },
} as const;

const listOf =
  <T extends string>(what: string, known: readonly T[]) =>
  (value: string): T[] => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!items.length)
      throw new InvalidArgumentError(`expected a comma-separated list of ${what}.`);
    for (const i of items)
      if (!known.includes(i as T))
        throw new InvalidArgumentError(`unknown ${what} '${i}'; known: ${known.join(', ')}.`);
    return items as T[];
  };

const modelList = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export const seconds = (s: number) => {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  return m ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
};

const pct = (v: number) => `${(100 * v).toFixed(2)} %`;

/** The arguments the program was started with (after node and the script), for run folders. */
function commandLine(cmd: Command): string[] {
  let root = cmd;
  while (root.parent) root = root.parent;
  // Commander keeps the argv it parsed as `rawArgs` (not in its typings).
  const raw = (root as unknown as { rawArgs?: string[] }).rawArgs;
  return raw?.length ? raw.slice(2) : ['bench', 'accuracy'];
}

/** The grid the flags ask for, over the `quick` preset of `dqa train` (cnn-small, Fashion-MNIST). */
export function accuracySpec(opts: AccuracyCliOptions): AccuracyGridSpec {
  const bits = opts.bits ?? 2;
  const activationBits = opts.activationBits ?? 2;
  const setting = (q: WeightQuantizer): QuantizerSetting => ({
    quantizer: q,
    bits: q === 'minmax' || q === 'sawb' ? bits : defaultBits(q),
  });
  const weights: QuantizerSetting[] = opts.quantizers
    ? opts.quantizers.map(setting)
    : opts.quick
      ? [setting('minmax')]
      : paperWeightSettings.map((s) => setting(s.quantizer));
  const activations: ActivationSetting[] = !opts.activations
    ? []
    : opts.activationQuantizers
      ? opts.activationQuantizers.map((q) => ({ ...setting(q), activationBits }))
      : opts.quick
        ? []
        : paperActivationSettings.map((s) => ({ ...setting(s.quantizer), activationBits }));
  const base: DqaConfigInput = deepMerge(structuredClone(presets.quick!.config), {
    ...(opts.lambda !== undefined ? { relaxation: { dqa: { lambda: opts.lambda } } } : {}),
  });
  const seeds = opts.seeds ?? 3;
  return {
    base,
    models: (opts.models ?? ['cnn-small']).map((name) => ({ name })),
    methods: opts.methods ?? [...methods],
    weights,
    activations,
    seeds: Array.from({ length: seeds }, (_, i) => i),
  };
}

/** Progress: a bar with the run and its step on a terminal, one line per run otherwise. */
function createProgress(io: BenchIo, enabled: boolean) {
  const eta = new AccuracyEta();
  const started = Date.now();
  let bar: SingleBar | null = null;
  let toTrain = 0;
  let trained = 0;
  const left = () => {
    const s = eta.remainingSeconds();
    return s === null ? '…' : seconds(s);
  };
  const line = (t: string) => {
    if (bar) bar.stop();
    io.stderr(`${t}\n`);
    if (bar) bar = null;
  };
  const onEvent = (e: AccuracyEvent) => {
    eta.observe(e);
    switch (e.type) {
      case 'dataset':
        io.stderr(`data: ${e.name}, ${e.train} training and ${e.test} test examples\n`);
        return;
      case 'calibrate':
        io.stderr(`calibrating ${e.index + 1}/${e.total}: ${e.kind}…`);
        return;
      case 'calibrated':
        io.stderr(
          ` step ${(1000 * e.cost.stepS).toFixed(0)} ms, test batch ${(1000 * e.cost.evalBatchS).toFixed(0)} ms, set-up ${e.cost.overheadS.toFixed(1)} s\n`,
        );
        return;
      case 'plan': {
        const L = e.state.length;
        const runs = e.cells.length;
        toTrain = e.estimates.length;
        io.stderr(
          `plan${e.reused ? ' (from grid.json: continuing)' : ''}: ${runs} runs, ${e.finished} already done; each run ${L.epochs} epoch${L.epochs === 1 ? '' : 's'} on ${L.trainExamples ?? 'all'} training examples (${e.state.plan.steps} step${e.state.plan.steps === 1 ? '' : 's'}), ${L.testExamples ?? 'all'} test examples${e.state.budgetS === null ? '' : `, fitted to ${Math.round(e.state.budgetS / 60)} minutes`}\n` +
            `estimate: ${e.estimateS > 0 ? seconds(e.estimateS) : 'unknown until the first run ends'} for the ${toTrain} runs to train\n`,
        );
        return;
      }
      case 'warning':
        line(`warning: ${e.message}`);
        return;
      case 'cell-start': {
        if (!enabled) return;
        const what = `${e.cell.name}${e.resume ? ` (resuming at step ${e.resume.step})` : ''}`;
        if (io.progressStream) {
          bar = new SingleBar({
            stream: io.progressStream,
            format:
              ' run {run}/{runs} {bar} {percentage}% | ETA {eta} | {cell}: step {step}/{steps} CE {loss}',
            barsize: 20,
            hideCursor: true,
            clearOnComplete: true,
            fps: 4,
          });
          bar.start(1, 0, {
            run: trained + 1,
            runs: toTrain,
            eta: left(),
            cell: what,
            step: 0,
            steps: '?',
            loss: '–',
          });
        } else io.stderr(`[${trained + 1}/${toTrain}] ${what}…\n`);
        return;
      }
      case 'train':
        if (bar && e.event.type === 'step')
          bar.update((e.event.step + 1) / e.event.totalSteps, {
            eta: left(),
            step: e.event.step + 1,
            steps: e.event.totalSteps,
            loss: (e.event.loss - e.event.regularizer).toFixed(3),
          });
        return;
      case 'cell-end': {
        if (e.status === 'skipped') return;
        trained++;
        if (!enabled) return;
        const r = e.result;
        const what =
          e.status === 'diverged'
            ? `diverged (${e.diverged})`
            : e.status === 'stopped'
              ? 'stopped with a checkpoint'
              : r
                ? `${pct(r.hardAccuracy)} final low-bit, ${pct(r.relaxedAccuracy)} relaxed`
                : '';
        line(
          `  ${e.cell.name}: ${what}, ${seconds(e.seconds)} [${seconds((Date.now() - started) / 1000)} elapsed, ETA ${left()}]`,
        );
        return;
      }
      default:
    }
  };
  return { onEvent, stop: () => bar?.stop() };
}

/** `dqa bench accuracy`. */
export function addBenchAccuracyCommand(bench: Command, io: BenchIo): void {
  bench
    .command('accuracy')
    .description(
      "the paper's Tables 1 and 2 at small scale: FP, STE, BR (FP pair), BR (2/4/8 mixture, eq. 8), DQA and Quantization Networks for 2-bit min-max, SAWB, BWN and TWN weights, with and without PACT activations, over seeds; a markdown table (mean ± std) and JSON",
    )
    .option(
      '--quick',
      'a small grid (2-bit min-max weights, every method, 3 seeds) in under 10 minutes',
    )
    .option(
      '--budget <minutes>',
      `time for the whole grid; fits the run length (default ${grids.full.budgetMinutes}, --quick ${grids.quick.budgetMinutes})`,
      numberOption(0.1),
    )
    .option(
      '--epochs <n>',
      'a fixed run length instead of a budget: epochs per run',
      integerOption(1),
    )
    .option('--limit-train <n>', 'with --epochs: train on the first N examples', integerOption(1))
    .option(
      '--limit-test <n>',
      `test on the first N examples (default all; --quick ${grids.quick.limitTest})`,
      integerOption(1),
    )
    .option('--models <list>', 'architectures, comma-separated (default cnn-small)', modelList)
    .option(
      '--methods <list>',
      `comma-separated: ${methods.join(', ')} (default all)`,
      listOf('method', methods),
    )
    .option(
      '--quantizers <list>',
      `weight quantizers of the weights-only rows: ${weightQuantizers.join(', ')} (default all; --quick minmax)`,
      listOf('quantizer', weightQuantizers),
    )
    .option(
      '--activation-quantizers <list>',
      'weight quantizers of the rows with PACT activations (default minmax,sawb; --quick none)',
      listOf('quantizer', weightQuantizers),
    )
    .option('--no-activations', 'no rows with quantized activations')
    .option('--bits <n>', 'n_1 of min-max and SAWB weights (default 2)', integerOption(1, 8))
    .option('--activation-bits <n>', "n_1 of PACT's activations (default 2)", integerOption(1, 8))
    .option('--seeds <n>', 'seeds per row, 0 … n−1 (default 3)', integerOption(1))
    .option('--lambda <x>', "DQA's λ (default the quick preset's, 1e5)", numberOption(0))
    .option('--backend <id>', `compute backend: ${cliBackends.ids().join(', ')}`, 'auto')
    .option('--threads <n|auto>', 'threads (auto: one per core)', threadsOption)
    .option(
      '-o, --out <dir>',
      `grid folder (default ${grids.full.out}, --quick ${grids.quick.out})`,
    )
    .option('--plan', 'calibrate, print the plan and the estimate, train nothing')
    .option('--png', 'PNG plots beside the SVGs in each run report')
    .option('--no-progress', 'no progress bar or progress lines')
    .addHelpText(
      'after',
      `
Every run is a dqa train run folder under the grid folder (cnn-small-w-minmax2-dqa-s0, …) with the
quick preset's settings (SGD 0.05, batch 128, every layer quantized, λ = 1e5, T 100 → 0.03); the
schedules span each run (BR's ω uses its scaled rule). Before training, each kind of run is timed
on this machine and the run length fitted to the budget; the plan is kept in grid.json. Finished
runs are skipped and an interrupted one resumes: after Ctrl-C, run the same command again.

Examples:
  dqa bench accuracy --quick            # ≈ 8 minutes: min-max weights, every method, 3 seeds
  dqa bench accuracy                    # the full grid, ≈ 110 minutes on 2 cores
  dqa bench accuracy --plan             # the plan and its estimate only
  dqa bench accuracy --epochs 3 --methods fp,ste,dqa --quantizers minmax --no-activations
`,
    )
    .action(async (opts: AccuracyCliOptions, cmd: Command) => {
      const fixed = opts.epochs !== undefined;
      if (fixed && opts.budget !== undefined)
        throw new DqaError(
          'INVALID_ARGUMENT',
          '--budget and --epochs both set the run length; pick one',
        );
      if (!fixed && opts.limitTrain !== undefined)
        throw new DqaError(
          'INVALID_ARGUMENT',
          '--limit-train goes with --epochs (a fixed run length); with a budget the training subset is planned',
        );
      const defaults = opts.quick ? grids.quick : grids.full;
      const spec = accuracySpec(opts);
      const cells = expandAccuracyGrid(spec);
      const out = resolve(opts.out ?? defaults.out);
      const budgetMinutes = opts.budget ?? defaults.budgetMinutes;
      const limitTest = opts.limitTest ?? defaults.limitTest;
      const started = Date.now();
      const { backend, threads, note } = await createCliBackend(
        opts.backend,
        opts.threads ?? 'auto',
      );
      io.stderr(
        `dqa bench accuracy: ${cells.length} runs (${cells.length / spec.seeds.length} rows × ${spec.seeds.length} seeds), backend ${note}\ngrid folder: ${out}\n`,
      );
      const progress = createProgress(io, opts.progress);
      let stopRequested = false;
      const onSigint = () => {
        if (stopRequested) {
          progress.stop();
          io.stderr('\ndqa bench accuracy: interrupted again; exiting without a new checkpoint\n');
          process.exit(130);
        }
        stopRequested = true;
        progress.stop();
        io.stderr(
          '\ndqa bench accuracy: stopping after this step with a checkpoint (Ctrl-C again to quit at once)…\n',
        );
      };
      process.on('SIGINT', onSigint);
      let result: Awaited<ReturnType<typeof runAccuracyGrid>>;
      try {
        result = await runAccuracyGrid({
          spec,
          dir: out,
          ...(fixed
            ? { length: { epochs: opts.epochs!, trainExamples: opts.limitTrain ?? null } }
            : { budgetS: budgetMinutes * 60 }),
          testExamples: limitTest ?? null,
          backend,
          backendId: opts.backend,
          threads,
          png: opts.png ?? false,
          shouldStop: () => stopRequested,
          onEvent: progress.onEvent,
          ...(opts.plan ? { dryRun: true } : {}),
          command: ['dqa', ...commandLine(cmd)],
        });
      } finally {
        process.off('SIGINT', onSigint);
        progress.stop();
        (backend as { close?: () => void }).close?.();
      }
      if (opts.plan) {
        io.stdout(
          `Plan only (--plan): nothing trained. ${cells.length} runs:\n${cells.map((c) => `  ${c.name}`).join('\n')}\n`,
        );
        return;
      }
      io.stdout(result.markdown);
      io.stdout(
        `\nWrote:\n  ${result.files!.md}\n  ${result.files!.json}\nWall time: ${seconds((Date.now() - started) / 1000)}\n`,
      );
      if (result.stopped)
        io.stdout(
          'Stopped before the end: run the same command again to continue (finished runs are kept; the interrupted one resumes from its checkpoint).\n',
        );
    });
}
