import {
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { convGeometry, convInputs, inputGradientByPhases, reversedFilter } from './conv-util.js';
import {
  type KernelArgs,
  KernelScope,
  kernelConfig,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * dx of a convolution as forward convolutions of dy on the backend's own `Conv2D` (XNNPACK on
 * wasm, our indirect GEMM on cpu): with the filter reversed in height and width and its channel
 * axes swapped, dx is a stride-1 convolution of dy; at stride s it splits into s×s such
 * convolutions, one per output phase, each with its own taps of the filter (no zeros inserted),
 * whose outputs are interleaved.
 */
export function conv2dBackpropInput(
  backendName: TrainingBackendName,
  args: KernelArgs,
): TensorInfo {
  const [dy, filter] = convInputs(args, Conv2DBackpropInput, 'dy', 'filter');
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const nchw = attrs.dataFormat === 'NCHW';
  const g = convGeometry(attrs.inputShape, filter.shape, attrs, false);
  const scope = new KernelScope(backendName, args.backend);
  const dyNhwc = nchw ? scope.transpose(dy, [0, 2, 3, 1]) : dy;
  // [fh, fw, in, out] → reversed taps, [fh, fw, out, in]: a forward filter from dy's channels to x's.
  const prepared = reversedFilter(scope, filter, true);
  const dx = inputGradientByPhases(scope, dyNhwc, prepared, g, g.inChannels, (p) =>
    scope.run(
      'Conv2D',
      { x: p.dy, filter: p.filter },
      { strides: 1, dilations: p.dilations, pad: p.pad, dataFormat: 'NHWC' },
    ),
  );
  return scope.keep(nchw ? scope.transpose(dx, [0, 3, 1, 2]) : dx);
}

export function conv2dBackpropInputConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(Conv2DBackpropInput, backendName, conv2dBackpropInput);
}
