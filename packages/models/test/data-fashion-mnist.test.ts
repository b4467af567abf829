import { readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Dataset,
  FASHION_MNIST_CACHE_FILE,
  FASHION_MNIST_CLASS_NAMES,
  loadDataset,
  loadFashionMnist,
} from '../src/data/index.js';
import { histogram, sameBytes, tempDirs } from './data-helpers.js';

/** The raw entries of one class file of the package, as the package ships them. */
async function rawClass(k: number): Promise<number[][]> {
  const pkg = dirname(createRequire(import.meta.url).resolve('fashion-mnist/package.json'));
  const text = await readFile(join(pkg, 'src', 'clothes', `${k}.json`), 'utf8');
  return (JSON.parse(text) as { data: number[][] }).data;
}

const image = (split: Dataset['train'], i: number) =>
  Array.from(split.images.subarray(i * 784, (i + 1) * 784));

// One full parse of the package's JSON (about 1.5 s), then cache loads; a corrupted cache costs
// one more parse.
describe('Fashion-MNIST from the fashion-mnist package', () => {
  const tempDir = tempDirs();
  let cacheDir: string;
  let cachePath: string;
  let first: Dataset;
  const firstLog: string[] = [];
  beforeAll(async () => {
    cacheDir = await tempDir();
    cachePath = join(cacheDir, FASHION_MNIST_CACHE_FILE);
    first = await loadFashionMnist({ cacheDir, log: (m) => firstLog.push(m) });
  });

  it('splits 60000/10000: the last 1000 images of each class are the test set, classes balanced', () => {
    expect(first.name).toBe('fashion-mnist');
    expect(first.inputShape).toEqual([28, 28, 1]);
    expect(first.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
    expect(first.train.count).toBe(60000);
    expect(first.test.count).toBe(10000);
    expect(histogram(first.train.labels, 10)).toEqual(new Array(10).fill(6000));
    expect(histogram(first.test.labels, 10)).toEqual(new Array(10).fill(1000));
    // Classes are interleaved, so any prefix (limitTrain) is balanced.
    expect(Array.from(first.train.labels.subarray(0, 20))).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(first.mean[0]).toBeCloseTo(0.286, 3);
    expect(first.std[0]).toBeCloseTo(0.353, 3);
  });

  it('skips the two empty entries of class 0 (raw indices 1000 and 7001) and keeps file order', async () => {
    const raw0 = await rawClass(0);
    expect(raw0).toHaveLength(7002);
    expect(raw0.flatMap((e, i) => (e.length === 0 ? [i] : []))).toEqual([1000, 7001]);
    // Train position 10·j holds class 0's j-th non-empty image.
    expect(image(first.train, 0)).toEqual(raw0[0]);
    expect(image(first.train, 10 * 999)).toEqual(raw0[999]);
    expect(image(first.train, 10 * 1000)).toEqual(raw0[1001]);
    expect(image(first.train, 10 * 5999)).toEqual(raw0[6000]);
    // Class 0's test images are its non-empty images 6000 … 6999, raw 6001 … 7000.
    expect(image(first.test, 0)).toEqual(raw0[6001]);
    expect(image(first.test, 10 * 999)).toEqual(raw0[7000]);
    const raw9 = await rawClass(9);
    expect(raw9).toHaveLength(7000);
    expect(image(first.train, 9)).toEqual(raw9[0]);
    expect(image(first.test, 10 * 999 + 9)).toEqual(raw9[6999]);
  });

  it('writes the cache on first use and reads it, not the JSON, afterwards', async () => {
    expect(firstLog.some((m) => m.startsWith('fashion-mnist: parsing 10 JSON files'))).toBe(true);
    expect(firstLog).toContain(`fashion-mnist: wrote the cache ${cachePath}`);
    const size = (await stat(cachePath)).size;
    expect(size).toBe(64 + 70000 * (784 + 1));
    const log: string[] = [];
    const again = await loadDataset('fashion-mnist', { cacheDir, log: (m) => log.push(m) });
    expect(log).toEqual([`fashion-mnist: loaded from the cache ${cachePath}`]);
    expect(sameBytes(again.train.images, first.train.images)).toBe(true);
    expect(sameBytes(again.train.labels, first.train.labels)).toBe(true);
    expect(sameBytes(again.test.images, first.test.images)).toBe(true);
    expect(sameBytes(again.test.labels, first.test.labels)).toBe(true);
    expect(again.mean).toEqual(first.mean);
  });

  it('rebuilds a corrupted cache (one flipped pixel byte) to the same bytes', async () => {
    const good = await readFile(cachePath);
    const bad = Buffer.from(good);
    bad[64 + 12345] ^= 0xff;
    await writeFile(cachePath, bad);
    const log: string[] = [];
    const rebuilt = await loadFashionMnist({ cacheDir, log: (m) => log.push(m) });
    expect(log[0]).toBe(
      `fashion-mnist: the cache ${cachePath} is invalid (its checksum does not match its contents); rebuilding it`,
    );
    expect(log.some((m) => m.startsWith('fashion-mnist: parsing'))).toBe(true);
    expect(sameBytes(rebuilt.train.images, first.train.images)).toBe(true);
    expect((await readFile(cachePath)).equals(good)).toBe(true);
  });
});
