import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '@dqa/models/node';
import { createOnnxRunner, readOnnxFile, topClasses } from '@dqa/onnx';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK } from '../src/index.js';
import { run, tempDir } from './helpers.js';

const tmp = tempDir('dqa-export-test-');

/** A tiny real run: 2-bit min-max (DQA 2/4/8) cnn-small, 4 steps on 512 MNIST images. */
const tiny = [
  '--data',
  'mnist',
  '--limit-train',
  '512',
  '--limit-test',
  '300',
  '--epochs',
  '1',
  '--lr',
  '0.01',
  '--lambda',
  '1',
  '--backend',
  'wasm',
  '--threads',
  '1',
  '--no-progress',
  '--no-png',
];

/** Writes test image i of MNIST as a greyscale PNG. */
async function png(images: Uint8Array, i: number, path: string, size = 28): Promise<string> {
  const img = new PNG({ width: size, height: size, colorType: 0 });
  for (let p = 0; p < size * size; p++) {
    const v = images[i * 784 + (p % 784)]!;
    img.data.set([v, v, v, 255], 4 * p);
  }
  await writeFile(path, PNG.sync.write(img, { colorType: 0 }));
  return path;
}

describe('dqa export and dqa predict', () => {
  let runDir = '';
  let out = '';
  beforeAll(async () => {
    runDir = join(tmp.path, 'run');
    out = join(runDir, 'export');
    const r = await run('train', ...tiny, '--out', runDir);
    expect(r.code, r.stderr).toBe(EXIT_OK);
  }, 180_000);

  it('exports ONNX and packed files, checks both, and prints the sizes side by side', async () => {
    const r = await run('export', runDir, '--format', 'all');
    expect(r.code, r.stderr).toBe(EXIT_OK);
    expect(r.stdout).toContain('| float32 ONNX (the same model, float weights) |');
    expect(r.stdout).toMatch(
      /\| ONNX, opset 25 \(uint2 ×3 weights\) \| [\d,]+ \| [\d.]+× smaller \|/,
    );
    expect(r.stdout).toMatch(/\| packed \(\.dqa\) \| [\d,]+ \| [\d.]+× smaller \|/);
    expect(r.stdout).toMatch(
      /exact \(qdq_matmulnbits_accuracy_level 0\): top-1 agreement 100\.00% \(300\/300\), .* ✓/,
    );
    expect(r.stdout).toMatch(/default optimisation level: +top-1 agreement/);
    expect(r.stdout).toMatch(
      /packed, read back and run on \S+: 300\/300 identical predictions, max \|logit diff\| 0 ✓/,
    );
    for (const f of ['model.onnx', 'model.dqa', 'export.json'])
      expect(existsSync(join(out, f))).toBe(true);

    const report = JSON.parse(await readFile(join(out, 'export.json'), 'utf8'));
    // The accuracy of our own evaluation is the run's final low-bit accuracy.
    const metrics = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(report.accuracy).toBeCloseTo(JSON.parse(metrics.at(-1)!).hardAccuracy, 10);
    expect(report.onnxruntime.exact.sameTop1).toBe(300);
    expect(report.onnxruntime.exact.relativeDiff).toBeLessThanOrEqual(1e-4);
    expect(report.packed.maxAbsDiff).toBe(0);
    // 2-bit codes: the low-bit files are far below the float32 one.
    expect(report.sizes.onnx).toBeLessThan(report.sizes.float32Onnx / 8);
    expect(report.sizes.packed).toBeLessThan(report.sizes.onnx);
    expect((await readFile(join(out, 'model.onnx'))).length).toBe(report.sizes.onnx);
  }, 120_000);

  it('writes int8 codes for an older runtime (--opset 13)', async () => {
    const r = await run('export', runDir, '--opset', '13', '--out', join(tmp.path, 'opset13'));
    expect(r.code, r.stderr).toBe(EXIT_OK);
    expect(r.stdout).toContain('| ONNX, opset 13 (uint8 ×3 weights) |');
    expect(r.stdout).toContain('top-1 agreement 100.00% (300/300)');
    expect((await readOnnxFile(join(tmp.path, 'opset13', 'model.onnx'))).opset).toBe(13);
  }, 120_000);

  it('predicts images with the ONNX and the packed model alike', async () => {
    const mnist = await loadDataset('mnist');
    const paths = await Promise.all(
      [0, 1, 2].map((i) => png(mnist.test.images, i, join(tmp.path, `digit-${i}.png`))),
    );
    const file = await readOnnxFile(join(out, 'model.onnx'));
    const runner = await createOnnxRunner(file.bytes, file.metadata.input);
    const expected = topClasses(await runner.run(mnist.test.images.subarray(0, 3 * 784), 3), 10);
    await runner.release();
    for (const model of ['model.onnx', 'model.dqa']) {
      const r = await run('predict', join(out, model), ...paths, '--json');
      expect(r.code, r.stderr).toBe(EXIT_OK);
      const predictions = JSON.parse(r.stdout) as { image: string; top: { class: number }[] }[];
      expect(predictions.map((p) => p.image)).toEqual(paths);
      expect(predictions.map((p) => p.top[0]!.class)).toEqual(expected);
      expect(predictions[0]!.top).toHaveLength(3);
    }
    const text = await run('predict', join(out, 'model.onnx'), paths[0]!, '--top', '1');
    expect(text.stdout).toMatch(new RegExp(`^${paths[0]}: \\S+ \\(\\d+\\.\\d%\\)\\n$`));
  }, 120_000);

  it('refuses truncated or corrupt model files and unusable images in one line, without a stack trace', async () => {
    const onnx = await readFile(join(out, 'model.onnx'));
    const packed = await readFile(join(out, 'model.dqa'));
    const image = join(tmp.path, 'digit-0.png');
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'cut.onnx',
        onnx.subarray(0, onnx.length >> 1),
        /^dqa: ONNX model \S*cut\.onnx is truncated: /,
      ],
      [
        'cut.dqa',
        packed.subarray(0, packed.length - 10),
        /^dqa: packed model \S*cut\.dqa is truncated: /,
      ],
      [
        'bad.dqa',
        Uint8Array.from(packed, (v, i) => (i === packed.length - 40 ? v ^ 1 : v)),
        /^dqa: packed model \S*bad\.dqa is corrupt: its SHA-256/,
      ],
      [
        'text.onnx',
        new TextEncoder().encode('hello'),
        /^dqa: ONNX model \S*text\.onnx is (truncated|corrupt)/,
      ],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(tmp.path, name);
      await writeFile(path, bytes);
      const r = await run('predict', path, image);
      expect(r.code).toBe(EXIT_FAILURE);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
    const small = await png(new Uint8Array(784), 0, join(tmp.path, 'small.png'), 10);
    const wrong = await run('predict', join(out, 'model.onnx'), small);
    expect(wrong.code).toBe(EXIT_FAILURE);
    expect(wrong.stderr).toMatch(/image \S*small\.png is 10×10 pixels; the model takes 28×28/);
    const missing = await run('predict', join(tmp.path, 'none.onnx'), image);
    expect(missing.stderr).toMatch(/^dqa: model \S*none\.onnx does not exist\n$/);
    const notRun = await run('export', tmp.path);
    expect(notRun.code).toBe(EXIT_FAILURE);
    expect(notRun.stderr).toMatch(/no config\.json/);
  }, 60_000);
});
