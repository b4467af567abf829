// The browser-safe half of the data sets (no Node imports): the in-memory data set, parsers of the
// file formats over bytes, the binary cache format, shuffling, augmentation and batching for
// core's Trainer. A browser entry of @dqa/models can export this file alone.
export * from './augment.js';
export * from './cifar-format.js';
export * from './class-names.js';
export * from './dataset.js';
export * from './dataset-cache.js';
export * from './errors.js';
export * from './idx.js';
export * from './shuffle.js';
export * from './train-data.js';
