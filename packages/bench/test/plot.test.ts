import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError } from '@dqa/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lineChart,
  OutputFileError,
  renderPng,
  renderSvg,
  writeFileAtomic,
  writePlot,
} from '../src/index.js';

const rows = [1, 10, 100].flatMap((x) => [
  { x, y: 1 / x, s: 'a' },
  { x, y: 2 / x, s: 'b' },
]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqa-plot-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lineChart', () => {
  it('builds a vega-lite spec with log axes, one merged legend for colour and dash', () => {
    const spec = lineChart({
      title: 'T',
      x: { field: 'x', title: 'x axis', log: true },
      y: { field: 'y', title: 'y axis', log: true },
      series: { field: 's', title: 'series', dashes: { b: [4, 2] } },
      data: rows,
    }) as unknown as { encoding: Record<string, { scale: { type?: string; range?: unknown } }> };
    expect(spec.encoding.x!.scale.type).toBe('log');
    expect(spec.encoding.color!.scale.range).toHaveLength(2);
    expect(spec.encoding.strokeDash!.scale.range).toEqual([
      [1, 0],
      [4, 2],
    ]);
  });

  it('refuses non-positive values on a log axis, naming the field', () => {
    expect(() =>
      lineChart({
        title: 'T',
        x: { field: 'x', title: 'x', log: true },
        y: { field: 'y', title: 'y' },
        data: [{ x: 0, y: 1 }],
      }),
    ).toThrow(ArgumentError);
    expect(() =>
      lineChart({
        title: 'T',
        x: { field: 'x', title: 'x', log: true },
        y: { field: 'y', title: 'y' },
        data: [{ x: 0, y: 1 }],
      }),
    ).toThrow(/'x'/);
  });
});

describe('rendering and writing', () => {
  const spec = lineChart({
    title: 'A test plot',
    x: { field: 'x', title: 'the x title', log: true },
    y: { field: 'y', title: 'the y title' },
    series: { field: 's' },
    data: rows,
  });

  it('renders SVG with the axis titles, and PNG bytes', async () => {
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('the x title');
    expect(svg).toContain('the y title');
    const png = renderPng(svg, { scale: 1 });
    expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it('writePlot writes .svg and .png next to each other, or only .svg', async () => {
    const both = await writePlot(join(dir, 'both', 'plot'), spec);
    expect(both).toEqual({
      svg: join(dir, 'both', 'plot.svg'),
      png: join(dir, 'both', 'plot.png'),
    });
    expect((await readdir(join(dir, 'both'))).sort()).toEqual(['plot.png', 'plot.svg']);
    const svgOnly = await writePlot(join(dir, 'svg-only', 'plot'), spec, { png: false });
    expect(svgOnly.png).toBeUndefined();
    expect(await readdir(join(dir, 'svg-only'))).toEqual(['plot.svg']);
  });

  it('writeFileAtomic replaces a file whole and leaves no temporary file', async () => {
    const path = join(dir, 'atomic', 'a.txt');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, 'second');
    expect(await readFile(path, 'utf8')).toBe('second');
    expect(await readdir(join(dir, 'atomic'))).toEqual(['a.txt']);
  });

  // Node 20's recursive mkdir loops forever under /proc (ENOENT with an existing parent).
  it.runIf(existsSync('/proc/self'))('writeFileAtomic fails, not hangs, under /proc', async () => {
    await expect(writeFileAtomic('/proc/dqa-no-such/dir/x.txt', 'x')).rejects.toThrow(
      'cannot write /proc/dqa-no-such/dir/x.txt',
    );
  });

  it('writeFileAtomic names the path when it cannot write', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file, not a folder');
    const target = join(blocker, 'x.txt');
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow(OutputFileError);
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow(`cannot write ${target}`);
  });
});
