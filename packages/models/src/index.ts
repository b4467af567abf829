// @dqa/models: architectures as backend-agnostic specs, and data sets in memory (browser-safe).
// The loaders that read files (MNIST, Fashion-MNIST, CIFAR, `loadDataset`) are in `@dqa/models/node`.
export * from './architectures/index.js';
export * from './data/browser.js';
