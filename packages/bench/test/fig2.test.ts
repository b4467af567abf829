import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, Random } from '@dqa/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Fig2Result,
  fig2Json,
  fig2Markdown,
  fig2Temperatures,
  fig2VariantIds,
  runFig2Study,
  writeFig2,
} from '../src/index.js';

/**
 * Min-max quantization written out from the paper, independently of @dqa/quantizers: levels
 * q_i = x_min + (i − 1)·Δ, Δ = (x_max − x_min)/(2ⁿ − 1) (eq. 10), each x to its nearest level
 * (eq. 9, 13), in float64.
 */
function minmaxMae(w: Float32Array, bits: number): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of w) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const L = 2 ** bits;
  const step = (hi - lo) / (L - 1);
  let sum = 0;
  for (const v of w) {
    const i = Math.min(L - 1, Math.max(0, Math.round((v - lo) / step)));
    sum += Math.abs(v - (lo + i * step));
  }
  return sum / w.length;
}

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

describe('fig2 study (defaults: 100 000 samples, seed 0)', () => {
  let result: Fig2Result;
  let mae2: number;

  beforeAll(() => {
    result = runFig2Study();
    mae2 = minmaxMae(new Random(0).normalArray(100_000), 2);
  });

  it('sweeps T from 100 down to 0.01, with the table temperatures in the grid', () => {
    const Ts = result.rows.map((r) => r.T);
    expect(Ts[0]).toBe(100);
    expect(Ts.at(-1)).toBe(0.01);
    for (let i = 1; i < Ts.length; i++) expect(Ts[i]).toBeLessThan(Ts[i - 1]!);
    // 41 log-spaced points; 100, 10, 1, 0.1, 0.01 coincide with table values, 30, 3, 0.3, 0.03 add.
    expect(Ts).toHaveLength(45);
    expect(result.rows.filter((r) => r.inTable).map((r) => r.T)).toEqual([
      100, 30, 10, 3, 1, 0.3, 0.1, 0.03, 0.01,
    ]);
  });

  it('reports the pure 2-bit min-max MAE matching eq. 10/13 computed here', () => {
    expect(relErr(result.reference.mae, mae2)).toBeLessThan(1e-6);
  });

  it('at the lowest T both methods, in both variants, equal pure 2-bit min-max (1e-3 relative)', () => {
    const last = result.rows.at(-1)!;
    expect(last.T).toBe(0.01);
    for (const v of fig2VariantIds) {
      // Tightest case: DQA with eq. 4 literal keeps a_2 ≈ e^{−(4/7 − 1/2)/0.01} ≈ 8e-4 on 4 bits.
      expect(relErr(last.mae[v].br, mae2)).toBeLessThan(1e-3);
      expect(relErr(last.mae[v].dqa, mae2)).toBeLessThan(1e-3);
    }
  });

  it('at the highest T, eq. 4 gives DQA near-uniform attention and BR ≈ [1/2, 1/2]', () => {
    const first = result.rows[0]!;
    expect(first.T).toBe(100);
    for (const a of first.attention.eq4.dqa) expect(Math.abs(a - 1 / 3)).toBeLessThan(0.005);
    for (const a of first.attention.eq4.br) expect(Math.abs(a - 1 / 2)).toBeLessThan(0.005);
    // w − (a₁Q + a₂w) = a₁(w − Q), so BR's MAE is exactly a₁ times the 2-bit MAE: about half.
    expect(relErr(first.mae.eq4.br, first.attention.eq4.br[0]! * mae2)).toBeLessThan(1e-6);
    expect(relErr(first.mae.eq4.br, mae2 / 2)).toBeLessThan(0.005);
  });

  it('variant (a) is core attention: α normalised by its population std', () => {
    expect(result.methods.br.normalizedAlpha).toEqual([3, 1]);
    const row = result.rows.find((r) => r.T === 1)!;
    // softmax([3, 1]) at T = 1
    expect(row.attention.algorithm1.br[0]).toBeCloseTo(1 / (1 + Math.exp(-2)), 12);
    expect(row.attention.eq4.br[0]).toBeCloseTo(1 / (1 + Math.exp(-0.5)), 12);
  });

  it('markdown states the variants, samples and seed; JSON holds every row', () => {
    const md = fig2Markdown(result);
    expect(md).toContain('100000 samples');
    expect(md).toContain('seed 0');
    expect(md).toContain('## (a) Algorithm 1: a = softmax((α / std(α)) / T)');
    expect(md).toContain('## (b) eq. 4 literal: a = softmax(α / T)');
    expect(md).toMatch(/^\| 0\.03 \|/m);
    const json = JSON.parse(fig2Json(result)) as Fig2Result;
    expect(json.rows).toHaveLength(result.rows.length);
    expect(json.reference.mae).toBe(result.reference.mae);
  });
});

describe('fig2 study options', () => {
  it('is deterministic for a seed and changes with it', () => {
    const a = runFig2Study({ samples: 2000, seed: 7, points: 5 });
    const b = runFig2Study({ samples: 2000, seed: 7, points: 5 });
    const c = runFig2Study({ samples: 2000, seed: 8, points: 5 });
    expect(fig2Json(a)).toBe(fig2Json(b));
    expect(c.reference.mae).not.toBe(a.reference.mae);
  });

  it('rejects impossible options with an error naming the option', () => {
    expect(() => runFig2Study({ samples: 0 })).toThrow(ArgumentError);
    expect(() => runFig2Study({ samples: 0 })).toThrow(/samples/);
    expect(() => runFig2Study({ points: 1 })).toThrow(/points/);
    expect(() => runFig2Study({ seed: -1 })).toThrow(/seed/);
    expect(() => runFig2Study({ tMin: 10, tMax: 1 })).toThrow(/tMin/);
  });

  it('builds a grid of exactly `points` temperatures when the table adds none', () => {
    const grid = fig2Temperatures({ points: 5, tableTemperatures: [] });
    expect(grid.map((r) => r.T)).toEqual([100, 10, 1, 0.1, 0.01].map((t) => expect.closeTo(t, 12)));
  });
});

describe('writeFig2', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dqa-fig2-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes md, json, svg and png, atomically (no temp files left)', async () => {
    const result = runFig2Study({ samples: 5000, points: 11 });
    const files = await writeFig2(result, dir, { png: true });
    expect(files).toEqual({
      md: join(dir, 'fig2.md'),
      json: join(dir, 'fig2.json'),
      svg: join(dir, 'fig2.svg'),
      png: join(dir, 'fig2.png'),
    });
    expect((await readdir(dir)).sort()).toEqual(['fig2.json', 'fig2.md', 'fig2.png', 'fig2.svg']);
    const png = await readFile(files.png!);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const svg = await readFile(files.svg, 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('temperature T (log scale)');
    expect(svg).toContain('mean absolute error');
    expect(svg).toContain('pure 2-bit min-max (reference)');
    expect(await readFile(files.md, 'utf8')).toBe(fig2Markdown(result));
  });

  it('skips the PNG when asked', async () => {
    const sub = join(dir, 'no-png');
    const files = await writeFig2(runFig2Study({ samples: 1000, points: 3 }), sub, { png: false });
    expect(files.png).toBeUndefined();
    expect((await readdir(sub)).sort()).toEqual(['fig2.json', 'fig2.md', 'fig2.svg']);
  });
});
