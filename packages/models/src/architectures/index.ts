// The architectures half of @dqa/models: a declarative model IR, the architectures as specs, and
// buildModel, which turns a spec into a TrainableModel on any Backend.
export {
  countParameters,
  countState,
  inferShapes,
  outputShape,
  PARAMETER_SUFFIX,
  type ParameterRole,
  type ParameterSpec,
  parameterSpecs,
  quantizableLayers,
  type SpecSummaryRow,
  summarizeSpec,
} from './analysis.js';
export type { Architecture } from './architecture.js';
export {
  type BuildModelOptions,
  type BuildSpecOptions,
  type BuiltLayer,
  type BuiltModel,
  type BuiltModelReplicaArgs,
  buildModel,
  buildModelFromSpec,
  builtModelReplica,
  type LayerPlan,
  type LayerQuantizationFunction,
  planQuantization,
} from './build.js';
export {
  type ConvArgs,
  type DepthwiseArgs,
  type PairLike,
  type PoolArgs,
  SpecBuilder,
} from './builder.js';
export { type CnnSmallOptions, cnnSmall, cnnSmallArchitecture } from './cnn-small.js';
export { type HardLayerWeights, hardWeights, type WeightArray } from './hard-weights.js';
export { initialValues } from './init.js';
export { type LeNet5Options, lenet5, lenet5Architecture } from './lenet5.js';
export { type MlpOptions, mlp, mlpArchitecture } from './mlp.js';
export {
  type MobileNetV2Options,
  type MobileNetV2Variant,
  makeDivisible,
  mobilenetv2,
  mobilenetv2Architecture,
} from './mobilenetv2.js';
export { ModelOptionError, OptionReader } from './options.js';
export {
  architectureNames,
  architectureSpec,
  architectures,
  getArchitecture,
} from './registry.js';
export { basicBlock } from './resnet-block.js';
export {
  type ResNet18Options,
  type ResNetStem,
  resnet18,
  resnet18Architecture,
} from './resnet18.js';
export { type ResNet20Options, resnet20, resnet20Architecture } from './resnet20.js';
export {
  type ActivationNode,
  type AddNode,
  type BatchNormNode,
  type Conv2DNode,
  type DenseNode,
  type DepthwiseConv2DNode,
  type FlattenNode,
  type GlobalAvgPoolNode,
  type ImageShape,
  isQuantizable,
  MODEL_INPUT,
  type ModelNode,
  type ModelOp,
  type ModelSpec,
  type Pair,
  type Pool2DNode,
  QUANTIZABLE_OPS,
  type QuantizableNode,
} from './spec.js';
