// The stock kernels of both backends must be in the registry before ours: registering a kernel
// name twice makes the later registration win, so a backend imported after us would put its own
// (slower, or missing) kernels back. Importing a backend does not make it the active one.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  getKernel,
  type KernelConfig,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import { addConfig } from './add.js';
import { batchMatMulConfig } from './batch-mat-mul.js';
import { conv2dConfig } from './conv2d.js';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-native-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-native-backprop-input.js';
import { fusedConv2dConfig } from './fused-conv2d.js';
import { registryState, type TrainingBackendName, type TrainingKernel } from './kernel-util.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { meanConfig } from './mean.js';
import { multiplyConfig } from './multiply.js';
import { realDivConfig } from './real-div.js';
import { sliceConfig } from './slice.js';
import { subConfig } from './sub.js';
import { sumConfig } from './sum.js';
import { tileConfig } from './tile.js';
import { transposeConfig } from './transpose.js';

export type { TrainingBackendName, TrainingKernel } from './kernel-util.js';

/**
 * Every kernel `@dqa/tfjs` adds to tfjs, and how: `add` where the backend has none (wasm cannot
 * train a CNN without them), `replace` where ours was measured several times faster than the
 * stock one (see `scripts/measure-kernels.ts`).
 */
export const trainingKernels: readonly TrainingKernel[] = [
  // wasm lacks these three: without them tf.grad of any conv net throws on wasm.
  { config: conv2dBackpropFilterConfig('wasm'), mode: 'add' },
  { config: depthwiseConv2dNativeBackpropFilterConfig('wasm'), mode: 'add' },
  { config: depthwiseConv2dNativeBackpropInputConfig('wasm'), mode: 'add' },
  // wasm has these, as naive loops; ours run on XNNPACK's Conv2D, or as one pass in TypeScript.
  { config: conv2dBackpropInputConfig('wasm'), mode: 'replace' },
  { config: maxPoolGradConfig('wasm'), mode: 'replace' },
  // wasm: its own kernels, routed to their fast paths (XNNPACK's GEMM, reductions on trailing axes).
  { config: batchMatMulConfig(), mode: 'replace' },
  { config: sumConfig('wasm'), mode: 'replace' },
  // Both: batch norm takes means over all but the channels (both stock kernels transpose
  // first), and its gradient tiles per-channel vectors to full activations, slowly.
  { config: meanConfig('wasm'), mode: 'replace' },
  { config: meanConfig('cpu'), mode: 'replace' },
  { config: tileConfig('wasm'), mode: 'replace' },
  { config: tileConfig('cpu'), mode: 'replace' },
  // cpu: an indirect-GEMM Conv2D, and every conv gradient composed on it.
  { config: conv2dConfig('cpu'), mode: 'replace' },
  { config: fusedConv2dConfig('cpu'), mode: 'replace' },
  { config: conv2dBackpropFilterConfig('cpu'), mode: 'replace' },
  { config: conv2dBackpropInputConfig('cpu'), mode: 'replace' },
  { config: depthwiseConv2dNativeBackpropFilterConfig('cpu'), mode: 'replace' },
  { config: depthwiseConv2dNativeBackpropInputConfig('cpu'), mode: 'replace' },
  { config: maxPoolGradConfig('cpu'), mode: 'replace' },
  // cpu: its Transpose, Slice and broadcasting arithmetic compute index arrays per element, and
  // its Sum transposes first.
  { config: addConfig(), mode: 'replace' },
  { config: subConfig(), mode: 'replace' },
  { config: multiplyConfig(), mode: 'replace' },
  { config: realDivConfig(), mode: 'replace' },
  { config: transposeConfig(), mode: 'replace' },
  { config: sliceConfig(), mode: 'replace' },
  { config: sumConfig('cpu'), mode: 'replace' },
];

/** A registered config of ours carries this mark, so any copy of this package recognises it. */
const MARK = 'dqaTrainingKernel';
type MarkedConfig = KernelConfig & { readonly [MARK]?: true };

const key = (c: KernelConfig) => `${c.backendName}_${c.kernelName}`;

function isOurs(config: KernelConfig | undefined): boolean {
  return config !== undefined && (config as MarkedConfig)[MARK] === true;
}

/** What `registerTrainingKernels` did with one kernel. */
export interface RegistrationEntry {
  kernelName: string;
  backendName: TrainingBackendName;
  mode: TrainingKernel['mode'];
  /**
   * `registered`: ours is now in the registry; `already`: ours was there; `kept`: an `add` kernel
   * whose name the backend has since gained — the backend's own is left in place.
   */
  status: 'registered' | 'already' | 'kept';
}

/**
 * Registers every training kernel on tfjs' `wasm` and `cpu` backends. Idempotent: a second call,
 * or a call from a second copy of this package, changes nothing and throws nothing. Stock
 * kernels that ours replace are remembered once (`stockKernel`), and restored by
 * `unregisterTrainingKernels`. Does not touch which backend is active.
 */
export function registerTrainingKernels(
  backends: readonly TrainingBackendName[] = ['wasm', 'cpu'],
): RegistrationEntry[] {
  const { stock } = registryState();
  const report: RegistrationEntry[] = [];
  for (const { config, mode } of trainingKernels) {
    const backendName = config.backendName as TrainingBackendName;
    if (!backends.includes(backendName)) continue;
    const entry = { kernelName: config.kernelName, backendName, mode };
    const current = getKernel(config.kernelName, backendName);
    if (isOurs(current)) {
      report.push({ ...entry, status: 'already' });
      continue;
    }
    if (current !== undefined && mode === 'add') {
      report.push({ ...entry, status: 'kept' });
      continue;
    }
    if (current !== undefined) {
      if (!stock.has(key(config))) stock.set(key(config), current);
      unregisterKernel(config.kernelName, backendName);
    }
    // Ours carries the stock kernel's setup and dispose hooks: the backend runs setupFunc when
    // it initialises, and a stock kernel restored later must find itself set up.
    const marked: MarkedConfig = {
      ...config,
      setupFunc: current?.setupFunc,
      disposeFunc: current?.disposeFunc,
      [MARK]: true,
    };
    registerKernel(marked);
    report.push({ ...entry, status: 'registered' });
  }
  return report;
}

/** Takes our kernels out of the registry and puts the stock ones back (for A/B benchmarks). */
export function unregisterTrainingKernels(
  backends: readonly TrainingBackendName[] = ['wasm', 'cpu'],
): void {
  const { stock } = registryState();
  for (const { config } of trainingKernels) {
    const backendName = config.backendName as TrainingBackendName;
    if (!backends.includes(backendName)) continue;
    if (!isOurs(getKernel(config.kernelName, backendName))) continue;
    unregisterKernel(config.kernelName, backendName);
    const original = stock.get(key(config));
    if (original !== undefined) registerKernel(original);
  }
}

/** The stock kernel that ours replaced, or the registered one when ours is not installed. */
export function stockKernel(
  kernelName: string,
  backendName: TrainingBackendName,
): KernelConfig | undefined {
  const saved = registryState().stock.get(`${backendName}_${kernelName}`);
  if (saved !== undefined) return saved;
  const current = getKernel(kernelName, backendName);
  return isOurs(current) ? undefined : current;
}

/** Whether our kernel is the one registered under this name. */
export function isTrainingKernelRegistered(
  kernelName: string,
  backendName: TrainingBackendName,
): boolean {
  return isOurs(getKernel(kernelName, backendName));
}

export { addConfig } from './add.js';
export { batchMatMulConfig } from './batch-mat-mul.js';
export { conv2dConfig } from './conv2d.js';
export { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
export { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
export { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-native-backprop-filter.js';
export { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-native-backprop-input.js';
export { fusedConv2dConfig } from './fused-conv2d.js';
export { maxPoolGradConfig } from './max-pool-grad.js';
export { meanConfig } from './mean.js';
export { multiplyConfig } from './multiply.js';
export { realDivConfig } from './real-div.js';
export { sliceConfig } from './slice.js';
export { subConfig } from './sub.js';
export { sumConfig } from './sum.js';
export { tileConfig } from './tile.js';
export { transposeConfig } from './transpose.js';
