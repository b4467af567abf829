/** Node-only: CIFAR-10 and CIFAR-100 from their binary versions in a user's folder. */
import { join, resolve } from 'node:path';
import {
  CIFAR_IMAGE_BYTES,
  CIFAR10_FORMAT,
  CIFAR100_FORMAT,
  type CifarRecordFormat,
  decodeCifarRecords,
} from '../cifar-format.js';
import { CIFAR10_CLASS_NAMES, CIFAR100_CLASS_NAMES } from '../class-names.js';
import { createDataset, type Dataset, type DatasetSplit } from '../dataset.js';
import { DatasetError } from '../errors.js';
import { exists, isDirectory, readDataFile } from './files.js';

interface CifarLayout {
  format: CifarRecordFormat;
  title: string;
  /** The folder the official archive extracts to. */
  subfolder: string;
  trainFiles: readonly string[];
  testFiles: readonly string[];
  /** Records in each complete official file, for size messages. */
  recordsPerFile: (file: string) => number;
  classes: number;
  classNames: readonly string[];
  url: string;
}

const CIFAR10: CifarLayout = {
  format: CIFAR10_FORMAT,
  title: 'CIFAR-10',
  subfolder: 'cifar-10-batches-bin',
  trainFiles: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  testFiles: ['test_batch.bin'],
  recordsPerFile: () => 10000,
  classes: 10,
  classNames: CIFAR10_CLASS_NAMES,
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
};

const CIFAR100: CifarLayout = {
  format: CIFAR100_FORMAT,
  title: 'CIFAR-100',
  subfolder: 'cifar-100-binary',
  trainFiles: ['train.bin'],
  testFiles: ['test.bin'],
  recordsPerFile: (file) => (file === 'train.bin' ? 50000 : 10000),
  classes: 100,
  classNames: CIFAR100_CLASS_NAMES,
  url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
};

export interface CifarOptions {
  /**
   * The folder holding the binary files, or the folder the official archive was extracted into
   * (then its `cifar-10-batches-bin` / `cifar-100-binary` subfolder is used).
   */
  root?: string;
}

/**
 * CIFAR-10, binary version: `data_batch_1.bin` … `data_batch_5.bin` (training, in that order) and
 * `test_batch.bin`; records of 1 label byte + 3072 pixel bytes (planes R, G, B of 32×32),
 * converted to NHWC. 50000 / 10000 images for the complete files.
 */
export function loadCifar10(options: CifarOptions = {}): Promise<Dataset> {
  return loadCifar(CIFAR10, options.root);
}

/**
 * CIFAR-100, binary version: `train.bin` and `test.bin`; records of a coarse label byte (20
 * superclasses), a fine label byte (100 classes, the labels used here) and 3072 pixel bytes.
 */
export function loadCifar100(options: CifarOptions = {}): Promise<Dataset> {
  return loadCifar(CIFAR100, options.root);
}

async function loadCifar(layout: CifarLayout, root: string | undefined): Promise<Dataset> {
  const { format, title } = layout;
  const all = [...layout.trainFiles, ...layout.testFiles];
  const getThem = `download the binary version from ${layout.url} and extract it (it creates ${layout.subfolder}/)`;
  if (root === undefined) {
    throw new DatasetError(
      'no-root',
      undefined,
      `${format.name}: ${title} is read from your disk; set data.root (the 'root' option) to the folder holding ${all.join(', ')}; ${getThem}`,
    );
  }
  const base = resolve(root);
  if (!(await isDirectory(base))) {
    throw new DatasetError(
      'missing',
      base,
      `${format.name}: the folder ${base} does not exist; it must hold ${all.join(', ')} (directly or in ${layout.subfolder}/); ${getThem}`,
    );
  }
  const dir = await pickFolder(base, layout);
  if (dir === null) {
    throw new DatasetError(
      'missing',
      base,
      `${format.name}: no ${title} files in ${base} nor in ${join(base, layout.subfolder)}; expected ${all.join(', ')}; ${getThem}`,
    );
  }
  const missing = (path: string) =>
    `${format.name}: missing file ${path}. The folder ${dir} must hold ${all.join(', ')}; ${getThem}`;
  const readSplit = async (files: readonly string[]): Promise<DatasetSplit> => {
    const parts = [];
    for (const file of files) {
      const path = join(dir, file);
      const bytes = await readDataFile(path, missing);
      parts.push(decodeCifarRecords(bytes, path, format, layout.recordsPerFile(file)));
    }
    return concat(parts);
  };
  const train = await readSplit(layout.trainFiles);
  const test = await readSplit(layout.testFiles);
  return createDataset({
    name: format.name,
    inputShape: [32, 32, 3],
    classes: layout.classes,
    classNames: layout.classNames,
    train,
    test,
  });
}

/** `base` if it holds any of the files, else its standard subfolder if that does, else null. */
async function pickFolder(base: string, layout: CifarLayout): Promise<string | null> {
  const all = [...layout.trainFiles, ...layout.testFiles];
  for (const dir of [base, join(base, layout.subfolder)]) {
    for (const f of all) if (await exists(join(dir, f))) return dir;
  }
  return null;
}

function concat(parts: readonly DatasetSplit[]): DatasetSplit {
  if (parts.length === 1) return parts[0]!;
  const count = parts.reduce((a, p) => a + p.count, 0);
  const images = new Uint8Array(count * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const p of parts) {
    images.set(p.images, n * CIFAR_IMAGE_BYTES);
    labels.set(p.labels, n);
    n += p.count;
  }
  return { images, labels, count };
}
