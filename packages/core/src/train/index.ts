export * from './loss.js';
export * from './replica.js';
export * from './sgd.js';
export * from './trainer.js';
