import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  loadRunDataset,
  prepareRun,
  readCheckpoint,
  readRun,
  relaxedBitsByName,
  runFiles,
  runTemperature,
  trainRunFolder,
  writeFileAtomic,
} from '@dqa/bench';
import {
  type Backend,
  type Checkpoint,
  type DqaConfig,
  DqaError,
  evaluate,
  parseConfig,
  type TrainResult,
} from '@dqa/core';
import type { BuiltModel } from '@dqa/models';
import { quantizers } from '@dqa/quantizers';
import { type Command, Option } from 'commander';
import { checkedOption, integerOption, numberOption } from '../options.js';
import { openRunDir } from '../run-dir.js';
import { cliBackends, createCliBackend } from './backends.js';
import { type ConfigFlags, configFlagNames, methodLabel, resolveTrainConfig } from './config.js';
import { methodDescriptions, methods, presetNames, presets, weightQuantizers } from './presets.js';
import { createTrainProgress } from './progress.js';

interface TrainIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  progressStream: NodeJS.WriteStream | null;
}

interface TrainCliOptions extends ConfigFlags {
  out?: string;
  resume?: string;
  overwrite?: boolean;
  progress: boolean;
  png: boolean;
  printConfig?: boolean;
}

export const threadsOption = checkedOption((v: string): number | 'auto' => {
  if (v === 'auto') return 'auto';
  return integerOption(1, 256)(v);
});

/** What a run needs: the backend `config.training.backend` names, the data and the model. */
async function setUp(config: DqaConfig, io: TrainIo) {
  const { backend, threads, note } = await createCliBackend(
    config.training.backend,
    config.training.threads,
  );
  io.stderr(`backend: ${note}\n`);
  const dataset = await loadRunDataset(config, (m) => io.stderr(`${m}\n`));
  return { backend, threads, dataset, ...prepareRun(backend, config, dataset) };
}

function defaultRunDir(config: DqaConfig): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\..*$/, '')
    .replace('T', '-');
  return join('runs', `${config.model.name}-${config.data.name}-${methodLabel(config)}-${stamp}`);
}

async function runTraining(opts: TrainCliOptions, io: TrainIo, argv: readonly string[]) {
  const given = (Object.keys(configFlagNames) as (keyof typeof configFlagNames)[]).filter(
    (k) => opts[k] !== undefined,
  );
  let config: DqaConfig;
  let dir: string;
  let resume: Checkpoint | undefined;
  if (opts.resume) {
    if (given.length || opts.config || opts.preset || opts.out) {
      const names = [
        ...given.map((k) => configFlagNames[k]),
        ...(opts.config ? ['--config'] : []),
        ...(opts.preset ? ['--preset'] : []),
        ...(opts.out ? ['--out'] : []),
      ];
      throw new DqaError(
        'INVALID_ARGUMENT',
        `--resume continues a run with its own configuration and folder; drop ${names.join(', ')}`,
      );
    }
    dir = resolve(opts.resume);
    const run = await readRun(dir);
    config = parseConfig(run.config, { quantizers });
    const last = join(dir, runFiles.lastCheckpoint);
    if (!existsSync(last)) {
      throw new DqaError(
        'RUN_FILE',
        `${dir} has no checkpoint to resume from (${runFiles.lastCheckpoint} is missing): the run stopped before its first checkpoint; start it again`,
      );
    }
    resume = await readCheckpoint(last);
    if (run.end && !run.end.stopped) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        `${dir} holds a finished run (${config.training.epochs} epochs); nothing to resume`,
      );
    }
  } else {
    config = await resolveTrainConfig(opts);
    if (opts.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return;
    }
    dir = resolve(opts.out ?? defaultRunDir(config));
  }

  const { backend, threads, data, model } = await setUp(config, io);
  try {
    await trainRun({ config, dir, resume, opts, io, argv, backend, threads, data, model });
  } finally {
    // Also when the run is refused or fails: the model's variables are named on the backend.
    model.dispose();
    closeBackend(backend);
  }
}

async function trainRun(r: {
  config: DqaConfig;
  dir: string;
  resume: Checkpoint | undefined;
  opts: TrainCliOptions;
  io: TrainIo;
  argv: readonly string[];
  backend: Backend;
  threads: number;
  data: Awaited<ReturnType<typeof setUp>>['data'];
  model: BuiltModel;
}): Promise<void> {
  const { config, dir, resume, opts, io, argv, backend, threads, data, model } = r;
  io.stderr(
    `dqa train: ${config.model.name} on ${config.data.name} (${data.trainCount} train / ${data.testCount} test), ${methodLabel(config)}, ${config.training.epochs} epochs at batch ${config.data.batchSize}, ${backend.name}${threads > 1 ? ` × ${threads} data-parallel threads` : ''}\nrun folder: ${dir}\n`,
  );
  const progress = createTrainProgress({
    stream: opts.progress ? io.progressStream : null,
    log: opts.progress ? (l) => io.stderr(`${l}\n`) : () => {},
    temperatureAt: runTemperature(config, data.stepsPerEpoch),
    bits: relaxedBitsByName(model),
  });

  // Ctrl-C: the first stops after the current step with a checkpoint of exactly there; a second
  // one exits at once (the last checkpoint on disk stays whole: they are written by rename).
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) {
      progress.stop();
      io.stderr('\ndqa train: interrupted again; exiting without a new checkpoint\n');
      process.exit(130);
    }
    stopRequested = true;
    progress.stop();
    io.stderr('\ndqa train: stopping after this step (Ctrl-C again to quit at once)…\n');
  };
  process.on('SIGINT', onSigint);
  let result: TrainResult;
  let files: Awaited<ReturnType<typeof trainRunFolder>>['files'];
  try {
    ({ result, files } = await trainRunFolder({
      config,
      dir,
      backend,
      threads,
      data,
      model,
      ...(resume ? { resume } : {}),
      ...(opts.overwrite ? { overwrite: true } : {}),
      command: ['dqa', ...argv],
      shouldStop: () => stopRequested,
      onEvent: (e) => progress.onEvent(e),
      png: opts.png,
    }));
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
  }
  if (result.stopped) {
    io.stdout(
      `Stopped at step ${result.checkpoint.step} with a checkpoint; continue with:\n  dqa train --resume ${dir}\nReport so far: ${files.report}\n`,
    );
  } else if (!config.quantization.weights && !config.quantization.activations) {
    io.stdout(
      `Test accuracy: ${pct(result.hardAccuracy)} (float32, nothing quantized).\nReport: ${files.report}\n`,
    );
  } else {
    io.stdout(
      `Test accuracy: ${pct(result.relaxedAccuracy)} during training (relaxed), ${pct(result.hardAccuracy)} as the final low-bit model.\nReport: ${files.report}\n`,
    );
  }
}

const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(2)}%`);

function closeBackend(b: Backend): void {
  (b as { close?: () => void }).close?.();
}

async function runEval(dirArg: string, io: TrainIo) {
  const { dir, config, last, checkpoint } = await openRunDir(dirArg, 'evaluate');
  const { backend, data, model } = await setUp(config, io);
  try {
    await evaluateRun({ dir, last, checkpoint, config, io, backend, data, model });
  } finally {
    model.dispose();
    closeBackend(backend);
  }
}

async function evaluateRun(r: {
  dir: string;
  last: string;
  checkpoint: Checkpoint;
  config: DqaConfig;
  io: TrainIo;
  backend: Backend;
  data: Awaited<ReturnType<typeof setUp>>['data'];
  model: BuiltModel;
}): Promise<void> {
  const { dir, last, checkpoint, config, io, backend, data, model } = r;
  for (const v of [...model.variables, ...model.state]) {
    const saved = checkpoint.variables[v.name];
    if (!saved) {
      throw new DqaError(
        'RUN_FILE',
        `${last} has no variable '${v.name}': the checkpoint does not belong to this model`,
      );
    }
    backend.tidy(() => v.assign(backend.tensor(saved.values, saved.shape)));
  }
  const totalSteps = data.stepsPerEpoch * config.training.epochs;
  const step = { step: checkpoint.step, totalSteps, stepsPerEpoch: data.stepsPerEpoch };
  const relaxed = evaluate(backend, model, data.testBatches(), {
    training: false,
    step,
    hard: false,
  });
  const hard = evaluate(backend, model, data.testBatches(), { training: false, step, hard: true });
  const result = {
    run: dir,
    checkpoint: { epoch: checkpoint.epoch, step: checkpoint.step },
    testExamples: data.testCount,
    relaxed: { accuracy: relaxed.accuracy, loss: relaxed.loss },
    hard: { accuracy: hard.accuracy, loss: hard.loss },
  };
  await writeFileAtomic(join(dir, 'eval.json'), `${JSON.stringify(result, null, 2)}\n`);
  io.stdout(
    `${dir} after ${checkpoint.epoch} epoch${checkpoint.epoch === 1 ? '' : 's'} (step ${checkpoint.step}), ${data.testCount} test images:\n` +
      `  relaxed model:        accuracy ${pct(relaxed.accuracy)}, loss ${relaxed.loss.toFixed(4)}\n` +
      `  final low-bit model:  accuracy ${pct(hard.accuracy)}, loss ${hard.loss.toFixed(4)}\n` +
      `Wrote ${join(dir, 'eval.json')}\n`,
  );
}

/** `dqa train` and `dqa eval`. */
export function addTrainCommands(program: Command, io: TrainIo): void {
  program
    .command('train')
    .description(
      'train a quantized network (a preset, a config file, or flags) into a run folder with metrics, checkpoints, a report and plots',
    )
    .option('-c, --config <file>', 'configuration file (.json, .yaml); flags override it')
    .addOption(
      new Option('--preset <name>', 'starting configuration (default quick)').choices(presetNames),
    )
    .option(
      '--model <name>',
      'architecture: mlp, lenet5, cnn-small, resnet20, resnet18, mobilenetv2',
    )
    .option('--data <name>', 'data set: mnist, fashion-mnist, cifar10, cifar100')
    .option('--data-root <dir>', "folder of the data set's files (CIFAR binary batches)")
    .addOption(
      new Option(
        '--method <m>',
        `training method: ${methods.map((m) => `${m} (${methodDescriptions[m]})`).join('; ')}`,
      ).choices(methods),
    )
    .addOption(
      new Option('--quantizer <q>', 'weight quantizer family and its mixture').choices(
        weightQuantizers,
      ),
    )
    .option('--bits <n>', 'final weight bitwidth n_1 (min-max, SAWB)', integerOption(1, 8))
    .option('--activations', 'quantize activations too (PACT, same relaxation)')
    .option('--activation-bits <n>', 'final activation bitwidth', integerOption(1, 8))
    .option('--lambda <x>', 'λ of the DQA regularizer (eq. 6)', numberOption(0))
    .option('--epochs <n>', 'training epochs', integerOption(1))
    .option('--batch-size <n>', 'batch size', integerOption(1))
    .option('--lr <x>', 'initial learning rate', numberOption(0))
    .option('--seed <n>', 'random seed', integerOption(0, 0xffffffff))
    .option('--limit-train <n>', 'train on the first N examples only', integerOption(1))
    .option('--limit-test <n>', 'test on the first N examples only', integerOption(1))
    .option('--augment', 'random crop (padding 4) and horizontal flip')
    .option('--backend <id>', `compute backend: ${cliBackends.ids().join(', ')}`)
    .option(
      '--threads <n|auto>',
      'threads (auto: one per core): data-parallel workers on wasm/cpu, compute threads on native-cpu',
      threadsOption,
    )
    .option('-o, --out <dir>', 'run folder (default runs/<model>-<data>-<method>-<time>)')
    .option('--resume <dir>', 'continue the run in <dir> from its last checkpoint, bit for bit')
    .option('--overwrite', 'replace a run already in --out')
    .option('--print-config', 'print the resolved configuration and exit')
    .option('--no-progress', 'no progress bar or progress lines')
    .option('--no-png', 'SVG plots only')
    .addHelpText(
      'after',
      `\nPresets:\n${presetNames.map((p) => `  ${p.padEnd(7)} ${presets[p]!.description}`).join('\n')}\n\nExamples:\n  dqa train                                   # the quick DQA run\n  dqa train --method ste                      # its plain 2-bit twin\n  dqa train --preset paper --data-root ~/cifar-10-batches-bin\n  dqa train --resume runs/<run>               # after Ctrl-C\n`,
    )
    .action(async (opts: TrainCliOptions, cmd: Command) => {
      await runTraining(opts, io, cmd.parent ? process.argv.slice(2) : []);
    });

  program
    .command('eval')
    .description(
      "evaluate a run's last checkpoint on its test set: the relaxed and the final low-bit model",
    )
    .argument('<run-dir>', 'a folder written by dqa train')
    .action(async (dir: string) => {
      await runEval(dir, io);
    });
}
