// The speed benchmark (`dqa bench speed`): one training step of the small CNN and ResNet-20 in FP,
// 2-bit STE and DQA 2/4/8 on every backend, beside PyTorch. Nothing here loads tfjs: the engines
// run in their own processes (`worker.ts`, `python/speed.py`).
export * from './backends.js';
export * from './child.js';
export * from './eta.js';
export * from './protocol.js';
export * from './report.js';
export * from './runner.js';
export * from './spec.js';
