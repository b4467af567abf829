import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, type Backend, createReferenceBackend } from '@dqa/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AccuracyEvent,
  type AccuracyGridOptions,
  type AccuracyGridSpec,
  readCheckpoint,
  runAccuracyGrid,
} from '../src/index.js';

// A tiny grid that really trains: an MLP (784 → 16 → 10) on the first 128 Fashion-MNIST images,
// float and DQA 2/4/8-bit min-max, 2 seeds, 2 epochs of 4 steps, on the exact reference backend.

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'dqa-accuracy-run-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const spec: AccuracyGridSpec = {
  base: {
    model: { name: 'mlp' },
    data: { name: 'fashion-mnist', batchSize: 32 },
    learningRate: { kind: 'constant', initial: 0.05 },
    quantization: { quantizeFirstLayer: true, quantizeLastLayer: true },
    relaxation: { dqa: { lambda: 1 } },
  },
  models: [{ name: 'mlp', options: { hidden: [16] } }],
  methods: ['fp', 'dqa'],
  weights: [{ quantizer: 'minmax', bits: 2 }],
  activations: [],
  seeds: [0, 1],
};

function options(dir: string, extra: Partial<AccuracyGridOptions> = {}) {
  const events: AccuracyEvent[] = [];
  const o: AccuracyGridOptions = {
    spec,
    dir,
    length: { epochs: 2, trainExamples: 128 },
    testExamples: 64,
    backend: createReferenceBackend(),
    backendId: 'reference',
    threads: 1,
    onEvent: (e) => events.push(e),
    ...extra,
  };
  return { o, events };
}

const ends = (events: AccuracyEvent[]) =>
  events.flatMap((e) => (e.type === 'cell-end' ? [`${e.cell.name} ${e.status}`] : []));

describe('runAccuracyGrid', () => {
  it('stops with a checkpoint, then skips finished runs and resumes the stopped one bit for bit', async () => {
    const dir = join(tmp, 'grid');
    // Stop inside the second run (DQA, seed 0) after its 6th step, as Ctrl-C does.
    let steps = 0;
    let inDqa = false;
    const first = options(dir, {
      shouldStop: () => inDqa && steps >= 6,
    });
    const onEvent = first.o.onEvent!;
    first.o.onEvent = (e) => {
      onEvent(e);
      if (e.type === 'cell-start') inDqa = e.cell.method === 'dqa';
      if (e.type === 'train' && e.event.type === 'step' && inDqa) steps++;
    };
    const stopped = await runAccuracyGrid(first.o);
    expect(stopped.stopped).toBe(true);
    expect(ends(first.events)).toEqual([
      'mlp-hidden16-fp-s0 trained',
      'mlp-hidden16-w-minmax2-dqa-s0 stopped',
    ]);
    const dqaDir = join(dir, 'mlp-hidden16-w-minmax2-dqa-s0');
    const ckpt = await readCheckpoint(join(dqaDir, 'checkpoints', 'last.ckpt'));
    expect(ckpt).toMatchObject({ epoch: 1, step: 6 });
    // The partial table is written: FP at one seed, DQA not yet.
    const partial = await readFile(join(dir, 'accuracy.md'), 'utf8');
    expect(partial).toMatch(/\| mlp-hidden16 \| 32 \| FP .* \| 1\/2 \|/);
    expect(partial).toContain('Stopped before the end');

    const fpMetrics = join(dir, 'mlp-hidden16-fp-s0', 'metrics.jsonl');
    const fpBefore = {
      text: await readFile(fpMetrics, 'utf8'),
      mtime: (await stat(fpMetrics)).mtimeMs,
    };

    // Rerun: the finished FP run is skipped, DQA resumes at step 6, the rest trains.
    const second = options(dir);
    const done = await runAccuracyGrid(second.o);
    expect(done.stopped).toBe(false);
    expect(ends(second.events)).toEqual([
      'mlp-hidden16-fp-s0 skipped',
      'mlp-hidden16-w-minmax2-dqa-s0 trained',
      'mlp-hidden16-fp-s1 trained',
      'mlp-hidden16-w-minmax2-dqa-s1 trained',
    ]);
    const starts = second.events.filter((e) => e.type === 'cell-start');
    expect(starts.map((e) => (e.type === 'cell-start' ? e.resume : null))).toEqual([
      { epoch: 1, step: 6 },
      null,
      null,
    ]);
    expect(await readFile(fpMetrics, 'utf8')).toBe(fpBefore.text);
    expect((await stat(fpMetrics)).mtimeMs).toBe(fpBefore.mtime);
    expect(done.rows.map((r) => r.finished)).toEqual([
      [0, 1],
      [0, 1],
    ]);
    // The resumed run reads as one straight run: 8 steps, 2 epochs, one end line.
    const lines = (await readFile(join(dqaDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    const types = lines.map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types.filter((t) => t === 'step')).toHaveLength(8);
    expect(types.filter((t) => t === 'epoch')).toHaveLength(2);
    expect(types.at(-1)).toBe('end');

    // The same grid without the interruption gives the very same accuracies.
    const straight = options(join(tmp, 'straight'));
    const reference = await runAccuracyGrid(straight.o);
    const accuracies = (r: typeof done) =>
      r.rows.map((row) => [row.hard!.values, row.relaxed!.values]);
    expect(accuracies(done)).toEqual(accuracies(reference));

    // A third run trains nothing; a different run length in the same folder is refused.
    const third = options(dir);
    await runAccuracyGrid(third.o);
    expect(third.events.some((e) => e.type === 'cell-start')).toBe(false);
    expect(ends(third.events).every((e) => e.endsWith('skipped'))).toBe(true);
    const other = options(dir, { length: { epochs: 3, trainExamples: 128 } });
    await expect(runAccuracyGrid(other.o)).rejects.toThrow(
      /planned for 2 epochs on 128 training examples and 64 test examples; continue it with the same flags/,
    );

    const md = await readFile(join(dir, 'accuracy.md'), 'utf8');
    expect(md).toContain('## mlp-hidden16: weights only (the layout of Table 1)');
    expect(md).toMatch(
      /\| mlp-hidden16\+DQA \| 2 \| min-max \| 4 \| min-max \| 8 \| min-max \| 1 \| \d+\.\d\d ± \d+\.\d\d \|/,
    );
    const json = JSON.parse(await readFile(join(dir, 'accuracy.json'), 'utf8'));
    expect(json.runs).toHaveLength(4);
    expect(json.settings.length).toEqual({ epochs: 2, trainExamples: 128, testExamples: 64 });
  }, 120_000);

  it('records a run whose loss diverges and does not train it again', async () => {
    const dir = join(tmp, 'diverging');
    const diverging = {
      ...spec,
      base: { ...spec.base, learningRate: { kind: 'constant' as const, initial: 1e30 } },
      methods: ['fp' as const],
      seeds: [0],
    };
    const first = options(dir, { spec: diverging, length: { epochs: 1, trainExamples: 128 } });
    const r = await runAccuracyGrid(first.o);
    const end = first.events.find((e) => e.type === 'cell-end');
    expect(end).toMatchObject({ status: 'diverged' });
    expect(end?.type === 'cell-end' && end.diverged).toMatch(/the loss became (NaN|Infinity)/);
    expect(existsSync(join(dir, 'mlp-hidden16-fp-s0', 'diverged.json'))).toBe(true);
    expect(r.rows[0]!.diverged).toEqual([0]);
    expect(r.markdown).toContain('| – | – | 0/1 (1 diverged) |');

    const again = options(dir, { spec: diverging, length: { epochs: 1, trainExamples: 128 } });
    await runAccuracyGrid(again.o);
    expect(again.events.some((e) => e.type === 'cell-start')).toBe(false);
  }, 60_000);

  it('records a run whose learned parameters leave their domain mid-training; refuses one that fails before it trains', async () => {
    // The reference backend, with matMul failing as PACT does once its clip level α has been
    // trained below 0 (measured in the default grid: α = −0.18 in a BR run with PACT).
    const failingAfter = (calls: number): Backend => {
      const ref = createReferenceBackend();
      let n = 0;
      return new Proxy(ref, {
        get(target, key) {
          if (key === 'matMul')
            return (...a: Parameters<Backend['matMul']>) => {
              if (++n > calls)
                throw new ArgumentError('pact: the clip level alpha must be positive, got -0.18');
              return target.matMul(...a);
            };
          const v = Reflect.get(target, key);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    };
    const one = { ...spec, methods: ['fp' as const], seeds: [0] };
    const dir = join(tmp, 'domain');
    const late = options(dir, {
      spec: one,
      backend: failingAfter(10),
      length: { epochs: 1, trainExamples: 128 },
    });
    await runAccuracyGrid(late.o);
    const end = late.events.find((e) => e.type === 'cell-end');
    expect(end).toMatchObject({ status: 'diverged' });
    expect(end?.type === 'cell-end' && end.diverged).toMatch(
      /^after \d+ steps: pact: the clip level alpha must be positive/,
    );
    const early = options(join(tmp, 'domain-early'), {
      spec: one,
      backend: failingAfter(0),
      length: { epochs: 1, trainExamples: 128 },
    });
    await expect(runAccuracyGrid(early.o)).rejects.toThrow(/clip level alpha must be positive/);
  }, 60_000);

  it('with a budget, times each kind of run, plans, and (dry run) trains and writes nothing', async () => {
    const dir = join(tmp, 'planned');
    const { o, events } = options(dir, {
      length: undefined,
      budgetS: 3600,
      maxEpochs: 2,
      dryRun: true,
      calibrationSteps: 3,
      calibrationTestBatches: 1,
    });
    const r = await runAccuracyGrid(o);
    const calibrated = events.flatMap((e) => (e.type === 'calibrated' ? [e.kind] : []));
    expect(calibrated).toEqual(['fp', 'dqa-minmax2']);
    for (const e of events)
      if (e.type === 'calibrated') {
        expect(e.cost.stepS).toBeGreaterThan(0);
        expect(e.cost.evalBatchS).toBeGreaterThan(0);
      }
    const plan = events.find((e) => e.type === 'plan');
    expect(plan?.type === 'plan' && plan.estimates.map((x) => x.name)).toEqual(
      r.cells.map((c) => c.name),
    );
    expect(plan?.type === 'plan' && plan.estimateS).toBeGreaterThan(0);
    // The budget is ample: whole epochs over the whole split, as many as allowed.
    expect(r.state.length).toEqual({ epochs: 2, trainExamples: null, testExamples: 64 });
    expect(events.some((e) => e.type === 'cell-start')).toBe(false);
    expect(existsSync(dir) ? await readdir(dir) : []).toEqual([]);
  }, 60_000);
});
