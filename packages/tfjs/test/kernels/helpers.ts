import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  backend_util,
  findBackend,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  setBackend,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import {
  registerTrainingKernels,
  stockKernel,
  type TrainingBackendName,
} from '../../src/kernels/index.js';

/** A deterministic stream of uniform numbers in [-1, 1) (mulberry32). */
export function random(seed: number): (n: number) => Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  };
  return (n) => Float32Array.from({ length: n }, next);
}

export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

export function tensor(rand: (n: number) => Float32Array, shape: number[]): HostTensor {
  return { shape, values: rand(shape.reduce((a, b) => a * b, 1)) };
}

/**
 * Initialises both backends and registers our kernels (capturing the stock ones). The wasm
 * backend binds its stock kernels to WebAssembly only when it becomes active, so it is made
 * active once before cpu.
 */
export async function setUpKernels(): Promise<void> {
  await setBackend('wasm');
  await setBackend('cpu');
  registerTrainingKernels();
}

export function backend(name: TrainingBackendName): KernelBackend {
  const b = findBackend(name);
  if (b === null) throw new Error(`backend ${name} is not initialised`);
  return b;
}

/**
 * Runs one kernel directly on a backend instance, whatever backend is active: the inputs are
 * written to that backend, the output is read back, everything is disposed, and the backend
 * must hold exactly as many tensors as before (a composed kernel disposes its intermediates).
 */
export function runKernelOn(
  backendName: TrainingBackendName,
  kernel: KernelConfig | string,
  inputs: Record<string, HostTensor>,
  attrs: object,
): HostTensor {
  const config = typeof kernel === 'string' ? getKernel(kernel, backendName) : kernel;
  if (config === undefined) throw new Error(`no kernel ${String(kernel)} on ${backendName}`);
  const b = backend(backendName);
  const before = b.numDataIds();
  const infos: NamedTensorInfoMap = {};
  for (const [k, t] of Object.entries(inputs)) {
    infos[k] = { dataId: b.write(t.values, t.shape, 'float32'), shape: t.shape, dtype: 'float32' };
  }
  const out = config.kernelFunc({ inputs: infos, backend: b, attrs: attrs as NamedAttrMap });
  const info = (Array.isArray(out) ? out[0] : out) as TensorInfo;
  const values = Float32Array.from(b.readSync(info.dataId) as Float32Array);
  const result = { shape: [...info.shape], values };
  b.disposeData(info.dataId);
  for (const t of Object.values(infos)) if (t !== undefined) b.disposeData(t.dataId);
  expect(b.numDataIds(), `${config.kernelName} on ${backendName} leaks tensors`).toBe(before);
  return result;
}

/** The stock cpu kernel, as captured before ours replaced it. */
export function stock(kernelName: string): KernelConfig {
  const k = stockKernel(kernelName, 'cpu');
  if (k === undefined) throw new Error(`no stock cpu kernel ${kernelName}`);
  return k;
}

/** max |actual − expected| ≤ rtol · max |expected| (and shapes equal). */
export function expectClose(actual: HostTensor, expected: HostTensor, rtol = 1e-4): void {
  expect(actual.shape).toEqual(expected.shape);
  let scale = 1e-6;
  for (const v of expected.values) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.values.length; i++) {
    worst = Math.max(worst, Math.abs(actual.values[i]! - expected.values[i]!));
  }
  expect(worst / scale).toBeLessThanOrEqual(rtol);
}

export type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;

/** Asymmetric explicit padding (NHWC), to catch top/bottom or left/right mix-ups. */
export const EXPLICIT: backend_util.ExplicitPadding = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
];

/** Conv geometry as tfjs computes it, for the plain-loop references. */
export function convInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
  depthwise = false,
): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    depthwise,
  );
}

/**
 * Visits every (x element, filter element, y element) triple of an NHWC (depthwise) conv:
 * y[b, oh, ow, o] += x[b, ih, iw, c] · w[kh, kw, c, m]. The plain-loop reference for geometries
 * tfjs' stock cpu kernels do not cover (dilated conv2d gradients).
 */
export function forEachTap(
  info: backend_util.Conv2DInfo,
  depthwise: boolean,
  visit: (xi: number, wi: number, yi: number) => void,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } =
    info;
  const mult = depthwise ? outChannels / inChannels : outChannels;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - info.padInfo.top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - info.padInfo.left;
            if (iw < 0 || iw >= inWidth) continue;
            for (let c = 0; c < inChannels; c++) {
              const xi = ((b * inHeight + ih) * inWidth + iw) * inChannels + c;
              for (let m = 0; m < mult; m++) {
                const wi = ((kh * filterWidth + kw) * inChannels + c) * mult + m;
                const o = depthwise ? c * mult + m : m;
                const yi = ((b * outHeight + oh) * outWidth + ow) * outChannels + o;
                visit(xi, wi, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** Output height/width of a conv, for making dy of the right shape. */
export function outShape(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
  depthwise = false,
): number[] {
  return convInfo(xShape, filterShape, strides, dilations, pad, dimRoundingMode, depthwise)
    .outShape;
}
