import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ArgumentError,
  attention,
  type Checkpoint,
  ConfigError,
  type DqaConfig,
  initialAlpha,
  parseConfig,
  Random,
  type TrainEvent,
  temperature,
} from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attentionSpec,
  createRunRecorder,
  OutputFileError,
  RunFileError,
  readCheckpoint,
  readRun,
  runReportMarkdown,
  writeRunReport,
} from '../src/index.js';

// A realistic, hand-built Trainer event stream: 3 DQA layers over 2/4/8-bit min-max, 2 epochs of
// 20 steps, attention every 2 steps, Fig. 3b functions every 5 steps and after the last one.

const LAYERS = ['conv2/weights', 'conv3/weights', 'fc1/weights'];
const BITS = [2, 4, 8];
const EPOCHS = 2;
const STEPS_PER_EPOCH = 20;

function config(o: { epochs?: number; checkpointEvery?: number } = {}): DqaConfig {
  return parseConfig(
    {
      seed: 7,
      model: { name: 'cnn-small' },
      data: { name: 'mnist', batchSize: 64 },
      training: { epochs: o.epochs ?? EPOCHS, checkpointEvery: o.checkpointEvery ?? 1 },
      learningRate: { kind: 'cosine', initial: 0.05 },
      quantization: {
        weights: { relaxation: 'dqa', quantizers: BITS.map((bits) => ({ id: 'minmax', bits })) },
      },
      relaxation: { dqa: { lambda: 2, temperature: { t0: 100, tEnd: 0.03 } } },
    },
    { quantizers },
  );
}

function events(epochs = EPOCHS): TrainEvent[] {
  const total = epochs * STEPS_PER_EPOCH;
  const rng = new Random(3);
  const T = (step: number) => temperature(step, { t0: 100, tEnd: 0.03, steps: total });
  // α drifts towards Q_1 (the regularizer's pull) in conv2 and conv3; fc1 settles on 4 bit.
  const alpha = (layer: number, step: number): number[] => {
    const t = step / total;
    const a0 = initialAlpha([...BITS]);
    if (layer === 2) return [a0[0]! - 0.2 * t, a0[1]! + 0.4 * t, a0[2]! - 0.1 * t];
    return a0.map((v, k) => v + (k === 0 ? (layer + 1) * 0.3 * t : -0.2 * t * k));
  };
  const a = (layer: number, step: number) => attention(alpha(layer, step), T(step));
  const quantization = (epoch: number, step: number): TrainEvent => ({
    type: 'quantization',
    epoch,
    step,
    functions: LAYERS.map((name, l) => {
      const r = [0.45, 0.3, 0.15][l]!;
      const w = Float32Array.from({ length: 33 }, (_, i) => -r + (2 * r * i) / 32);
      const Q = BITS.map((bits) => quantizers.get('minmax').reference(w, bits));
      const mix = a(l, step);
      const q = Array.from(w, (_, i) => mix.reduce((s, ak, k) => s + ak * Q[k]![i]!, 0));
      return { layer: name.split('/')[0]!, w: Array.from(w), q };
    }),
  });
  const checkpoint = (epoch: number, step: number): Checkpoint => {
    const variables: Checkpoint['variables'] = {
      'conv2/kernel': { shape: [3, 3, 4, 8], values: Array.from(rng.normalArray(288)) },
      'fc1/kernel': { shape: [32, 10], values: Array.from(rng.normalArray(320)) },
      'fc1/bias': { shape: [10], values: Array.from(rng.normalArray(10)) },
    };
    LAYERS.forEach((name, l) => {
      variables[`${name}/dqa_alpha`] = {
        shape: [3],
        values: Array.from(Float32Array.from(alpha(l, step))),
      };
    });
    const momentum: Checkpoint['optimizer']['momentum'] = {};
    for (const [name, v] of Object.entries(variables))
      momentum[name] = { shape: v.shape, values: Array.from(rng.normalArray(v.values.length)) };
    return { epoch, step, variables, optimizer: { momentum } };
  };

  const out: TrainEvent[] = [
    { type: 'start', epochs, stepsPerEpoch: STEPS_PER_EPOCH, totalSteps: total, startEpoch: 0 },
  ];
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    let sum = 0;
    for (let i = 0; i < STEPS_PER_EPOCH; i++, step++) {
      if (step % 5 === 0) out.push(quantization(epoch, step));
      const loss = Math.fround(
        2.3 * Math.exp(-step / (0.35 * total)) + 0.12 + 0.15 * rng.uniform(),
      );
      sum += loss;
      out.push({
        type: 'step',
        epoch,
        step,
        totalSteps: total,
        loss,
        regularizer: Math.fround(0.02 * (1 - step / total) + 0.004),
        lr: (0.05 * (1 + Math.cos((Math.PI * step) / total))) / 2,
        ...(step % 2 === 0
          ? { attention: LAYERS.map((name, l) => ({ name, relaxation: 'dqa', a: a(l, step) })) }
          : {}),
      });
    }
    out.push({
      type: 'epoch',
      epoch,
      trainLoss: sum / STEPS_PER_EPOCH,
      testLoss: 0.9 / (epoch + 1) + 0.1234,
      testAccuracy: 0.9 - 0.0811 / (epoch + 1),
      seconds: 12.5 + epoch,
    });
    out.push({ type: 'checkpoint', checkpoint: checkpoint(epoch + 1, step) });
  }
  out.push(quantization(epochs - 1, total));
  out.push({ type: 'end', relaxedAccuracy: 0.883, hardAccuracy: 0.8712, stopped: false });
  return out;
}

/**
 * `stream` as the Trainer emits it when Ctrl-C lands after step `last`: that step's events, then a
 * checkpoint of exactly there (with the epoch's running loss) and an end without accuracies.
 */
function stoppedAfter(
  stream: TrainEvent[],
  last: number,
): { events: TrainEvent[]; at: Checkpoint } {
  const i = stream.findIndex((e) => e.type === 'step' && e.step === last);
  const done = stream.slice(0, i + 1);
  const epoch = Math.floor(last / STEPS_PER_EPOCH);
  const inEpoch = done.filter((e) => e.type === 'step' && e.epoch === epoch) as { loss: number }[];
  const previous = stream.filter((e) => e.type === 'checkpoint' && e.checkpoint.step <= last);
  const base = (previous.at(-1) ?? stream.find((e) => e.type === 'checkpoint')!) as {
    checkpoint: Checkpoint;
  };
  const at: Checkpoint = {
    ...base.checkpoint,
    epoch,
    step: last + 1,
    partial: { lossSum: inEpoch.reduce((s, e) => s + e.loss, 0), batches: inEpoch.length },
  };
  return {
    events: [
      ...done,
      { type: 'checkpoint', checkpoint: at },
      { type: 'end', relaxedAccuracy: null, hardAccuracy: null, stopped: true },
    ],
    at,
  };
}

const lines = async (path: string): Promise<Record<string, unknown>[]> =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

let root: string;
let counter = 0;
const freshDir = (): string => join(root, `run-${++counter}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dqa-run-folder-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function record(dir: string, stream = events(), c = config()): Promise<void> {
  const recorder = createRunRecorder(dir, {
    config: c,
    run: { backend: 'reference', command: ['dqa', 'train', '--config', 'my run.yaml'] },
  });
  for (const e of stream) recorder.onEvent(e);
  await recorder.close();
}

describe('createRunRecorder', () => {
  it('writes config.json, one JSON line per event and the checkpoints', async () => {
    const dir = freshDir();
    const stream = events();
    await record(dir, stream);

    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(cfg.model).toEqual({ name: 'cnn-small', options: {} });
    expect(cfg.relaxation.dqa.lambda).toBe(2);
    expect(cfg.run).toMatchObject({
      version: '0.1.0',
      backend: 'reference',
      command: "dqa train --config 'my run.yaml'",
      stepsPerEpoch: 20,
      totalSteps: 40,
    });
    expect(Number.isNaN(Date.parse(cfg.run.created))).toBe(false);

    const metrics = await lines(join(dir, 'metrics.jsonl'));
    expect(metrics.map((m) => m.type)).toEqual([
      ...Array(20).fill('step'),
      'epoch',
      ...Array(20).fill('step'),
      'epoch',
      'end',
    ]);
    const firstStep = stream.find((e) => e.type === 'step')!;
    expect(metrics[0]).toEqual({
      type: 'step',
      epoch: 0,
      step: 0,
      loss: (firstStep as { loss: number }).loss,
      regularizer: Math.fround(0.024),
      lr: 0.05,
      temperature: 100,
    });
    // T(b) from the configuration's schedule over the Trainer's 40 steps.
    expect(metrics[39]!.temperature).toBeCloseTo(100 * (0.03 / 100) ** (38 / 40), 10);
    expect(metrics[20]).toEqual(stream.find((e) => e.type === 'epoch'));
    expect(metrics.at(-1)).toEqual({
      type: 'end',
      relaxedAccuracy: 0.883,
      hardAccuracy: 0.8712,
      stopped: false,
    });

    const att = await lines(join(dir, 'attention.jsonl'));
    expect(att.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
    expect(att[0]).toMatchObject({ epoch: 0, step: 0, temperature: 100 });
    // bits and quantizer ids resolved from the configuration (the event only names the layers).
    expect(att[7]!.layers).toEqual(
      LAYERS.map((name) => ({
        name,
        relaxation: 'dqa',
        a: expect.any(Array),
        bits: [2, 4, 8],
        quantizers: ['minmax', 'minmax', 'minmax'],
      })),
    );
    const quant = await lines(join(dir, 'quantization.jsonl'));
    expect(quant.map((r) => r.step)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40]);
    expect((quant[0]!.layers as { layer: string }[]).map((l) => l.layer)).toEqual([
      'conv2',
      'conv3',
      'fc1',
    ]);

    expect((await readdir(join(dir, 'checkpoints'))).sort()).toEqual([
      'epoch-1.ckpt',
      'epoch-2.ckpt',
      'last.ckpt',
    ]);
    const lastEvent = stream.filter((e) => e.type === 'checkpoint').at(-1)!;
    expect(await readCheckpoint(join(dir, 'checkpoints', 'last.ckpt'))).toEqual(
      (lastEvent as { checkpoint: Checkpoint }).checkpoint,
    );
    expect((await readdir(dir)).sort()).toEqual([
      'attention.jsonl',
      'checkpoints',
      'config.json',
      'metrics.jsonl',
      'quantization.jsonl',
    ]);
  });

  it('has every line on disk, whole, when onEvent returns (what Ctrl-C would find)', async () => {
    const dir = freshDir();
    const recorder = createRunRecorder(dir, { config: config() });
    let expected = 0;
    for (const e of events()) {
      recorder.onEvent(e);
      if (e.type === 'step' || e.type === 'epoch' || e.type === 'end') expected++;
      const text = await readFile(join(dir, 'metrics.jsonl'), 'utf8');
      expect(text === '' || text.endsWith('\n')).toBe(true);
      const parsed = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string });
      expect(parsed).toHaveLength(expected);
      if (e.type === 'checkpoint')
        expect((await readCheckpoint(join(dir, 'checkpoints', 'last.ckpt'))).step).toBe(
          e.checkpoint.step,
        );
    }
    await recorder.close();
    expect(() =>
      recorder.onEvent({ type: 'end', relaxedAccuracy: 0, hardAccuracy: 0, stopped: true }),
    ).toThrow(/closed/);
  });

  it('keeps an epoch checkpoint every checkpointEvery epochs and the last, only the newest few', async () => {
    const dir = freshDir();
    const recorder = createRunRecorder(dir, {
      config: config({ epochs: 5, checkpointEvery: 2 }),
      keepCheckpoints: 2,
    });
    for (const e of events(5)) recorder.onEvent(e);
    await recorder.close();
    // epoch-2 and epoch-4 by checkpointEvery, epoch-5 as the last; epoch-2 pruned (keep 2).
    expect((await readdir(join(dir, 'checkpoints'))).sort()).toEqual([
      'epoch-4.ckpt',
      'epoch-5.ckpt',
      'last.ckpt',
    ]);
    expect((await readCheckpoint(join(dir, 'checkpoints', 'epoch-4.ckpt'))).epoch).toBe(4);
  });

  it('takes bits from the caller, and refuses a map that does not fit the attention', async () => {
    const dir = freshDir();
    const layers = Object.fromEntries(
      LAYERS.map((n) => [n, { bits: [2, 3, 8], quantizers: ['sawb', 'sawb', 'minmax'] }]),
    );
    const recorder = createRunRecorder(dir, { config: config(), layers });
    for (const e of events().slice(0, 3)) recorder.onEvent(e);
    await recorder.close();
    const [first] = await lines(join(dir, 'attention.jsonl'));
    expect((first!.layers as { bits: number[] }[])[0]!.bits).toEqual([2, 3, 8]);

    const bad = createRunRecorder(freshDir(), {
      config: config(),
      layers: { 'conv3/weights': { bits: [2, 4], quantizers: ['minmax', 'minmax'] } },
    });
    const stream = events();
    expect(() => {
      for (const e of stream.slice(0, 3)) bad.onEvent(e);
    }).toThrow(ArgumentError);
    expect(() => bad.onEvent(stream[2]!)).toThrow(/layers\['conv3\/weights'\] lists 2 bitwidths/);
    await bad.close();
  });

  it('refuses to write over a run unless told to, and then starts clean', async () => {
    const dir = freshDir();
    await record(dir);
    expect(() => createRunRecorder(dir, { config: config() })).toThrow(OutputFileError);
    expect(() => createRunRecorder(dir, { config: config() })).toThrow(/already holds a run/);
    const recorder = createRunRecorder(dir, { config: config(), overwrite: true });
    recorder.onEvent(events()[0]!);
    await recorder.close();
    expect(await readFile(join(dir, 'metrics.jsonl'), 'utf8')).toBe('');
    expect(await readdir(join(dir, 'checkpoints'))).toEqual([]);
  });
});

describe('resume', () => {
  it('cuts the files back to an epoch checkpoint, so the resumed run reads as one straight run', async () => {
    const straight = freshDir();
    const stream = events();
    await record(straight, stream);

    // The same run, killed during epoch 2 (at step 27, mid-write), then resumed from epoch 1.
    const dir = freshDir();
    const kill = stream.findIndex((e) => e.type === 'step' && e.step === 27);
    await record(dir, stream.slice(0, kill + 1));
    await appendFile(join(dir, 'metrics.jsonl'), '{"type":"step","epoch":1,"st'); // torn write
    const afterEpoch1 = stream.findIndex((e) => e.type === 'checkpoint');
    expect(stream[afterEpoch1]).toMatchObject({ checkpoint: { epoch: 1, step: 20 } });

    const recorder = createRunRecorder(dir, {
      config: config(),
      resume: { epoch: 1, step: 20 },
      run: { backend: 'reference', command: ['dqa', 'train', '--config', 'my run.yaml'] },
    });
    const metrics = await lines(join(dir, 'metrics.jsonl'));
    expect(metrics).toHaveLength(21); // steps 0–19 and epoch 0
    expect(metrics.every((m) => m.type !== 'end' && ((m.step as number) ?? 0) < 20)).toBe(true);
    expect((await lines(join(dir, 'attention.jsonl'))).map((r) => r.step).at(-1)).toBe(18);
    expect((await lines(join(dir, 'quantization.jsonl'))).map((r) => r.step)).toEqual([
      0, 5, 10, 15,
    ]);

    // The Trainer resumes: start at epoch 1, then everything after the epoch-1 checkpoint.
    recorder.onEvent({
      type: 'start',
      epochs: EPOCHS,
      stepsPerEpoch: STEPS_PER_EPOCH,
      totalSteps: 40,
      startEpoch: 1,
    });
    for (const e of stream.slice(afterEpoch1 + 1)) recorder.onEvent(e);
    await recorder.close();

    for (const file of ['metrics.jsonl', 'attention.jsonl', 'quantization.jsonl']) {
      expect(await readFile(join(dir, file), 'utf8'), file).toBe(
        await readFile(join(straight, file), 'utf8'),
      );
    }
    const run = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).run;
    expect(run.resumed).toEqual([{ time: expect.any(String), epoch: 1, step: 20 }]);
    expect(await readCheckpoint(join(dir, 'checkpoints', 'last.ckpt'))).toEqual(
      await readCheckpoint(join(straight, 'checkpoints', 'last.ckpt')),
    );
  });

  it('records a Ctrl-C stop mid-epoch and resumes from exactly there', async () => {
    const straight = freshDir();
    const stream = events();
    await record(straight, stream);

    const dir = freshDir();
    const { events: stoppedRun, at } = stoppedAfter(stream, 26);
    await record(dir, stoppedRun);
    // The stop point is last.ckpt (with the epoch's running loss), not an epoch checkpoint.
    expect((await readdir(join(dir, 'checkpoints'))).sort()).toEqual(['epoch-1.ckpt', 'last.ckpt']);
    expect(await readCheckpoint(join(dir, 'checkpoints', 'last.ckpt'))).toEqual(at);
    const stopped = await readRun(dir);
    expect(stopped.end).toEqual({
      type: 'end',
      relaxedAccuracy: null,
      hardAccuracy: null,
      stopped: true,
    });
    expect(stopped.checkpoint).toMatchObject({ epoch: 1, step: 27, partial: at.partial });

    const recorder = createRunRecorder(dir, {
      config: config(),
      resume: at,
      run: { backend: 'reference', command: ['dqa', 'train', '--config', 'my run.yaml'] },
    });
    recorder.onEvent({
      type: 'start',
      epochs: EPOCHS,
      stepsPerEpoch: STEPS_PER_EPOCH,
      totalSteps: 40,
      startEpoch: 1,
    });
    const next = stream.findIndex((e) => e.type === 'step' && e.step === 26) + 1;
    for (const e of stream.slice(next)) recorder.onEvent(e);
    await recorder.close();
    for (const file of ['metrics.jsonl', 'attention.jsonl', 'quantization.jsonl']) {
      expect(await readFile(join(dir, file), 'utf8'), file).toBe(
        await readFile(join(straight, file), 'utf8'),
      );
    }
    expect((await readdir(join(dir, 'checkpoints'))).sort()).toEqual([
      'epoch-1.ckpt',
      'epoch-2.ckpt',
      'last.ckpt',
    ]);
  });

  it('given the whole checkpoint, makes it last.ckpt and drops later epoch checkpoints', async () => {
    const dir = freshDir();
    const stream = events();
    await record(dir, stream);
    const first = (stream.find((e) => e.type === 'checkpoint') as { checkpoint: Checkpoint })
      .checkpoint;
    const recorder = createRunRecorder(dir, { config: config(), resume: first });
    expect((await readdir(join(dir, 'checkpoints'))).sort()).toEqual(['epoch-1.ckpt', 'last.ckpt']);
    expect(await readCheckpoint(join(dir, 'checkpoints', 'last.ckpt'))).toEqual(first);
    // A Trainer resuming from another epoch than the files were cut to is a mistake.
    expect(() =>
      recorder.onEvent({
        type: 'start',
        epochs: 2,
        stepsPerEpoch: 20,
        totalSteps: 40,
        startEpoch: 0,
      }),
    ).toThrow(/resumes at epoch 0, but the run .* was cut back to epoch 1/);
    await recorder.close();
  });
});

describe('readRun', () => {
  let dir: string;
  beforeAll(async () => {
    dir = freshDir();
    await record(dir);
  });

  it('parses every file of a run', async () => {
    const run = await readRun(dir);
    expect(run.config.data).toMatchObject({ name: 'mnist', batchSize: 64 });
    expect(run.run).toMatchObject({ backend: 'reference', stepsPerEpoch: 20, totalSteps: 40 });
    expect(run.steps).toHaveLength(40);
    expect(run.epochs.map((e) => e.testAccuracy)).toEqual([0.9 - 0.0811, 0.9 - 0.0811 / 2]);
    expect(run.end).toEqual({
      type: 'end',
      relaxedAccuracy: 0.883,
      hardAccuracy: 0.8712,
      stopped: false,
    });
    expect(run.attention).toHaveLength(20);
    expect(run.attention[0]!.layers[2]).toMatchObject({ name: 'fc1/weights', bits: [2, 4, 8] });
    expect(run.quantization).toHaveLength(9);
    expect(run.quantization[8]!.layers[0]!.w).toHaveLength(33);
    expect(run.checkpoint).toMatchObject({ epoch: 2, step: 40, variables: 6 });
    expect(run.warnings).toEqual([]);
  });

  it('names a missing folder or file', async () => {
    const nowhere = join(root, 'no-such-run');
    await expect(readRun(nowhere)).rejects.toThrow(`run folder ${nowhere} does not exist`);
    const empty = freshDir();
    await mkdir(empty);
    await writeFile(join(empty, 'config.json'), await readFile(join(dir, 'config.json')));
    const error = await readRun(empty).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunFileError);
    expect((error as RunFileError).problem).toBe('missing');
    expect((error as Error).message).toContain(`run folder ${empty} has no metrics.jsonl`);
  });

  it('names the file and line of a bad JSON line or a wrong field', async () => {
    const bad = freshDir();
    await record(bad);
    const path = join(bad, 'metrics.jsonl');
    const text = (await readFile(path, 'utf8')).split('\n');
    await writeFile(
      path,
      [...text.slice(0, 2), '{"type":"step", oops', ...text.slice(3)].join('\n'),
    );
    const error = await readRun(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunFileError);
    expect((error as RunFileError).line).toBe(3);
    expect((error as Error).message).toMatch(new RegExp(`^${path}:3: not valid JSON`));

    await writeFile(
      path,
      [
        ...text.slice(0, 4),
        text[4]!.replace(/"loss":[^,]+/, '"loss":"low"'),
        ...text.slice(5),
      ].join('\n'),
    );
    await expect(readRun(bad)).rejects.toThrow(
      `${path}:5: a "step" line needs a number "loss", got "low"`,
    );

    const attention = join(bad, 'attention.jsonl');
    await writeFile(path, text.join('\n'));
    await writeFile(
      attention,
      '{"epoch":0,"step":0,"layers":[{"name":"conv2/weights","relaxation":"dqa","a":[0.5,"x"]}]}\n',
    );
    await expect(readRun(bad)).rejects.toThrow(
      `${attention}:1: layers[0].a[1] is "x", not a number`,
    );
  });

  it('leaves out a torn last line with a warning, and names config.json when it is invalid', async () => {
    const torn = freshDir();
    await record(torn);
    await appendFile(join(torn, 'attention.jsonl'), '{"epoch":1,"step":40,"lay');
    const run = await readRun(torn);
    expect(run.attention).toHaveLength(20);
    expect(run.warnings).toEqual([
      `${join(torn, 'attention.jsonl')}:21: an unfinished last line was left out`,
    ]);

    const cfgPath = join(torn, 'config.json');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    cfg.data.batchSize = -1;
    await writeFile(cfgPath, JSON.stringify(cfg));
    const error = await readRun(torn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`invalid configuration in ${cfgPath}`);
    expect((error as Error).message).toContain('data.batchSize');
    await writeFile(cfgPath, '{"seed": 1,');
    await expect(readRun(torn)).rejects.toThrow(`${cfgPath}: not valid JSON`);
  });
});

describe('writeRunReport', () => {
  let dir: string;
  let files: Awaited<ReturnType<typeof writeRunReport>>;
  beforeAll(async () => {
    dir = freshDir();
    await record(dir);
    files = await writeRunReport(dir);
  }, 20_000);

  it('writes report.md with the configuration and the numbers of the run', async () => {
    expect(files.report).toBe(join(dir, 'report.md'));
    const md = await readFile(files.report, 'utf8');
    expect(md).toMatch(/^# cnn-small on mnist: weights DQA over 2\/4\/8-bit minmax\n/);
    expect(md).toContain('backend `reference`');
    expect(md).toContain("dqa train --config 'my run.yaml'");
    expect(md).toContain(
      '- weights: DQA (`dqa`) over minmax 2 bit, minmax 4 bit, minmax 8 bit; Q_1 = 2 bit',
    );
    expect(md).toContain('λ = 2, temperature exponential T0 = 100 → T(B) = 0.03');
    expect(md).toContain('- 2 epochs (20 steps each, 40 in all), batch 64');
    expect(md).toContain('learning rate cosine 0.05 → 0');
    expect(md).toContain('**hard accuracy 87.12%**');
    expect(md).toContain('relaxed accuracy 88.30%');
    const run = await readRun(dir);
    const [e1, e2] = run.epochs;
    // The epoch's mean regularizer (from its steps) and the cross-entropy without it.
    const reg = (epoch: number) => {
      const r = run.steps.filter((st) => st.epoch === epoch).map((st) => st.regularizer);
      return r.reduce((a, b) => a + b, 0) / r.length;
    };
    const row = (e: typeof e1, test: string) =>
      `| ${e!.epoch + 1} | ${e!.trainLoss.toFixed(4)} | ${reg(e!.epoch).toFixed(4)} | ${(e!.trainLoss - reg(e!.epoch)).toFixed(4)} | ${test}`;
    expect(reg(0)).toBeGreaterThan(reg(1));
    expect(md).toContain(`${row(e1, '1.0234 | 81.89% | 12.5 |')}`);
    expect(md).toContain(`${row(e2, '0.5734 | 85.95% | 13.5 |')}`);
    // Final attention per layer: conv2 and conv3 settle on Q_1 (2 bit), fc1 on 4 bit.
    expect(md).toMatch(
      /\| `conv2\/weights` \| DQA \| 2 bit 1\.000, 4 bit 0\.000, 8 bit 0\.000 \| 2 bit \(a = 1\.000\) \| 2 bit minmax \|/,
    );
    expect(md).toMatch(
      /\| `fc1\/weights` \| DQA \| 2 bit 0\.000, 4 bit 1\.000, 8 bit 0\.000 \| 4 bit \(a = 1\.000\) ⚠ \| 2 bit minmax \|/,
    );
    expect(md).toContain('![attention a_k per layer over training](plots/attention.png)');
    expect(md).toContain('([SVG](plots/quantization.svg))');
    expect(md).toContain('](plots/training.png)');
  });

  it('renders Fig. 3a, Fig. 3b and the training curves as valid SVG and PNG', async () => {
    const { attention, quantization, training } = files.plots;
    expect(attention).toEqual({
      svg: join(dir, 'plots', 'attention.svg'),
      png: join(dir, 'plots', 'attention.png'),
    });
    const svgs: Record<string, string> = {};
    for (const [name, plot] of Object.entries({ attention, quantization, training })) {
      const svg = await readFile(plot!.svg, 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), name).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>'), name).toBe(true);
      svgs[name] = svg;
      const png = await readFile(plot!.png!);
      expect([...png.subarray(0, 8)], name).toEqual([
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
      ]);
      const width = png.readUInt32BE(16);
      const height = png.readUInt32BE(20);
      expect(width, name).toBeGreaterThan(800);
      expect(height, name).toBeGreaterThan(400);
    }
    for (const layer of LAYERS) expect(svgs.attention).toContain(`>${layer}</text>`);
    for (const label of ['2 bit', '4 bit', '8 bit', 'temperature', 'attention a_k'])
      expect(svgs.attention).toContain(label);
    for (const layer of ['conv2', 'conv3', 'fc1'])
      expect(svgs.quantization).toContain(`>${layer}</text>`);
    for (const label of ['step 0 (start)', 'step 40 (end)', 'weight w', 'q(w)'])
      expect(svgs.quantization).toContain(label);
    for (const label of [
      'test accuracy (%)',
      'train cross-entropy (per step)',
      'hard (collapsed to Q_1), at the end',
    ])
      expect(svgs.training).toContain(label);
    expect((await readdir(join(dir, 'plots'))).sort()).toEqual([
      'attention.png',
      'attention.svg',
      'quantization.png',
      'quantization.svg',
      'training.png',
      'training.svg',
    ]);
  });

  it('draws the layers asked for and links SVGs when there are no PNGs', async () => {
    const other = freshDir();
    await record(other);
    const written = await writeRunReport(other, {
      png: false,
      quantization: { layers: ['fc1'], snapshots: 3 },
    });
    expect(written.plots.quantization!.png).toBeUndefined();
    const svg = await readFile(written.plots.quantization!.svg, 'utf8');
    expect(svg).toContain('>fc1</text>');
    expect(svg).not.toContain('>conv2</text>');
    expect(svg).toContain('step 20 (epoch 1)');
    expect(svg).not.toContain('step 5 (epoch');
    expect(await readFile(written.report, 'utf8')).toContain('](plots/attention.svg)');
    // Fig. 3a thins a dense record to maxPoints per line, keeping the first and the last.
    const thin = attentionSpec(await readRun(other), { maxPoints: 5 }) as unknown as {
      vconcat: [unknown, { data: { values: { layer: string; x: number }[] } }];
    };
    const points = thin.vconcat[1].data.values.filter((v) => v.layer === 'fc1/weights');
    expect(points.map((v) => v.x)).toEqual(
      [0, 10, 20, 28, 38].flatMap((step) => [step / 20, step / 20, step / 20]),
    );
    await expect(writeRunReport(other, { quantization: { layers: ['conv9'] } })).rejects.toThrow(
      "layer 'conv9' has no recorded quantization function; recorded: conv2, conv3, fc1",
    );
  });

  it('says a stopped run has no final evaluation and where it resumes', async () => {
    const dir = freshDir();
    await record(dir, stoppedAfter(events(), 26).events);
    const md = await readFile((await writeRunReport(dir, { png: false })).report, 'utf8');
    expect(md).toContain('- stopped early after 1 of 2 epochs, without a final evaluation');
    expect(md).toContain(
      '- checkpoint: `checkpoints/last.ckpt` inside epoch 2, after step 27 (7 of its batches trained)',
    );
    expect(md).not.toContain('hard accuracy');
    const svg = await readFile(join(dir, 'plots', 'training.svg'), 'utf8');
    expect(svg).toContain('stopped after 1 of 2 epochs, no final evaluation');
  }, 20_000);

  it('reports an unfinished float run without attention plots', () => {
    const c = config();
    c.quantization.weights = null;
    const md = runReportMarkdown({
      dir: 'x',
      config: c,
      run: { created: '2025-01-01T00:00:00.000Z', version: '0.1.0' },
      steps: [],
      epochs: [],
      attention: [],
      quantization: [],
      warnings: [],
    });
    expect(md).toMatch(/^# cnn-small on mnist: float \(no quantization\)/);
    expect(md).toContain('no end line: the run is going on or was killed after 0 of 2 epochs');
    expect(md).toContain('No attention was recorded');
    expect(md).not.toContain('kept in float');
  });
});
