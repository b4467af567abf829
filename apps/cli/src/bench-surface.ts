import { resolve } from 'node:path';
import {
  computeLossSurface,
  deepMerge,
  loadRunDataset,
  surfaceMarkdown,
  type WeightQuantizer,
  weightQuantizers,
  writeSurface,
} from '@dqa/bench';
import { type DqaConfigInput, parseConfig } from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { integerOption, numberOption } from './options.js';
import { cliBackends, createCliBackend } from './train/backends.js';
import { presets } from './train/presets.js';

interface SurfaceCliOptions {
  model: string;
  data: string;
  dataRoot?: string;
  quantizer: WeightQuantizer;
  bits: number;
  points: number;
  span: number;
  examples: number;
  temperature: number;
  seed: number;
  backend: string;
  out: string;
  png: boolean;
  progress: boolean;
}

interface BenchIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  progressStream: NodeJS.WriteStream | null;
}

/** `dqa bench surface`. */
export function addBenchSurfaceCommand(bench: Command, io: BenchIo): void {
  bench
    .command('surface')
    .description(
      "the paper's Fig. 4: the loss of a randomly initialised network along two random filter-normalised directions, with float32, low-bit and DQA-mixture weights; contour plot and roughness (total variation, local minima)",
    )
    .option('--model <name>', 'architecture', 'cnn-small')
    .option('--data <name>', 'data set (its first test images are the batch)', 'fashion-mnist')
    .option('--data-root <dir>', "folder of the data set's files (CIFAR)")
    .addOption(
      new Option('--quantizer <q>', 'low-bit weight quantizer and its mixture')
        .choices(weightQuantizers)
        .default('minmax'),
    )
    .option(
      '--bits <n>',
      'n_1 of min-max and SAWB (the mixture: n_1, 2·n_1, 4·n_1 ≤ 8)',
      integerOption(1, 8),
      2,
    )
    .option(
      '--points <n>',
      'grid points per axis (odd: the origin is the middle one)',
      integerOption(3),
      21,
    )
    .option('--span <x>', 'the grid covers α, β ∈ [−x, x] (filter norms)', numberOption(0.001), 1)
    .option('--examples <n>', 'test images the loss is measured on', integerOption(1), 256)
    .option(
      '--temperature <T>',
      "DQA's softmax temperature for the mixture's attention (100: the paper's T(0), ≈ uniform)",
      numberOption(0.001),
      100,
    )
    .option(
      '--seed <n>',
      'seed of the initialisation and the directions',
      integerOption(0, 0xffffffff),
      0,
    )
    .option('--backend <id>', `compute backend: ${cliBackends.ids().join(', ')}`, 'auto')
    .option('-o, --out <dir>', 'folder for surface.md, .json, .svg, .png', 'runs/bench-surface')
    .option('--no-png', 'write the SVG plot only')
    .option('--no-progress', 'no progress bar or progress lines')
    .addHelpText(
      'after',
      `
Every layer is quantized (the quick preset's network); the same random weights θ and directions
d₁, d₂ serve every panel, and quantization acts on θ + α·d₁ + β·d₂ as it does in training.

Example:
  dqa bench surface                      # cnn-small, 21×21 points, 2-bit min-max vs DQA 2/4/8
  dqa bench surface --points 41 --span 0.5
`,
    )
    .action(async (opts: SurfaceCliOptions) => {
      const base: DqaConfigInput = deepMerge(structuredClone(presets.quick!.config), {
        seed: opts.seed,
        model: { name: opts.model, options: {} },
        data: { name: opts.data, ...(opts.dataRoot !== undefined ? { root: opts.dataRoot } : {}) },
      });
      const config = parseConfig(base, { quantizers });
      const started = Date.now();
      // The forward passes only: one thread.
      const { backend, note } = await createCliBackend(opts.backend, 1);
      io.stderr(
        `dqa bench surface: ${opts.model} on ${opts.data}, ${opts.points}×${opts.points} points × 3 networks, backend ${note}\n`,
      );
      let bar: SingleBar | null = null;
      let lastLine = 0;
      try {
        const dataset = await loadRunDataset(config, (m) => io.stderr(`${m}\n`));
        const result = await computeLossSurface({
          backend,
          base,
          dataset,
          examples: opts.examples,
          quantizer: opts.quantizer,
          bits: opts.bits,
          temperature: opts.temperature,
          points: opts.points,
          span: opts.span,
          seed: opts.seed,
          onPoint: (done, total, v) => {
            if (!opts.progress) return;
            if (io.progressStream) {
              if (!bar || done === 1) {
                bar?.stop();
                bar = new SingleBar({
                  stream: io.progressStream,
                  format: ' {variant} {bar} {value}/{total} points | ETA {eta_formatted}',
                  hideCursor: true,
                  clearOnComplete: true,
                  fps: 4,
                });
                bar.start(total, 0, { variant: v });
              }
              bar.update(done);
            } else if (done === total || Date.now() - lastLine > 10_000) {
              lastLine = Date.now();
              io.stderr(`  ${v}: ${done}/${total} points\n`);
            }
          },
        });
        (bar as SingleBar | null)?.stop();
        io.stdout(surfaceMarkdown(result));
        const files = await writeSurface(result, resolve(opts.out), { png: opts.png });
        const paths = [files.md, files.json, files.svg, ...(files.png ? [files.png] : [])];
        io.stdout(
          `\nWrote:\n${paths.map((p) => `  ${p}\n`).join('')}Wall time: ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
        );
      } finally {
        (bar as SingleBar | null)?.stop();
        (backend as { close?: () => void }).close?.();
      }
    });
}
