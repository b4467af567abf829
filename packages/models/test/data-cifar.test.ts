import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_CLASS_NAMES,
  CIFAR100_CLASS_NAMES,
  loadCifar10,
  loadCifar100,
  loadDataset,
} from '../src/data/index.js';
import { datasetError, tempDirs } from './data-helpers.js';

/** The byte a test image holds at (y, x, channel): distinct per image, position and channel. */
const pixel = (image: number, y: number, x: number, c: number) =>
  (image * 37 + y * 11 + x * 3 + c * 101) % 256;

/** One record in the official layout: label byte(s), then the R, G and B planes, row-major. */
function record(labels: number[], image: number): Uint8Array {
  const r = new Uint8Array(labels.length + 3072);
  r.set(labels, 0);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) r[labels.length + c * 1024 + y * 32 + x] = pixel(image, y, x, c);
    }
  }
  return r;
}

function file(records: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(records.reduce((a, r) => a + r.length, 0));
  let o = 0;
  for (const r of records) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

const cifar10Label = (image: number) => (image * 3) % 10;
const cifar100Fine = (image: number) => (image * 37) % 100;

/** CIFAR-10 files: batches 1–5 hold 2, 3, 1, 2, 2 images (numbered 0 … 9 in order), the test 3 (100 …). */
async function writeCifar10(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const sizes = [2, 3, 1, 2, 2];
  let image = 0;
  for (let i = 0; i < 5; i++) {
    const recs = [];
    for (let k = 0; k < sizes[i]!; k++, image++) recs.push(record([cifar10Label(image)], image));
    await writeFile(join(dir, `data_batch_${i + 1}.bin`), file(recs));
  }
  const test = [100, 101, 102].map((i) => record([cifar10Label(i)], i));
  await writeFile(join(dir, 'test_batch.bin'), file(test));
}

/** Expects `images` (NHWC) to hold test images `ids` exactly. */
function expectImages(images: Uint8Array, ids: number[]): void {
  expect(images.length).toBe(ids.length * 32 * 32 * 3);
  const expected = new Uint8Array(images.length);
  ids.forEach((id, n) => {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) expected[((n * 32 + y) * 32 + x) * 3 + c] = pixel(id, y, x, c);
      }
    }
  });
  expect(images).toEqual(expected);
}

describe('CIFAR-10 binary loader', () => {
  const tempDir = tempDirs();
  let root: string;
  beforeAll(async () => {
    root = await tempDir();
    await writeCifar10(join(root, 'flat'));
    await writeCifar10(join(root, 'extracted', 'cifar-10-batches-bin'));
  });

  it('reads the batches in order and converts CHW planes to NHWC exactly', async () => {
    const ds = await loadCifar10({ root: join(root, 'flat') });
    expect(ds.name).toBe('cifar10');
    expect(ds.inputShape).toEqual([32, 32, 3]);
    expect(ds.classes).toBe(10);
    expect(ds.classNames).toEqual(CIFAR10_CLASS_NAMES);
    expect(ds.train.count).toBe(10);
    expect(ds.test.count).toBe(3);
    const trainIds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    expectImages(ds.train.images, trainIds);
    expect(Array.from(ds.train.labels)).toEqual(trainIds.map(cifar10Label));
    expectImages(ds.test.images, [100, 101, 102]);
    expect(Array.from(ds.test.labels)).toEqual([100, 101, 102].map(cifar10Label));
    // Spot check by hand: image 0, pixel (0, 1), green = (0 + 0 + 3 + 101) % 256.
    expect(ds.train.images[(0 * 32 + 1) * 3 + 1]).toBe(104);
    expect(ds.mean).toHaveLength(3);
    expect(ds.std).toHaveLength(3);
  });

  it('accepts the folder the archive extracts to (cifar-10-batches-bin inside root)', async () => {
    const a = await loadCifar10({ root: join(root, 'extracted') });
    const b = await loadDataset('cifar10', { root: join(root, 'flat') });
    expect(a.train.images).toEqual(b.train.images);
    expect(a.test.labels).toEqual(b.test.labels);
  });

  it('names the missing file, the files the folder needs and where to get them', async () => {
    const dir = join(root, 'no-test');
    await writeCifar10(dir);
    await rm(join(dir, 'test_batch.bin'));
    const e = await datasetError(loadCifar10({ root: dir }));
    expect(e.reason).toBe('missing');
    expect(e.file).toBe(join(dir, 'test_batch.bin'));
    expect(e.message).toContain(`missing file ${join(dir, 'test_batch.bin')}`);
    expect(e.message).toContain('data_batch_1.bin, data_batch_2.bin');
    expect(e.message).toContain('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
  });

  it('says which folders it searched when none holds CIFAR files, and asks for root when unset', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const e = await datasetError(loadCifar10({ root: empty }));
    expect(e.reason).toBe('missing');
    expect(e.message).toContain(
      `no CIFAR-10 files in ${empty} nor in ${join(empty, 'cifar-10-batches-bin')}`,
    );
    const gone = await datasetError(loadCifar10({ root: join(root, 'does-not-exist') }));
    expect(gone.reason).toBe('missing');
    expect(gone.message).toContain(`the folder ${join(root, 'does-not-exist')} does not exist`);
    const unset = await datasetError(loadDataset('cifar10'));
    expect(unset.reason).toBe('no-root');
    expect(unset.message).toContain('set data.root');
  });

  it('rejects a truncated batch, naming it with its size and the expected size', async () => {
    const dir = join(root, 'truncated');
    await writeCifar10(dir);
    const path = join(dir, 'data_batch_2.bin');
    await writeFile(path, file([0, 1, 2].map((i) => record([1], i))).subarray(0, 3 * 3073 - 5));
    const e = await datasetError(loadCifar10({ root: dir }));
    expect(e.reason).toBe('truncated');
    expect(e.file).toBe(path);
    expect(e.message).toContain(`${path} is truncated: 9214 bytes`);
    expect(e.message).toContain('expected 9219 bytes for 3 records');
    expect(e.message).toContain('a complete file holds 10000 records: 30730000 bytes');
  });

  it('rejects a label out of range, naming the file and the record', async () => {
    const dir = join(root, 'bad-label');
    await writeCifar10(dir);
    const path = join(dir, 'data_batch_5.bin');
    await writeFile(path, file([record([3], 0), record([10], 1)]));
    const e = await datasetError(loadCifar10({ root: dir }));
    expect(e.reason).toBe('bad-format');
    expect(e.message).toContain(
      `${path}: record 1 (byte 3073) has label 10, expected a class in [0, 10)`,
    );
  });
});

describe('CIFAR-100 binary loader', () => {
  const tempDir = tempDirs();
  let root: string;
  beforeAll(async () => {
    root = await tempDir();
    const dir = join(root, 'cifar-100-binary');
    await mkdir(dir);
    const rec = (i: number) => record([Math.floor(cifar100Fine(i) / 5), cifar100Fine(i)], i);
    await writeFile(join(dir, 'train.bin'), file([0, 1, 2, 3].map(rec)));
    await writeFile(join(dir, 'test.bin'), file([50, 51].map(rec)));
  });

  it('uses the fine label (second byte) and converts the pixels to NHWC', async () => {
    const ds = await loadCifar100({ root });
    expect(ds.name).toBe('cifar100');
    expect(ds.classes).toBe(100);
    expect(ds.classNames).toEqual(CIFAR100_CLASS_NAMES);
    expect(ds.classNames?.[ds.test.labels[0]!]).toBe(CIFAR100_CLASS_NAMES[cifar100Fine(50)]);
    expect(ds.train.count).toBe(4);
    expect(Array.from(ds.train.labels)).toEqual([0, 37, 74, 11]);
    expect(Array.from(ds.test.labels)).toEqual([50, 51].map(cifar100Fine));
    expectImages(ds.train.images, [0, 1, 2, 3]);
    expectImages(ds.test.images, [50, 51]);
  });

  it('rejects a file of CIFAR-10 sized records as truncated, naming the 3074-byte record size', async () => {
    const dir = join(root, 'wrong');
    await mkdir(dir);
    await writeFile(join(dir, 'train.bin'), file([record([1], 0), record([2], 1)]));
    await writeFile(join(dir, 'test.bin'), file([record([1, 5], 0)]));
    const e = await datasetError(loadCifar100({ root: dir }));
    expect(e.reason).toBe('truncated');
    expect(e.file).toBe(join(dir, 'train.bin'));
    expect(e.message).toContain(
      '6146 bytes is not a whole, non-zero number of 3074-byte cifar100 records (2 label bytes + 3072 pixel bytes); expected 6148 bytes for 2 records',
    );
    expect(e.message).toContain('a complete file holds 50000 records: 153700000 bytes');
  });

  it('rejects a coarse label out of range', async () => {
    const dir = join(root, 'coarse');
    await mkdir(dir);
    await writeFile(join(dir, 'train.bin'), file([record([20, 3], 0)]));
    await writeFile(join(dir, 'test.bin'), file([record([1, 5], 0)]));
    const e = await datasetError(loadCifar100({ root: dir }));
    expect(e.reason).toBe('bad-format');
    expect(e.message).toContain('record 0 (byte 0) has label 20, expected a class in [0, 20)');
  });
});
