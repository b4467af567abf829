import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Batch,
  createReferenceBackend,
  type DqaConfigInput,
  parseConfig,
  Random,
} from '@dqa/core';
import { buildModel, createTrainData, type Dataset } from '@dqa/models';
import { loadDataset } from '@dqa/models/node';
import { quantizers } from '@dqa/quantizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeLossSurface,
  filterNormalizedDirection,
  isolines,
  surfaceAxis,
  surfaceMarkdown,
  surfaceRoughness,
  writeSurface,
} from '../src/index.js';

const grid = (n: number, f: (x: number, y: number) => number) => {
  const axis = surfaceAxis(n, 1);
  const values: number[] = [];
  for (const y of axis) for (const x of axis) values.push(f(x, y));
  return { axis, values };
};

describe('filterNormalizedDirection', () => {
  it('scales every filter (last axis) to its weights’ norm and leaves biases unmoved', () => {
    // A conv kernel (HWIO) whose filter f holds 12 values equal to f + 1.
    const conv = {
      values: Float32Array.from({ length: 48 }, (_, i) => (i % 4) + 1),
      shape: [2, 2, 3, 4],
    };
    const dense = { values: new Float32Array([1, 2, 0, 3, 4, 0]), shape: [2, 3] };
    const bias = { values: new Float32Array([5, 6, 7]), shape: [3] };
    const [dc, dd, db] = filterNormalizedDirection([conv, dense, bias], new Random(9));
    const norms = (v: Float32Array, filters: number) => {
      const s = new Array<number>(filters).fill(0);
      v.forEach((x, i) => {
        s[i % filters]! += x * x;
      });
      return s.map(Math.sqrt);
    };
    // conv filter f holds 12 values equal to f + 1: norm (f + 1)·√12.
    for (const [f, n] of norms(dc!, 4).entries()) expect(n).toBeCloseTo((f + 1) * Math.sqrt(12), 4);
    // dense: column norms √(1 + 9) = √10, √(4 + 16) = √20, and 0 (an all-zero filter stays 0).
    const nd = norms(dd!, 3);
    expect(nd[0]).toBeCloseTo(Math.sqrt(10), 5);
    expect(nd[1]).toBeCloseTo(Math.sqrt(20), 5);
    expect(nd[2]).toBe(0);
    expect([...db!]).toEqual([0, 0, 0]);
    // Random, not a copy of the weights; the same seed gives the same direction.
    expect(Array.from(dc!.slice(0, 4))).not.toEqual([1, 2, 3, 4]);
    expect(filterNormalizedDirection([conv], new Random(9))[0]).toEqual(dc);
    expect(() =>
      filterNormalizedDirection([{ values: new Float32Array(3), shape: [2, 2] }], new Random(1)),
    ).toThrow(/shape \[2, 2\] but 3 values/);
  });
});

describe('surfaceRoughness', () => {
  it('a bowl: one minimum, normalised total variation 2', () => {
    const { values } = grid(21, (x, y) => x * x + y * y);
    const r = surfaceRoughness(values, 21, 21);
    expect(r.localMinima).toBe(1);
    expect(r.min).toBe(0);
    expect(r.max).toBe(2);
    // Each of the 21 rows and 21 columns falls by 1 and rises by 1.
    expect(r.totalVariation).toBeCloseTo(42 * 2, 9);
    expect(r.normalizedTotalVariation).toBeCloseTo(2, 9);
  });

  it('a tilted plane: no minimum, normalised total variation 1; flat: 0', () => {
    const r = surfaceRoughness(grid(11, (x, y) => x + 2 * y).values, 11, 11);
    expect(r.localMinima).toBe(0);
    expect(r.normalizedTotalVariation).toBeCloseTo(1, 9);
    const flat = surfaceRoughness(new Array(9).fill(3), 3, 3);
    expect(flat).toMatchObject({ totalVariation: 0, normalizedTotalVariation: 0, localMinima: 0 });
  });

  it('an egg crate cos(2πx/P)·… with known minima; plateaus are not strict minima', () => {
    // On 21 points over [−1, 1] (step 0.1), cos(πx/0.5) + cos(πy/0.5) has its minima at
    // x, y ∈ {−0.5, 0.5}: four interior points.
    const r = surfaceRoughness(
      grid(21, (x, y) => Math.cos(2 * Math.PI * x) + Math.cos(2 * Math.PI * y)).values,
      21,
      21,
    );
    expect(r.localMinima).toBe(4);
    expect(r.normalizedTotalVariation).toBeGreaterThan(3);
    const plateau = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1];
    expect(surfaceRoughness(plateau, 3, 4).localMinima).toBe(0);
    expect(() => surfaceRoughness([1, 2, 3], 2, 2)).toThrow(/needs 4 values, got 3/);
    expect(() => surfaceRoughness([1, Number.NaN, 3, 4], 2, 2)).toThrow(/row 0, column 1 is NaN/);
  });

  it('isolines of a bowl are circles at their levels, inside the grid', () => {
    const { axis, values } = grid(21, (x, y) => x * x + y * y);
    const points = isolines(values, axis, 12);
    const levels = [...new Set(points.map((p) => p.level))];
    expect(levels).toHaveLength(12);
    for (const p of points) {
      if (p.level < 0.9) expect(Math.abs(p.a * p.a + p.b * p.b - p.level)).toBeLessThan(0.02);
      expect(Math.max(Math.abs(p.a), Math.abs(p.b))).toBeLessThanOrEqual(1.05);
    }
    expect(isolines(new Array(9).fill(1), surfaceAxis(3, 1), 5)).toEqual([]);
  });

  it('surfaceAxis needs an odd number of points so that the origin is one', () => {
    expect(surfaceAxis(5, 2)).toEqual([-2, -1, 0, 1, 2]);
    expect(() => surfaceAxis(4, 1)).toThrow(/odd integer/);
  });
});

describe('computeLossSurface', () => {
  let dataset: Dataset;
  let tmp = '';
  beforeAll(async () => {
    dataset = await loadDataset('fashion-mnist');
    tmp = await mkdtemp(join(tmpdir(), 'dqa-surface-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
  const base: DqaConfigInput = {
    seed: 4,
    model: { name: 'mlp', options: { hidden: [12] } },
    data: { name: 'fashion-mnist' },
    quantization: { quantizeFirstLayer: true, quantizeLastLayer: true },
  };

  it('a tiny MLP: at the origin each surface is the network’s own loss; quantized surfaces are rougher', async () => {
    const b = createReferenceBackend();
    const result = await computeLossSurface({
      backend: b,
      base,
      dataset,
      examples: 48,
      points: 7,
      span: 1,
    });
    expect(result.axis).toEqual(surfaceAxis(7, 1));
    expect(result.variants.map((v) => v.label)).toEqual([
      'float32',
      '2-bit min-max',
      'mixed 2/4/8-bit (DQA)',
    ]);
    for (const v of result.variants) {
      expect(v.loss).toHaveLength(49);
      expect(v.loss.every(Number.isFinite)).toBe(true);
    }

    // The loss at the origin, computed independently: the network of the same seed on the same
    // 48 test images (DQA at T(0) = 100 after Algorithm 1's normalisation).
    const batchOf = (): Batch =>
      createTrainData(b, dataset, { batchSize: 48, seed: 4, limitTest: 48 })
        .testBatches()
        [Symbol.iterator]()
        .next().value as Batch;
    const methods = {
      float32: null,
      '2-bit min-max': { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] },
      'mixed 2/4/8-bit (DQA)': {
        relaxation: 'dqa',
        quantizers: [2, 4, 8].map((bits) => ({ id: 'minmax', bits })),
      },
    };
    for (const v of result.variants) {
      const config = parseConfig(
        {
          ...base,
          quantization: { ...base.quantization, weights: methods[v.label as keyof typeof methods] },
        },
        { quantizers },
      );
      const model = buildModel(b, config, {
        quantizers,
        inputShape: dataset.inputShape,
        classes: 10,
      });
      const step = { step: 0, totalSteps: 1, stepsPerEpoch: 1 };
      for (const q of model.quantizers) q.beforeStep(step);
      const batch = batchOf();
      const loss = b.tidy(
        () =>
          b.readSync(
            b.softmaxCrossEntropy(
              model.forward(batch.x, { training: false, step, hard: false }),
              batch.y,
            ),
          )[0]!,
      );
      model.dispose();
      b.dispose([batch.x, batch.y]);
      expect(v.originLoss).toBeCloseTo(loss, 5);
      expect(v.loss[24]).toBe(v.originLoss);
    }

    const [fp, low, mixed] = result.variants;
    // Two-bit weights make a rougher surface than float ones on the same grid.
    expect(low!.roughness.normalizedTotalVariation).toBeGreaterThan(
      fp!.roughness.normalizedTotalVariation,
    );
    expect(mixed!.attention).toHaveLength(2);
    for (const l of mixed!.attention!) {
      expect(l.bits).toEqual([2, 4, 8]);
      for (const a of l.a) expect(a).toBeGreaterThan(0.3); // ≈ uniform at T = 100
    }

    const md = surfaceMarkdown(result);
    expect(md).toContain('| float32 | float32 weights |');
    expect(md).toContain('| 2-bit min-max | min-max 2 |');
    expect(md).toMatch(/Attention of "mixed 2\/4\/8-bit \(DQA\)" at T = 100: fc1 \[2b 0\.3/);
    const files = await writeSurface(result, tmp, { png: false });
    expect(await readFile(files.svg, 'utf8')).toMatch(/^<svg/);
    const json = JSON.parse(await readFile(files.json, 'utf8'));
    expect(json.variants[1].roughness.localMinima).toBe(low!.roughness.localMinima);
    expect(files.png).toBeUndefined();
  }, 60_000);
});
