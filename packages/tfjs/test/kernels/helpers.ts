import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  type backend_util,
  findBackend,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  setBackend,
  type Tensor2D,
  type TensorInfo,
  tensor2d,
} from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  isTrainingKernelRegistered,
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
 * active once before cpu; cpu stays the active backend.
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

/** One kernel call: its inputs and attrs. */
export interface KernelCall {
  inputs: Record<string, HostTensor>;
  attrs: object;
}

/** Ours, run on each of `backends`, is within `rtol` of `expected`. */
export function expectOursClose(
  kernelName: string,
  backends: readonly TrainingBackendName[],
  { inputs, attrs }: KernelCall,
  expected: HostTensor,
  rtol?: number,
): void {
  for (const b of backends) expectClose(runKernelOn(b, kernelName, inputs, attrs), expected, rtol);
}

/** Ours, run on each of `backends`, is within `rtol` of tfjs' stock cpu kernel on the same call. */
export function expectEqualsStock(
  kernelName: string,
  backends: readonly TrainingBackendName[],
  call: KernelCall,
  rtol?: number,
): void {
  const expected = runKernelOn('cpu', stock(kernelName), call.inputs, call.attrs);
  expectOursClose(kernelName, backends, call, expected, rtol);
}

/** A table of cases, each checked against tfjs' stock cpu kernel on the given backends. */
export interface StockTable<C> {
  kernel: string;
  backends: readonly TrainingBackendName[];
  cases: readonly C[];
  /** The test's name. */
  name: (c: C) => string;
  /** The call, made when the test runs; `i` is the case's index (for seeds). */
  call: (c: C, i: number) => KernelCall;
  rtol?: number;
}

/** One test per case: ours on each backend equals tfjs' stock cpu kernel. */
export function itEqualsStock<C>(t: StockTable<C>): void {
  t.cases.forEach((c, i) => {
    it(t.name(c), () => expectEqualsStock(t.kernel, t.backends, t.call(c, i), t.rtol));
  });
}

/** A test that our kernel is the one registered under its name on each of `backends`. */
export function itIsRegistered(
  kernelName: string,
  backends: readonly TrainingBackendName[],
  title = `is registered on ${backends.join(' and ')}`,
): void {
  it(title, () => {
    for (const b of backends) expect(isTrainingKernelRegistered(kernelName, b)).toBe(true);
  });
}

/** A tensor `x` of `shape`, seeded by its rank: the one input of the reduction and copy kernels. */
export function xOfShape(shape: number[]): { x: HostTensor } {
  return { x: tensor(random(shape.length), shape) };
}

/** [[1, 2, 3], [4, 5, 6]] as int32: for the dtypes ours leave to, or keep from, the stock kernels. */
export function int32Matrix(): Tensor2D {
  return tensor2d(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    [2, 3],
    'int32',
  );
}
