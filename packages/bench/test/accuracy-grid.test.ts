import { ConfigError, DqaError } from '@dqa/core';
import { describe, expect, it } from 'vitest';
import {
  AccuracyEta,
  type AccuracyGridSpec,
  type AccuracyRunResult,
  accuracyMarkdown,
  cellConfig,
  cellKind,
  configDifference,
  expandAccuracyGrid,
  formatStat,
  meanStd,
  paperActivationSettings,
  paperWeightSettings,
  planAccuracyBudget,
  runCost,
  summarizeAccuracy,
} from '../src/index.js';

const base = {
  model: { name: 'cnn-small' },
  data: { name: 'fashion-mnist', batchSize: 128 },
  learningRate: { kind: 'step' as const, initial: 0.05 },
  quantization: { quantizeFirstLayer: true, quantizeLastLayer: true },
  relaxation: { dqa: { lambda: 1e5 } },
};

const paperGrid: AccuracyGridSpec = {
  base,
  models: [{ name: 'cnn-small' }],
  methods: ['fp', 'ste', 'br', 'br-mix', 'dqa', 'qnet'],
  weights: paperWeightSettings,
  activations: paperActivationSettings,
  seeds: [0, 1, 2],
};

const place = { backend: 'wasm', threads: 2 };

describe('expandAccuracyGrid', () => {
  it("expands the paper's grid: FP, 4 weight settings × 5 methods, 2 activation settings × 5 methods, each over 3 seeds", () => {
    const cells = expandAccuracyGrid(paperGrid);
    expect(cells).toHaveLength((1 + 4 * 5 + 2 * 5) * 3);
    // Seeds outermost: the first 31 cells are every row at seed 0.
    expect(cells.slice(0, 31).every((c) => c.seed === 0)).toBe(true);
    expect(cells.slice(31, 62).every((c) => c.seed === 1)).toBe(true);
    expect(new Set(cells.map((c) => c.name)).size).toBe(cells.length);
    expect(new Set(cells.map((c) => c.key)).size).toBe(31);
    expect(cells.slice(0, 7).map((c) => c.name)).toEqual([
      'cnn-small-fp-s0',
      'cnn-small-w-minmax2-ste-s0',
      'cnn-small-w-minmax2-br-s0',
      'cnn-small-w-minmax2-br-mix-s0',
      'cnn-small-w-minmax2-dqa-s0',
      'cnn-small-w-minmax2-qnet-s0',
      'cnn-small-w-sawb2-ste-s0',
    ]);
    expect(cells.map((c) => c.name)).toContain('cnn-small-w-bwn1-dqa-s2');
    expect(cells.map((c) => c.name)).toContain('cnn-small-wa-sawb2-a2-qnet-s1');
    const wa = cells.find((c) => c.name === 'cnn-small-wa-minmax2-a2-dqa-s0')!;
    expect(wa).toMatchObject({
      key: 'cnn-small/wa/minmax2-a2/dqa',
      target: 'weights+activations',
      setting: { quantizer: 'minmax', bits: 2 },
      activationBits: 2,
      seed: 0,
    });
  });

  it('names models with options apart, and refuses empty or repeated lists', () => {
    const cells = expandAccuracyGrid({
      ...paperGrid,
      models: [{ name: 'mlp', options: { hidden: [16] } }],
      methods: ['fp'],
      seeds: [3],
    });
    expect(cells.map((c) => c.name)).toEqual(['mlp-hidden16-fp-s3']);
    expect(() => expandAccuracyGrid({ ...paperGrid, seeds: [] })).toThrow(/seeds is empty/);
    expect(() => expandAccuracyGrid({ ...paperGrid, seeds: [0, 0] })).toThrow(
      /seed '0' is listed twice/,
    );
    expect(() => expandAccuracyGrid({ ...paperGrid, methods: ['dqa', 'nope' as 'dqa'] })).toThrow(
      /unknown method 'nope'; known: fp, ste, br, br-mix, dqa, qnet/,
    );
  });
});

describe('cellConfig', () => {
  const cells = expandAccuracyGrid(paperGrid);
  const byName = (n: string) => cells.find((c) => c.name === n)!;
  const length = { epochs: 2, trainExamples: 6400, testExamples: 1000 };

  it("builds each method's quantization as dqa train --method does, with BR's scaled ω and the run length", () => {
    const fp = cellConfig(paperGrid, byName('cnn-small-fp-s1'), length, place);
    expect(fp.quantization.weights).toBeNull();
    expect(fp.quantization.activations).toBeNull();
    expect(fp.seed).toBe(1);
    expect(fp.training).toMatchObject({ epochs: 2, backend: 'wasm', threads: 2 });
    expect(fp.data).toMatchObject({ name: 'fashion-mnist', limitTrain: 6400, limitTest: 1000 });

    const br = cellConfig(paperGrid, byName('cnn-small-w-minmax2-br-s0'), length, place);
    expect(br.quantization.weights!.relaxation).toBe('binary-relax');
    expect(br.quantization.weights!.quantizers.map((q) => `${q.id}${q.bits}`)).toEqual([
      'minmax2',
      'fp32',
    ]);
    expect(br.relaxation.binaryRelax.schedule).toBe('scaled');

    const brMix = cellConfig(paperGrid, byName('cnn-small-w-bwn1-br-mix-s0'), length, place);
    expect(brMix.quantization.weights!.quantizers.map((q) => `${q.id}${q.bits}`)).toEqual([
      'bwn1',
      'twn2',
      'fp32',
    ]);

    const dqa = cellConfig(paperGrid, byName('cnn-small-w-twn2-dqa-s0'), length, place);
    expect(dqa.quantization.weights!.relaxation).toBe('dqa');
    expect(dqa.quantization.weights!.quantizers.map((q) => `${q.id}${q.bits}`)).toEqual([
      'twn2',
      'minmax4',
      'minmax8',
    ]);
    expect(dqa.relaxation.dqa.lambda).toBe(1e5);

    const qnet = cellConfig(paperGrid, byName('cnn-small-wa-sawb2-a2-qnet-s0'), length, place);
    expect(qnet.quantization.weights).toMatchObject({
      relaxation: 'qnet',
      quantizers: [{ id: 'sawb', bits: 2 }],
    });
    expect(qnet.quantization.activations).toMatchObject({
      relaxation: 'qnet',
      quantizers: [{ id: 'pact', bits: 2 }],
    });

    const whole = cellConfig(
      paperGrid,
      byName('cnn-small-fp-s0'),
      { epochs: 1, trainExamples: null, testExamples: null },
      place,
    );
    expect(whole.data.limitTrain).toBeUndefined();
    expect(whole.data.limitTest).toBeUndefined();
  });

  it('names the cell when its configuration is invalid', () => {
    const bad = { ...paperGrid, base: { ...base, data: { ...base.data, batchSize: 0 } } };
    const cell = byName('cnn-small-w-minmax2-dqa-s0');
    expect(() => cellConfig(bad, cell, length, place)).toThrow(ConfigError);
    expect(() => cellConfig(bad, cell, length, place)).toThrow(
      /grid cell cnn-small-w-minmax2-dqa-s0[\s\S]*data\.batchSize/,
    );
  });

  it('configDifference finds the first differing key, ignoring key order', () => {
    expect(configDifference({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeNull();
    expect(configDifference({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] } })).toBe(
      'b.c[1]: 2 vs 3',
    );
    expect(configDifference({ t: { epochs: 1 } }, { t: {} })).toBe('t.epochs: 1 vs absent');
  });
});

describe('planAccuracyBudget', () => {
  const costs = {
    fp: { stepS: 0.1, evalBatchS: 0.05, overheadS: 2 },
    dqa: { stepS: 0.2, evalBatchS: 0.05, overheadS: 3 },
  };
  const common = { costs, batchSize: 100, trainCount: 10_000, testCount: 1000 };

  it('runCost is overhead + steps·step + (epochs + 1)·test batches·eval', () => {
    expect(runCost(costs.dqa, { epochs: 2, trainExamples: 1000 }, 100, 1000)).toBeCloseTo(
      3 + 20 * 0.2 + 3 * 10 * 0.05,
      12,
    );
  });

  it('gives whole epochs over the whole split while they fit', () => {
    // One fp and one dqa run of E epochs (100 steps each, 10 test batches per evaluation):
    // fp 2 + 10·E + 0.5·(E + 1), dqa 3 + 20·E + 0.5·(E + 1): 6 + 31·E seconds.
    const plan = planAccuracyBudget({
      ...common,
      kinds: ['fp', 'dqa'],
      availableS: 6 + 31 * 3 + 10,
    });
    expect(plan).toMatchObject({ epochs: 3, trainExamples: null, steps: 300 });
    expect(plan.estimateS).toBeCloseTo(6 + 31 * 3, 9);
    expect(
      planAccuracyBudget({ ...common, kinds: ['fp'], availableS: 1e9, maxEpochs: 4 }).epochs,
    ).toBe(4);
  });

  it('below one epoch, gives one epoch on the largest whole number of batches that fits', () => {
    // One epoch on b batches: fp 2 + 0.1·b + 1, dqa 3 + 0.2·b + 1, so 7 + 0.3·b: the whole
    // epoch (b = 100) needs 37 s; with 36.9 s, b = 99.
    const plan = planAccuracyBudget({ ...common, kinds: ['fp', 'dqa'], availableS: 36.9 });
    expect(plan).toMatchObject({ epochs: 1, trainExamples: 9900, steps: 99 });
    expect(plan.estimateS).toBeLessThanOrEqual(36.9);
  });

  it('refuses a budget too small for one batch per run, saying how much is needed', () => {
    expect(() => planAccuracyBudget({ ...common, kinds: ['fp', 'dqa'], availableS: 5 })).toThrow(
      /2 runs need at least 8 seconds \(one batch each.*\), but 5 seconds are left; raise --budget/,
    );
    expect(() => planAccuracyBudget({ ...common, kinds: ['qnet'], availableS: 100 })).toThrow(
      DqaError,
    );
  });

  it('cellKind tells methods, weight quantizers and quantized activations apart', () => {
    const cells = expandAccuracyGrid(paperGrid);
    const methods = ['ste', 'br', 'br-mix', 'dqa', 'qnet'];
    const weightsOnly = methods.flatMap((m) =>
      ['minmax2', 'sawb2', 'bwn1', 'twn2'].map((q) => `${m}-${q}`),
    );
    const withPact = methods.flatMap((m) => ['minmax2', 'sawb2'].map((q) => `${m}-${q}+pact`));
    expect(new Set(cells.map(cellKind))).toEqual(new Set(['fp', ...weightsOnly, ...withPact]));
  });
});

describe('the table', () => {
  const spec: AccuracyGridSpec = {
    ...paperGrid,
    methods: ['fp', 'ste', 'br', 'dqa'],
    weights: [{ quantizer: 'minmax', bits: 2 }],
    activations: [{ quantizer: 'sawb', bits: 2, activationBits: 2 }],
  };
  const cells = expandAccuracyGrid(spec);
  // Fixed accuracies per row and seed; seed 2 of DQA never finished, BR's seed 1 diverged.
  const acc: Record<string, [number, number][]> = {
    'cnn-small/fp': [
      [0.9, 0.9],
      [0.88, 0.88],
      [0.89, 0.89],
    ],
    'cnn-small/w/minmax2/ste': [
      [0.1, 0.1],
      [0.1, 0.1],
      [0.1, 0.1],
    ],
    'cnn-small/w/minmax2/br': [
      [0.7, 0.75],
      [-1, -1],
      [0.72, 0.74],
    ],
    'cnn-small/w/minmax2/dqa': [
      [0.8, 0.81],
      [0.78, 0.8],
    ],
    'cnn-small/wa/sawb2-a2/ste': [[0.5, 0.5]],
  };
  const results = new Map<string, AccuracyRunResult>();
  const diverged = new Map<string, string>();
  for (const c of cells) {
    const r = acc[c.key]?.[c.seed];
    if (!r) continue;
    if (r[0] < 0) diverged.set(c.name, 'train: the loss became NaN at step 3');
    else
      results.set(c.name, { name: c.name, hardAccuracy: r[0], relaxedAccuracy: r[1], seconds: 10 });
  }
  const rows = summarizeAccuracy(cells, results, { lambda: 1e5, diverged });

  it('gives mean and sample std per row over its finished seeds', () => {
    expect(meanStd([])).toBeNull();
    expect(meanStd([0.5])).toEqual({ mean: 0.5, std: null, values: [0.5] });
    const fp = rows.find((r) => r.key === 'cnn-small/fp')!;
    expect(fp.hard!.mean).toBeCloseTo(0.89, 12);
    expect(fp.hard!.std).toBeCloseTo(0.01, 12);
    const dqa = rows.find((r) => r.key === 'cnn-small/w/minmax2/dqa')!;
    expect(dqa.finished).toEqual([0, 1]);
    expect(dqa.seeds).toEqual([0, 1, 2]);
    expect(dqa.hard!.mean).toBeCloseTo(0.79, 12);
    expect(dqa.hard!.std).toBeCloseTo(Math.SQRT2 * 0.01, 12);
    expect(dqa.relaxed!.mean).toBeCloseTo(0.805, 12);
    expect(dqa.lambda).toBe(1e5);
    expect(dqa.weights.map((q) => q.bits)).toEqual([2, 4, 8]);
    const br = rows.find((r) => r.key === 'cnn-small/w/minmax2/br')!;
    expect(br.diverged).toEqual([1]);
    expect(br.hard!.values).toEqual([0.7, 0.72]);
    const wa = rows.find((r) => r.key === 'cnn-small/wa/sawb2-a2/br')!;
    expect(wa.hard).toBeNull();
    expect(wa.activations).toEqual([{ id: 'pact', bits: 2 }]);
    expect(formatStat(dqa.hard)).toBe('79.00 ± 1.41');
    expect(formatStat(rows.find((r) => r.key === 'cnn-small/wa/sawb2-a2/ste')!.hard)).toBe('50.00');
    expect(formatStat(null)).toBe('–');
  });

  it("prints the paper's layout: Table 1 rows, then Table 2 rows with the activations column", () => {
    const md = accuracyMarkdown(rows, { title: 'Test grid', notes: ['a note'] });
    expect(md).toContain('# Test grid\n\n- a note\n');
    expect(md).toContain('## cnn-small: weights only (the layout of Table 1)');
    expect(md).toContain(
      '| cnn-small | 32 | FP | - | - | - | - | - | 89.00 ± 1.00 | 89.00 ± 1.00 | 3 |',
    );
    expect(md).toContain(
      '| cnn-small | 2 | min-max | - | - | - | - | - | 10.00 ± 0.00 | 10.00 ± 0.00 | 3 |',
    );
    expect(md).toContain(
      '| cnn-small+BR | 2 | min-max | 32 | FP | - | - | - | 71.00 ± 1.41 | 74.50 ± 0.71 | 2/3 (1 diverged) |',
    );
    expect(md).toContain(
      '| cnn-small+DQA | 2 | min-max | 4 | min-max | 8 | min-max | 1e5 | 79.00 ± 1.41 | 80.50 ± 0.71 | 2/3 |',
    );
    expect(md).toContain('## cnn-small: weights and activations (the layout of Table 2)');
    expect(md).toContain(
      '| cnn-small | 2 | SAWB | - | - | - | - | PACT 2 | - | 50.00 | 50.00 | 1/3 |',
    );
    expect(md).toContain(
      '| cnn-small+DQA | 2 | SAWB | 4 | SAWB | 8 | SAWB | PACT 2/4/8 | 1e5 | – | – | 0/3 |',
    );
    // FP heads both tables.
    expect(md.match(/\| cnn-small \| 32 \| FP/g)).toHaveLength(2);
  });
});

describe('AccuracyEta', () => {
  const cells = expandAccuracyGrid({
    ...paperGrid,
    methods: ['fp', 'dqa'],
    activations: [],
    weights: [{ quantizer: 'minmax', bits: 2 }],
    seeds: [0],
  });
  const start = (i: number) => ({
    type: 'cell-start' as const,
    index: i,
    total: 2,
    cell: cells[i]!,
    resume: null,
    estimateS: 0,
  });
  const end = (i: number, seconds: number) => ({
    type: 'cell-end' as const,
    index: i,
    total: 2,
    cell: cells[i]!,
    status: 'trained' as const,
    result: null,
    seconds,
  });
  const plan = (estimates: number[]) => ({
    type: 'plan' as const,
    state: {} as never,
    reused: false,
    cells,
    finished: 0,
    estimates: cells.map((c, i) => ({ name: c.name, seconds: estimates[i]! })),
    estimateS: estimates.reduce((a, b) => a + b, 0),
  });

  it('scales the calibrated estimates by how the finished runs compared with theirs', () => {
    const eta = new AccuracyEta();
    expect(eta.remainingSeconds()).toBeNull();
    eta.observe(plan([10, 20]));
    expect(eta.remainingSeconds()).toBe(30);
    eta.observe(start(0));
    eta.observe({
      type: 'train',
      index: 0,
      cell: cells[0]!,
      event: { type: 'step', epoch: 0, step: 4, totalSteps: 10, loss: 1, regularizer: 0, lr: 0.1 },
    });
    expect(eta.remainingSeconds()).toBe(25);
    eta.observe(end(0, 20)); // twice as slow as estimated
    expect(eta.ratio).toBe(2);
    expect(eta.remainingSeconds()).toBe(40);
  });

  it('without a calibration, is unknown until a run ends, then uses the mean run', () => {
    const eta = new AccuracyEta();
    eta.observe(plan([0, 0]));
    eta.observe(start(0));
    expect(eta.remainingSeconds()).toBeNull();
    eta.observe(end(0, 12));
    expect(eta.remainingSeconds()).toBe(12);
  });
});
