import {
  type KernelConfig,
  Mean,
  type MeanAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import {
  input,
  type KernelArgs,
  kernelConfig,
  runHostKernel,
  runStock,
  type TrainingBackendName,
} from './kernel-util.js';
import { sumInto } from './sum.js';

/**
 * Mean over any axes, float32, as `sumInto` (one pass, no transpose, float64 accumulators)
 * divided by the count. Batch norm takes the mean over batch, height and width twice per layer
 * and step; wasm's Mean transposes the activation first (as does its Sum), and cpu's divides,
 * transposes and sums. On wasm, means over trailing axes stay with the stock kernel.
 */
export function mean(backendName: TrainingBackendName, args: KernelArgs): TensorInfo {
  const x = input(args, 'x', Mean);
  const { axis, keepDims } = args.attrs as unknown as MeanAttrs;
  const axes = util.parseAxisParam(axis, x.shape);
  const trailing = axes.every((a) => a >= x.shape.length - axes.length);
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  if (
    x.dtype !== 'float32' ||
    axes.length === 0 ||
    count === 0 ||
    (backendName === 'wasm' && trailing)
  ) {
    return runStock(Mean, backendName, args) as TensorInfo;
  }
  const shape = keepDims
    ? x.shape.map((d, a) => (axes.includes(a) ? 1 : d))
    : x.shape.filter((_, a) => !axes.includes(a));
  return runHostKernel(backendName, args.backend, [x], shape, ([xs], out) => {
    const acc = new Float64Array(out.length);
    sumInto(xs!, x.shape, axes, acc);
    for (let i = 0; i < out.length; i++) out[i] = acc[i]! / count;
  });
}

export function meanConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(Mean, backendName, mean);
}
