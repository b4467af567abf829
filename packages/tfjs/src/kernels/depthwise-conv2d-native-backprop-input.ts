import {
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  type ConvGeometry,
  convGeometry,
  convInputs,
  inputGradientByPhases,
  reversedFilter,
} from './conv-util.js';
import {
  type KernelArgs,
  KernelScope,
  kernelConfig,
  runHostKernel,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * dx[b, oh·s + kh·d − pad, ow·s + kw·d − pad, c] += Σ_m dy[b, oh, ow, c·M + m] · w[kh, kw, c, m]
 *
 * scattered from each dy pixel, one filter tap at a time, along contiguous channel rows: plain
 * TypeScript for cpu, whose stock DepthwiseConv2D (which the phase route composes on) is no
 * faster than its stock gradient.
 */
export function depthwiseBackpropInputInto(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  dx: Float32Array,
  g: ConvGeometry,
  multiplier: number,
): void {
  const { batch, inChannels: C } = g;
  const { in: H, out: OH, f: FH, stride: sh, dilation: dh, padBefore: pt } = g.h;
  const { in: W, out: OW, f: FW, stride: sw, dilation: dw, padBefore: pl } = g.w;
  const M = multiplier;
  const CM = C * M;
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const d0 = ((b * OH + oh) * OW + ow) * CM;
        for (let kh = 0; kh < FH; kh++) {
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < FW; kw++) {
            const iw = ow * sw + kw * dw - pl;
            if (iw < 0 || iw >= W) continue;
            const x0 = ((b * H + ih) * W + iw) * C;
            const w0 = (kh * FW + kw) * CM;
            if (M === 1) {
              for (let c = 0; c < C; c++) dx[x0 + c] += dy[d0 + c]! * w[w0 + c]!;
            } else {
              for (let c = 0; c < C; c++) {
                let s = 0;
                for (let m = 0; m < M; m++) s += dy[d0 + c * M + m]! * w[w0 + c * M + m]!;
                dx[x0 + c] += s;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * dx of a depthwise convolution. wasm: as depthwise convolutions of dy on wasm's own
 * `DepthwiseConv2dNative` (XNNPACK): with the filter reversed in height and width and flattened
 * to [fh, fw, C·M, 1], each of dy's C·M channels is convolved with its own taps; the M channels
 * that came from one input channel are then summed. Stride s splits into s×s phases (see
 * `inputGradientByPhases`). cpu: `depthwiseBackpropInputInto`.
 */
export function depthwiseConv2dNativeBackpropInput(
  backendName: TrainingBackendName,
  args: KernelArgs,
): TensorInfo {
  const [dy, filter] = convInputs(args, DepthwiseConv2dNativeBackpropInput, 'dy', 'filter');
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const g = convGeometry(attrs.inputShape, filter.shape, attrs, true);
  const channels = filter.shape[2]!;
  const multiplier = filter.shape[3]!;
  if (backendName === 'cpu') {
    return runHostKernel(
      backendName,
      args.backend,
      [dy, filter],
      [...attrs.inputShape],
      ([d, w], dx) => depthwiseBackpropInputInto(d!, w!, dx, g, multiplier),
    );
  }
  const scope = new KernelScope(backendName, args.backend);
  const reversed = reversedFilter(scope, filter, false);
  const dx = inputGradientByPhases(scope, dy, reversed, g, channels, (p) => {
    const [fh, fw] = p.filter.shape as [number, number];
    const flat = scope.reshape(p.filter, [fh, fw, channels * multiplier, 1]);
    const y = scope.run(
      'DepthwiseConv2dNative',
      { x: p.dy, filter: flat },
      { strides: 1, dilations: p.dilations, pad: p.pad, dataFormat: 'NHWC' },
    );
    if (multiplier === 1) return y;
    const [b, h, w] = y.shape as [number, number, number];
    return scope.sum(scope.reshape(y, [b, h, w, channels, multiplier]), [4]);
  });
  return scope.keep(dx);
}

export function depthwiseConv2dNativeBackpropInputConfig(
  backendName: TrainingBackendName,
): KernelConfig {
  return kernelConfig(
    DepthwiseConv2dNativeBackpropInput,
    backendName,
    depthwiseConv2dNativeBackpropInput,
  );
}
