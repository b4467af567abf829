// Data sets of @dqa/models: the browser-safe half, then the Node-only loaders.
export * from './browser.js';
// Node-only (node:fs, node:zlib, …): loaders that read files, the cache folder, `loadDataset`.
// For a browser build, export `./browser.js` from a separate entry (or these from a `./node` one).
export { type CifarOptions, loadCifar10, loadCifar100 } from './node/cifar.js';
export {
  FASHION_MNIST_CACHE_FILE,
  FASHION_MNIST_TEST_PER_CLASS,
  type FashionMnistOptions,
  loadFashionMnist,
} from './node/fashion-mnist.js';
export { defaultCacheDir } from './node/files.js';
export {
  type DatasetLoader,
  datasetLoaders,
  datasetNames,
  type LoadDatasetOptions,
  loadDataset,
} from './node/load.js';
export {
  IDX_FILES,
  type IdxDatasetInfo,
  loadFashionMnistIdx,
  loadIdxDataset,
  loadMnist,
} from './node/mnist.js';
