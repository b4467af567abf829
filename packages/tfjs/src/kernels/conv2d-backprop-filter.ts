import {
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  type ConvGeometry,
  convGeometry,
  convInputs,
  cropNegativePads,
  explicitPad,
} from './conv-util.js';
import {
  type KernelArgs,
  KernelScope,
  kernelConfig,
  runHostKernel,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * dW of a convolution as one forward convolution on the backend's own `Conv2D`:
 *
 *   dW[kh, kw, ci, co] = Σ_{b, oh, ow} x[b, oh·s + kh·d − pad, ow·s + kw·d − pad, ci] · dy[b, oh, ow, co]
 *
 * is a convolution whose batch is ci, whose channels are the batch b, and whose filter is dy
 * (taps oh, ow, dilated by the stride s), taken at stride d: x → [ci, H, W, b],
 * dy → [oh, ow, b, co], result [ci, kh, kw, co] → [kh, kw, ci, co]. One GEMM of the whole
 * problem on XNNPACK (wasm) or our indirect GEMM (cpu), two transposes around it. First layers
 * on wasm (kh·kw·ci ≤ co) take `byPatchGemm` instead.
 */
export function conv2dBackpropFilter(
  backendName: TrainingBackendName,
  args: KernelArgs,
): TensorInfo {
  const [x, dy] = convInputs(args, Conv2DBackpropFilter, 'x', 'dy');
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const nchw = attrs.dataFormat === 'NCHW';
  const g = convGeometry(x.shape, attrs.filterShape, attrs, false);
  const scope = new KernelScope(backendName, args.backend);
  const taps = g.h.f * g.w.f * g.inChannels;
  if (backendName === 'wasm' && !nchw && taps <= g.outChannels) {
    return scope.keep(byPatchGemm(scope, x, dy, g, attrs.filterShape));
  }
  const xT = scope.transpose(x, nchw ? [1, 2, 3, 0] : [3, 1, 2, 0]);
  const dyT = scope.transpose(dy, nchw ? [2, 3, 0, 1] : [1, 2, 0, 3]);
  const cropped = cropNegativePads(scope, xT, [
    g.h.padBefore,
    g.h.padAfter,
    g.w.padBefore,
    g.w.padAfter,
  ]);
  if (cropped === null) return scope.keep(scope.zeros([...attrs.filterShape]));
  const dw = scope.run(
    'Conv2D',
    { x: cropped.x, filter: dyT },
    {
      strides: [g.h.dilation, g.w.dilation],
      dilations: [g.h.stride, g.w.stride],
      pad: explicitPad(...cropped.pads),
      dataFormat: 'NHWC',
    },
  );
  return scope.keep(scope.transpose(dw, [1, 2, 0, 3]));
}

/**
 * The first layers' shape (few input channels, e.g. 1 or 3, many output channels): the patches of
 * x, transposed, [kh·kw·ci, b·oh·ow], are no bigger than dy, so dW = patchesᵀ · dy is one
 * BatchMatMul with dy as its right operand, which wasm hands to XNNPACK's fully-connected GEMM
 * as is, where the Conv2D route first transposes dy (the filter there) in C++: ≈ 8 ms against
 * ≈ 13 ms for the small CNN's first layer.
 */
function byPatchGemm(
  scope: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  filterShape: [number, number, number, number],
): TensorInfo {
  const { batch, inChannels: C } = g;
  const { in: H, out: OH, f: FH, stride: sh, dilation: dh, padBefore: pt } = g.h;
  const { in: W, out: OW, f: FW, stride: sw, dilation: dw, padBefore: pl } = g.w;
  const pixels = batch * OH * OW;
  const patchesT = scope.track(
    runHostKernel(scope.backendName, scope.backend, [x], [FH * FW * C, pixels], ([xs], out) => {
      const xv = xs!;
      for (let kh = 0; kh < FH; kh++) {
        for (let kw = 0; kw < FW; kw++) {
          for (let c = 0; c < C; c++) {
            let o = ((kh * FW + kw) * C + c) * pixels;
            for (let b = 0; b < batch; b++) {
              for (let oh = 0; oh < OH; oh++, o += OW) {
                const ih = oh * sh + kh * dh - pt;
                if (ih < 0 || ih >= H) continue; // the output was zero-filled
                const row = (b * H + ih) * W;
                for (let ow = 0; ow < OW; ow++) {
                  const iw = ow * sw + kw * dw - pl;
                  if (iw >= 0 && iw < W) out[o + ow] = xv[(row + iw) * C + c]!;
                }
              }
            }
          }
        }
      }
    }),
  );
  const dy2 = scope.reshape(dy, [pixels, g.outChannels]);
  const dw2 = scope.run(
    'BatchMatMul',
    { a: patchesT, b: dy2 },
    { transposeA: false, transposeB: false },
  );
  return scope.reshape(dw2, [...filterShape]);
}

export function conv2dBackpropFilterConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(Conv2DBackpropFilter, backendName, conv2dBackpropFilter);
}
