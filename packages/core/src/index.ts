// @dqa/core: backend-agnostic math, schedules, the Backend contract, plugin registries, config.

export * from './backend/backend.js';
export { composedBatchNormTraining } from './backend/composed.js';
export type { BinaryOp, Kernels, ReduceOp, UnaryOp } from './backend/kernels.js';
export {
  broadcastShapes,
  type Conv2DGeometry,
  checkBatchNormTraining,
  checkConvBias,
  checkFusedActivation,
  conv2dGeometry,
  formatShape,
  inferReshape,
  normalizeAxes,
  normalizePerm,
  pool2dGeometry,
  sizeOf,
} from './backend/shape.js';
export { createTapeBackend, type TapeBackendOptions } from './backend/tape-backend.js';
export * from './config/layers.js';
export * from './config/parse.js';
export * from './config/schema.js';
export * from './errors.js';
export * from './math/attention.js';
export * from './math/binary-relax.js';
export * from './math/qnet.js';
export * from './quantizer/plugin.js';
export * from './quantizer/registry.js';
export * from './quantizer/straight-through.js';
export { Random } from './random.js';
export { createReferenceBackend } from './reference/backend.js';
export { referenceKernels } from './reference/kernels.js';
export * as reference from './reference/ops.js';
export { Registry } from './registry.js';
export * from './relaxation/build.js';
export * from './relaxation/index.js';
export * from './schedules/learning-rate.js';
export * from './schedules/rising-temperature.js';
export * from './schedules/temperature.js';
export * from './train/index.js';
