import { fig2Markdown, runFig2Study, writeFig2 } from '@dqa/bench';
import { DqaError } from '@dqa/core';
import { Command, CommanderError } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { addBenchAccuracyCommand } from './bench-accuracy.js';
import { addBenchCommand } from './bench-speed.js';
import { addBenchSurfaceCommand } from './bench-surface.js';
import { addExportCommand } from './export.js';
import { integerOption } from './options.js';
import { addPredictCommand } from './predict.js';
import { addTrainCommands } from './train/command.js';

/** Where the program writes: process streams by default, buffers in tests. */
export interface CliIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /**
   * Where long jobs draw a progress bar. Default: process.stderr when it is a terminal and
   * `stderr` is not redirected; otherwise progress is printed as plain lines on `stderr`.
   */
  progressStream?: NodeJS.WriteStream | null;
}

/** Exit codes: 0 success, 1 a run failed (bad input data, unwritable output), 2 a usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

interface Fig2CliOptions {
  out: string;
  samples: number;
  seed: number;
  points: number;
  png: boolean;
}

/**
 * The `dqa` program. Commander never calls `process.exit` here (`exitOverride`): usage errors,
 * `--help` and `--version` throw a `CommanderError` carrying the exit code, so tests can run
 * `await createProgram(io).parseAsync(['node', 'dqa', 'fig2', …])`; `main` maps errors to codes.
 */
export function createProgram(io: CliIo = {}): Command {
  const stdout = io.stdout ?? ((s: string) => process.stdout.write(s));
  const stderr = io.stderr ?? ((s: string) => process.stderr.write(s));

  // Set before adding commands: subcommands inherit the output and exit settings.
  const program = new Command('dqa')
    .description('DQA-TS: training low-bit neural networks with DNN Quantization with Attention')
    .version(pkg.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .configureOutput({ writeOut: stdout, writeErr: stderr })
    .exitOverride();

  program
    .command('fig2')
    .description(
      "reproduce the paper's Fig. 2: quantization error of BR and DQA against the softmax temperature",
    )
    .option('-o, --out <dir>', 'folder for fig2.md, fig2.json, fig2.svg, fig2.png', 'runs/fig2')
    .option('--samples <n>', 'number of Gaussian weights w ~ N(0, 1)', integerOption(2), 100_000)
    .option('--seed <n>', 'random seed', integerOption(0, 0xffffffff), 0)
    .option(
      '--points <n>',
      'log-spaced temperatures from 100 to 0.01 (the table rows are added)',
      integerOption(2),
      41,
    )
    .option('--no-png', 'write the SVG plot only, no PNG')
    .action(async (opts: Fig2CliOptions) => {
      const result = runFig2Study({ samples: opts.samples, seed: opts.seed, points: opts.points });
      stdout(fig2Markdown(result));
      const files = await writeFig2(result, opts.out, { png: opts.png });
      const paths = [files.md, files.json, files.svg, ...(files.png ? [files.png] : [])];
      stdout(`\nWrote:\n${paths.map((p) => `  ${p}\n`).join('')}`);
    });

  const streams = { stdout, stderr, progressStream: progressStream(io) };
  addTrainCommands(program, streams);
  addBenchCommand(program, streams);
  const bench = program.commands.find((c) => c.name() === 'bench')!;
  addBenchAccuracyCommand(bench, streams);
  addBenchSurfaceCommand(bench, streams);
  addExportCommand(program, streams);
  addPredictCommand(program, streams);

  return program;
}

function progressStream(io: CliIo): NodeJS.WriteStream | null {
  if (io.progressStream !== undefined) return io.progressStream;
  if (io.stderr) return null;
  return process.stderr.isTTY ? process.stderr : null;
}

/**
 * Runs the program on `argv` (node's `process.argv` shape) and returns the exit code. User errors
 * become one line on stderr, no stack trace: commander's usage errors (already printed by
 * commander) exit 2, `DqaError`s and unwritable outputs exit 1. Anything else is a bug in DQA-TS
 * and keeps its stack.
 */
export async function main(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const stderr = io.stderr ?? ((s: string) => process.stderr.write(s));
  try {
    await createProgram(io).parseAsync([...argv]);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (e instanceof DqaError) {
      stderr(`dqa: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    stderr(`dqa: internal error (please report it): ${e instanceof Error ? e.stack : String(e)}\n`);
    return EXIT_FAILURE;
  }
}
