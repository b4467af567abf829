import {
  backend_util,
  type KernelConfig,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  assertFloat32,
  assertRank4,
  input,
  type KernelArgs,
  kernelConfig,
  runHostKernel,
  type TrainingBackendName,
} from './kernel-util.js';

/**
 * dx of max pooling: each window's dy goes to the window's first maximum (scanning rows, then
 * columns, as tfjs' cpu kernel does, so ties and all-equal windows, common after a ReLU, match).
 * Written in TypeScript over plain arrays: one pass over x finds the argmax for all channels of
 * an output pixel at once, then dy is scattered. The stock kernels recompute, for every input
 * pixel, every window that covers it (wasm ≈ 44 ms, cpu ≈ 0.8 s for the small CNN at batch 64).
 */
export function maxPoolGradInto(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  dx: Float32Array,
  info: backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  if (
    fh === 2 &&
    fw === 2 &&
    sh === 2 &&
    sw === 2 &&
    pt === 0 &&
    pl === 0 &&
    2 * OH <= H &&
    2 * OW <= W
  ) {
    maxPool2x2GradInto(x, dy, dx, info);
    return;
  }
  const best = new Float64Array(C);
  const where = new Int32Array(C);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - pt;
      let rLo = r0;
      while (rLo < 0) rLo += dh;
      const rHi = Math.min(H, r0 + fh);
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - pl;
        let cLo = c0;
        while (cLo < 0) cLo += dw;
        const cHi = Math.min(W, c0 + fw);
        best.fill(Number.NEGATIVE_INFINITY);
        where.fill(-1);
        for (let r = rLo; r < rHi; r += dh) {
          for (let c = cLo; c < cHi; c += dw) {
            const base = ((b * H + r) * W + c) * C;
            for (let ch = 0; ch < C; ch++) {
              const v = x[base + ch]!;
              if (v > best[ch]!) {
                best[ch] = v;
                where[ch] = base + ch;
              }
            }
          }
        }
        const dyBase = ((b * OH + oh) * OW + ow) * C;
        for (let ch = 0; ch < C; ch++) {
          const at = where[ch]!;
          if (at >= 0) dx[at] += dy[dyBase + ch]!;
        }
      }
    }
  }
}

/** The common 2×2, stride-2, unpadded case: four compares per channel, no per-window arrays. */
function maxPool2x2GradInto(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  dx: Float32Array,
  info: backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const p0 = ((b * H + 2 * oh) * W + 2 * ow) * C;
        const p1 = p0 + C;
        const p2 = p0 + W * C;
        const p3 = p2 + C;
        const d = ((b * OH + oh) * OW + ow) * C;
        for (let ch = 0; ch < C; ch++) {
          // Strict '>' from −∞: the first maximum wins and NaN never does, as in tfjs' cpu kernel.
          let m = Number.NEGATIVE_INFINITY;
          let at = -1;
          let v = x[p0 + ch]!;
          if (v > m) {
            m = v;
            at = p0;
          }
          v = x[p1 + ch]!;
          if (v > m) {
            m = v;
            at = p1;
          }
          v = x[p2 + ch]!;
          if (v > m) {
            m = v;
            at = p2;
          }
          v = x[p3 + ch]!;
          if (v > m) at = p3;
          if (at >= 0) dx[at + ch] += dy[d + ch]!;
        }
      }
    }
  }
}

export function maxPoolGrad(backendName: TrainingBackendName, args: KernelArgs): TensorInfo {
  const name = MaxPoolGrad;
  const dy = input(args, 'dy', name);
  const x = input(args, 'input', name);
  assertFloat32(name, dy, x);
  assertRank4(name, 'input', x.shape);
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return runHostKernel(backendName, args.backend, [x, dy], [...x.shape], ([xs, dys], dx) =>
    maxPoolGradInto(xs!, dys!, dx, info),
  );
}

export function maxPoolGradConfig(backendName: TrainingBackendName): KernelConfig {
  return kernelConfig(MaxPoolGrad, backendName, maxPoolGrad);
}
