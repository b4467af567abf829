// @dqa/bench: the paper's studies, with the plotting helpers and file writers they share.

export * from './accuracy/index.js';
export { OutputFileError, writeFileAtomic } from './io/atomic-write.js';
export * from './methods.js';
export * from './plot/index.js';
export * from './run/index.js';
export * from './speed/index.js';
export * from './studies/fig2.js';
export * from './surface/index.js';
