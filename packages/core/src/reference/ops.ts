// Plain Float32Array reference implementations of the Backend ops, exported as `reference.*`.
export * from './conv.js';
export * from './elementwise.js';
export * from './linalg.js';
export * from './reduce.js';
