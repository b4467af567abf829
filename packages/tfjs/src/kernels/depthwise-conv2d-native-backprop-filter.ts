import {
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { type ConvGeometry, convGeometry, convInputs } from './conv-util.js';
import {
  type KernelArgs,
  kernelConfig,
  runHostKernel,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * dW[kh, kw, c, m] = Σ_{b, oh, ow} x[b, oh·s + kh·d − pad, ow·s + kw·d − pad, c] · dy[b, oh, ow, c·M + m]
 *
 * Written in TypeScript over plain arrays (the wasm heap, or the cpu backend's arrays): per
 * channel this is a dot product, which no GEMM shares, and XNNPACK's depthwise convolution with
 * dy as a [oh, ow]-tap filter measured ~0.7 GFLOP/s against ~2 GFLOP/s here. Each (row, tap)
 * pass accumulates four channels in registers along the row, so x and dy rows stay in L1.
 */
export function depthwiseBackpropFilterInto(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  out: Float32Array,
  g: ConvGeometry,
  multiplier: number,
): void {
  const { batch, inChannels: C } = g;
  const { in: H, out: OH, f: FH, stride: sh, dilation: dh, padBefore: pt } = g.h;
  const { in: W, out: OW, f: FW, stride: sw, dilation: dw, padBefore: pl } = g.w;
  const CM = C * multiplier;
  const acc = new Float64Array(FH * FW * CM);
  // x channel read by each of dy's channels.
  const xc = new Int32Array(CM);
  for (let j = 0; j < CM; j++) xc[j] = Math.floor(j / multiplier);
  const xStep = sw * C;
  const lo = new Int32Array(FW);
  const hi = new Int32Array(FW);
  for (let kw = 0; kw < FW; kw++) {
    lo[kw] = Math.max(0, Math.ceil((pl - kw * dw) / sw));
    hi[kw] = Math.min(OW, Math.floor((W - 1 + pl - kw * dw) / sw) + 1);
  }
  const cm4 = CM - (CM % 4);
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const dyRow = (b * OH + oh) * OW * CM;
      for (let kh = 0; kh < FH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        const xRow = (b * H + ih) * W * C;
        for (let kw = 0; kw < FW; kw++) {
          const owLo = lo[kw]!;
          const n = hi[kw]! - owLo;
          if (n <= 0) continue;
          const a = (kh * FW + kw) * CM;
          const x0 = xRow + (owLo * sw + kw * dw - pl) * C;
          const d0 = dyRow + owLo * CM;
          let j = 0;
          for (; j < cm4; j += 4) {
            const c0 = xc[j]!;
            const c1 = xc[j + 1]!;
            const c2 = xc[j + 2]!;
            const c3 = xc[j + 3]!;
            let s0 = 0;
            let s1 = 0;
            let s2 = 0;
            let s3 = 0;
            let xo = x0;
            let yo = d0 + j;
            for (let i = 0; i < n; i++, xo += xStep, yo += CM) {
              s0 += x[xo + c0]! * dy[yo]!;
              s1 += x[xo + c1]! * dy[yo + 1]!;
              s2 += x[xo + c2]! * dy[yo + 2]!;
              s3 += x[xo + c3]! * dy[yo + 3]!;
            }
            acc[a + j] += s0;
            acc[a + j + 1] += s1;
            acc[a + j + 2] += s2;
            acc[a + j + 3] += s3;
          }
          for (; j < CM; j++) {
            const c0 = xc[j]!;
            let s0 = 0;
            let xo = x0;
            let yo = d0 + j;
            for (let i = 0; i < n; i++, xo += xStep, yo += CM) s0 += x[xo + c0]! * dy[yo]!;
            acc[a + j] += s0;
          }
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i]!;
}

export function depthwiseConv2dNativeBackpropFilter(
  backendName: TrainingBackendName,
  args: KernelArgs,
): TensorInfo {
  const [x, dy] = convInputs(args, DepthwiseConv2dNativeBackpropFilter, 'x', 'dy');
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  const filterShape = [...attrs.filterShape];
  const g = convGeometry(x.shape, filterShape, attrs, true);
  return runHostKernel(backendName, args.backend, [x, dy], filterShape, ([xs, dys], out) =>
    depthwiseBackpropFilterInto(xs!, dys!, out, g, filterShape[3]!),
  );
}

export function depthwiseConv2dNativeBackpropFilterConfig(
  backendName: TrainingBackendName,
): KernelConfig {
  return kernelConfig(
    DepthwiseConv2dNativeBackpropFilter,
    backendName,
    depthwiseConv2dNativeBackpropFilter,
  );
}
