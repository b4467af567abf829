// The speed benchmark (`dqa bench speed`): one training step of the small CNN and ResNet-20 in FP,
// 2-bit STE and DQA 2/4/8 on every backend, beside PyTorch and the plain oneDNN C++ step. Nothing
// here loads tfjs or a native addon: the engines run in their own processes (`worker.ts`,
// `native-worker.ts`, `python/speed.py`, `native/onednn-step.cc`).
export * from './backends.js';
export * from './child.js';
export * from './eta.js';
export * from './onednn.js';
export * from './protocol.js';
export * from './report.js';
export * from './runner.js';
export * from './spec.js';
