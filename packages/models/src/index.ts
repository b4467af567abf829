export * from './architectures/index.js';
export * from './data/index.js';
