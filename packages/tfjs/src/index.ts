// @dqa/tfjs: the @dqa/core Backend over TensorFlow.js (wasm, cpu, tfjs-node), and the training
// kernels tfjs' wasm and cpu backends lack or run slowly.
import { registerComparisonGradients } from './gradients.js';
import { registerTrainingKernels } from './kernels/index.js';

export {
  createTfjsBackend,
  type TfjsBackend,
  type TfjsBackendInfo,
  type TfjsBackendOptions,
  type TfjsEngine,
} from './backend.js';
export { registerComparisonGradients } from './gradients.js';
export {
  isTrainingKernelRegistered,
  type RegistrationEntry,
  registerTrainingKernels,
  stockKernel,
  type TrainingBackendName,
  type TrainingKernel,
  trainingKernels,
  unregisterTrainingKernels,
} from './kernels/index.js';

// Quantized tfjs-layers (Conv2D, DepthwiseConv2D, Dense) and quantizeModel.
export * from './layers/quantize-model.js';
export * from './layers/quantized-layers.js';
export * from './layers/session.js';

// Importing the package is enough for plain tfjs code (tf.grad, model.fit) to train on wasm and
// through comparisons. Both calls are idempotent, so a second import (or copy) throws nothing.
registerTrainingKernels();
registerComparisonGradients();
