// @dqa/models/node: the data set loaders that read files (Node only).
export { type CifarOptions, loadCifar10, loadCifar100 } from './data/node/cifar.js';
export {
  FASHION_MNIST_CACHE_FILE,
  FASHION_MNIST_TEST_PER_CLASS,
  type FashionMnistOptions,
  loadFashionMnist,
} from './data/node/fashion-mnist.js';
export { defaultCacheDir } from './data/node/files.js';
export {
  type DatasetLoader,
  datasetLoaders,
  datasetNames,
  type LoadDatasetOptions,
  loadDataset,
} from './data/node/load.js';
export {
  IDX_FILES,
  type IdxDatasetInfo,
  loadFashionMnistIdx,
  loadIdxDataset,
  loadMnist,
} from './data/node/mnist.js';
