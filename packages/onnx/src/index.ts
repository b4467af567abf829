// @dqa/onnx: a trained run's final low-bit model as ONNX (integer weights in the narrowest type
// the target opset has) and as DQA-TS' packed format, checked with onnxruntime-node.
export {
  chooseEncoding,
  type EncodingKind,
  type IntegerEncoding,
  UNIFORM_TOLERANCE,
} from './encoding.js';
export { ModelFileError, type ModelFileProblem, readModelBytes } from './errors.js';
export {
  type ActivationQuantization,
  type ExportedInput,
  type ExportedLayer,
  type ExportedModel,
  type ExportedTensor,
  type ExportModelOptions,
  exportModel,
  type FloatTensor,
  type QuantizedTensor,
  tensorValues,
  UnsupportedExportError,
  validateExportedModel,
  type WeightQuantizerInfo,
} from './exported-model.js';
export { buildExportedModel, modelLogits } from './exported-runtime.js';
export {
  type IntType,
  type IntTypeInfo,
  intTypes,
  intTypesForOpset,
  OnnxDataType,
  packBits,
  packInts,
  unpackBits,
  unpackInts,
} from './int-pack.js';
export {
  groupsOf,
  indexBits,
  type LevelTensor,
  levelValues,
  MAX_LEVELS,
  toLevelTensor,
} from './levels.js';
export {
  ONNX_INPUT,
  ONNX_OUTPUT,
  type OnnxExport,
  type OnnxExportOptions,
  type OnnxKernelSummary,
  type OnnxModelMetadata,
  type OnnxOpset,
  onnxOpsets,
  toOnnx,
} from './onnx-export.js';
export { checkOnnxBytes, type OnnxFile, readOnnxFile } from './onnx-file.js';
export {
  decodePacked,
  encodePacked,
  isPacked,
  packedFormatVersion,
  readPacked,
} from './packed.js';
export {
  AGREEMENT_TOLERANCE,
  agrees,
  compareLogits,
  createOnnxRunner,
  type LogitAgreement,
  type OnnxPrecision,
  type OnnxRunner,
  type OnnxRunnerOptions,
  topClasses,
} from './runtime.js';
