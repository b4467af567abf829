export * from './sgd.js';
export * from './trainer.js';
