import { ArgumentError } from '@dqa/core';
import {
  FusedConv2D,
  type FusedConv2DAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { input, type KernelArgs, KernelScope, type TrainingBackendName } from './kernel-util.js';

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
  let y = scope.run(
    'Conv2D',
    { x, filter },
    { strides, pad, dataFormat, dilations, dimRoundingMode },
  );
  if (bias !== undefined) y = scope.run('Add', { a: y, b: perChannel(bias) });
  switch (activation) {
    case undefined:
    case 'linear':
      break;
    case 'relu':
      y = scope.run('Relu', { x: y });
      break;
    case 'relu6':
      y = scope.run('Relu6', { x: y });
      break;
    case 'elu':
      y = scope.run('Elu', { x: y });
      break;
    case 'sigmoid':
      y = scope.run('Sigmoid', { x: y });
      break;
    case 'leakyrelu':
      y = scope.run('LeakyRelu', { x: y }, { alpha: attrs.leakyreluAlpha ?? 0.2 });
      break;
    case 'prelu': {
      if (preluActivationWeights === undefined) {
        throw new ArgumentError(`${name}: activation 'prelu' needs preluActivationWeights`);
      }
      y = scope.run('Prelu', { x: y, alpha: perChannel(preluActivationWeights) });
      break;
    }
    default:
      throw new ArgumentError(`${name}: unknown activation '${String(activation)}'`);
  }
  return scope.keep(y);
}

export function fusedConv2dConfig(backendName: TrainingBackendName): KernelConfig {
  return {
    kernelName: FusedConv2D,
    backendName,
    kernelFunc: (args) => fusedConv2d(backendName, args),
  };
}
