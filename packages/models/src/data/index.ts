// Data sets of @dqa/models: the browser-safe half, then the Node-only loaders.

// Node-only (node:fs, node:zlib, …): loaders that read files, the cache folder, `loadDataset`;
// the package exports them as `@dqa/models/node`.
export * from '../node.js';
export * from './browser.js';
