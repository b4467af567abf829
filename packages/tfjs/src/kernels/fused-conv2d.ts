import { ArgumentError } from '@dqa/core';
import {
  FusedConv2D,
  type FusedConv2DAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  input,
  type KernelArgs,
  KernelScope,
  kernelConfig,
  type TrainingBackendName,
} from './kernel-util.js';

/** The activations that are one kernel of no attrs each, by tfjs' activation name. */
const UNARY_ACTIVATIONS = new Map([
  ['relu', 'Relu'],
  ['relu6', 'Relu6'],
  ['elu', 'Elu'],
  ['sigmoid', 'Sigmoid'],
]);

/**
 * FusedConv2D (conv + bias + activation, what tfjs-layers' Conv2D runs) through the registered
 * `Conv2D`, then the backend's own Add and activation kernels. The stock cpu kernel calls its
 * slow Conv2D directly, bypassing the registry, so it must be replaced too.
 */
export function fusedConv2d(backendName: TrainingBackendName, args: KernelArgs): TensorInfo {
  const name = FusedConv2D;
  const x = input(args, 'x', name);
  const filter = input(args, 'filter', name);
  const { bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs as unknown as FusedConv2DAttrs;
  const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } = attrs;
  const scope = new KernelScope(backendName, args.backend);
  // NCHW: a per-channel vector broadcasts along axis 1, so it becomes [C, 1, 1].
  const perChannel = (t: TensorInfo) =>
    dataFormat === 'NCHW' && t.shape.length === 1 && t.shape[0] !== 1
      ? scope.reshape(t, [t.shape[0]!, 1, 1])
      : t;
  const activate = (y: TensorInfo): TensorInfo => {
    if (activation === undefined || activation === 'linear') return y;
    const unary = UNARY_ACTIVATIONS.get(activation);
    if (unary !== undefined) return scope.run(unary, { x: y });
    if (activation === 'leakyrelu') {
      return scope.run('LeakyRelu', { x: y }, { alpha: attrs.leakyreluAlpha ?? 0.2 });
    }
    if (activation === 'prelu') {
      if (preluActivationWeights === undefined) {
        throw new ArgumentError(`${name}: activation 'prelu' needs preluActivationWeights`);
      }
      return scope.run('Prelu', { x: y, alpha: perChannel(preluActivationWeights) });
    }
    throw new ArgumentError(`${name}: unknown activation '${String(activation)}'`);
  };
  let y = scope.run(
    'Conv2D',
    { x, filter },
    { strides, pad, dataFormat, dilations, dimRoundingMode },
  );
  if (bias !== undefined) y = scope.run('Add', { a: y, b: perChannel(bias) });
  return scope.keep(activate(y));
}

export function fusedConv2dConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(FusedConv2D, backendName, fusedConv2d);
}
