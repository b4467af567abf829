import {
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { convGeometry, inputGradientByPhases, reversedFilter } from './conv-util.js';
import {
  assertFloat32,
  assertRank4,
  input,
  type KernelArgs,
  KernelScope,
  type TrainingBackendName,
} from './kernel-util.js';

/** tfjs' attrs, plus `dilations`, which tfjs never passes here but which we honour. */
type Attrs = Conv2DBackpropInputAttrs & { dilations?: number | [number, number] };

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
  const name = Conv2DBackpropInput;
  const dy = input(args, 'dy', name);
  const filter = input(args, 'filter', name);
  assertFloat32(name, dy, filter);
  assertRank4(name, 'dy', dy.shape);
  assertRank4(name, 'filter', filter.shape);
  const attrs = args.attrs as unknown as Attrs;
  const nchw = attrs.dataFormat === 'NCHW';
  const g = convGeometry(
    attrs.inputShape,
    filter.shape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    attrs.dataFormat,
  );
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
  return {
    kernelName: Conv2DBackpropInput,
    backendName,
    kernelFunc: (args) => conv2dBackpropInput(backendName, args),
  };
}
