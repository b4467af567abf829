import {
  Conv2D,
  type Conv2DAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { convGeometry, convInputs } from './conv-util.js';
import { conv2dInto } from './indirect-gemm.js';
import {
  type KernelArgs,
  KernelScope,
  kernelConfig,
  runHostKernel,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * Conv2D as an indirect GEMM in TypeScript (`conv2dInto`), for the cpu backend, whose stock
 * Conv2D runs at ~1 GFLOP/s. Strides and dilations together are allowed (the composed backprop
 * kernels need a stride-d, dilation-s convolution). NCHW is transposed to NHWC and back.
 * Not for wasm: XNNPACK's Conv2D there is ~8× faster than this.
 */
export function conv2d(backendName: TrainingBackendName, args: KernelArgs): TensorInfo {
  const [x, filter] = convInputs(args, Conv2D, 'x', 'filter');
  const attrs = args.attrs as unknown as Conv2DAttrs;
  const g = convGeometry(x.shape, filter.shape, attrs, false);
  const outShape = [g.batch, g.h.out, g.w.out, g.outChannels];
  const run = (xNhwc: TensorInfo) =>
    runHostKernel(backendName, args.backend, [xNhwc, filter], outShape, ([xs, ws], out) =>
      conv2dInto(xs!, ws!, out, g),
    );
  if (attrs.dataFormat !== 'NCHW') return run(x);
  const scope = new KernelScope(backendName, args.backend);
  const y = scope.track(run(scope.transpose(x, [0, 2, 3, 1])));
  return scope.keep(scope.transpose(y, [0, 3, 1, 2]));
}

export function conv2dConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(Conv2D, backendName, conv2d);
}
