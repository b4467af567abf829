import {
  Conv2D,
  type Conv2DAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { convGeometry } from './conv-util.js';
import { conv2dInto } from './indirect-gemm.js';
import {
  assertFloat32,
  assertRank4,
  input,
  type KernelArgs,
  KernelScope,
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
  const name = Conv2D;
  const x = input(args, 'x', name);
  const filter = input(args, 'filter', name);
  assertFloat32(name, x, filter);
  assertRank4(name, 'x', x.shape);
  assertRank4(name, 'filter', filter.shape);
  const attrs = args.attrs as unknown as Conv2DAttrs;
  const nchw = attrs.dataFormat === 'NCHW';
  const g = convGeometry(
    x.shape,
    filter.shape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    attrs.dataFormat,
  );
  const outShape = [g.batch, g.h.out, g.w.out, g.outChannels];
  if (!nchw) {
    return runHostKernel(backendName, args.backend, [x, filter], outShape, ([xs, ws], out) =>
      conv2dInto(xs!, ws!, out, g),
    );
  }
  const scope = new KernelScope(backendName, args.backend);
  const xNhwc = scope.transpose(x, [0, 2, 3, 1]);
  const y = scope.track(
    runHostKernel(backendName, args.backend, [xNhwc, filter], outShape, ([xs, ws], out) =>
      conv2dInto(xs!, ws!, out, g),
    ),
  );
  return scope.keep(scope.transpose(y, [0, 3, 1, 2]));
}

export function conv2dConfig(backendName: TrainingBackendName): KernelConfig {
  return { kernelName: Conv2D, backendName, kernelFunc: (args) => conv2d(backendName, args) };
}
