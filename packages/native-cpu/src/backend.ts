import { ArgumentError, type Backend, createTapeBackend, DqaError } from '@dqa/core';
import { addonPath, installHint, loadAddon, type NativeAddon } from './addon.js';
import { createFusedQuantizers } from './fused.js';
import { createNativeKernels, type NativeKernels } from './kernels.js';

export interface NativeCpuBackendOptions {
  /**
   * Compute threads (OpenMP, oneDNN's included) of the kernels this thread starts. Default: every
   * core (`OMP_NUM_THREADS` where set). The setting is per process thread, shared by every
   * native-cpu backend created in it.
   */
  threads?: number;
  /**
   * Most bytes of released tensors kept for reuse as outputs: enough for a step's tensors keeps
   * training from allocating (default: a quarter of the memory, at most 4 GiB; `close()` frees
   * them).
   */
  poolBytes?: number;
}

export type NativeCpuAvailability =
  | { available: true; dnnlVersion: string; threads: number }
  | { available: false; reason: string; hint: string };

/** Whether the addon is built and loads here; never throws. */
export function nativeCpuAvailable(): NativeCpuAvailability {
  const { addon, reason } = loadAddon();
  if (!addon) return { available: false, reason, hint: installHint };
  return { available: true, dnnlVersion: addon.dnnlVersion, threads: addon.getThreads() };
}

function requireAddon(what: string): NativeAddon {
  const { addon, reason } = loadAddon();
  if (!addon) {
    throw new DqaError(
      'BACKEND_UNAVAILABLE',
      `${what}: backend 'native-cpu' is unavailable: ${reason}. To use it, ${installHint}.`,
    );
  }
  return addon;
}

function checkThreads(n: number, what: string): void {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new ArgumentError(`${what}: threads must be an integer ≥ 1, got ${n}`);
  }
}

/** The default team size: `OMP_NUM_THREADS` where set, else every processor. */
function defaultThreads(addon: NativeAddon): number {
  const env = Number.parseInt(process.env.OMP_NUM_THREADS ?? '', 10);
  return Number.isInteger(env) && env >= 1 ? env : addon.cpuCount();
}

/** Caps the compute threads of native-cpu kernels started from this thread. */
export function setThreads(n: number): void {
  checkThreads(n, 'setThreads');
  requireAddon('setThreads').setThreads(n);
}

/** The compute threads native-cpu kernels started from this thread use. */
export function getThreads(): number {
  return requireAddon('getThreads').getThreads();
}

/** What the backend runs on, for logs and benchmark reports. */
export interface NativeCpuInfo {
  backend: 'native-cpu';
  dnnlVersion: string;
  runtime: string;
  threads: number;
  addon: string;
}

export type NativeCpuBackend = Backend & {
  /** oneDNN's version, its threading runtime and the current thread count. */
  describe(): NativeCpuInfo;
  /** The kernels under the tape backend (for profiling and tests). */
  readonly kernels: NativeKernels;
};

/**
 * A `Backend` on the native CPU addon: oneDNN convolutions, pooling and GEMM, OpenMP C++
 * elementwise ops and reductions, under @dqa/core's tape autodiff. Throws a
 * `DqaError('BACKEND_UNAVAILABLE')` saying what is missing and how to install it where the addon
 * is not built.
 */
export function createNativeCpuBackend(options: NativeCpuBackendOptions = {}): NativeCpuBackend {
  const addon = requireAddon('createNativeCpuBackend');
  const threads = options.threads ?? defaultThreads(addon);
  checkThreads(threads, 'createNativeCpuBackend');
  addon.setThreads(threads);
  const kernels = createNativeKernels(addon, { poolBytes: options.poolBytes });
  const backend = createTapeBackend(kernels, 'native-cpu', { hostMemory: true });
  const describe = (): NativeCpuInfo => ({
    backend: 'native-cpu',
    dnnlVersion: addon.dnnlVersion,
    runtime: addon.dnnlCpuRuntime,
    threads: addon.getThreads(),
    addon: addonPath,
  });
  Object.defineProperty(backend, 'describe', { value: describe });
  Object.defineProperty(backend, 'kernels', { value: kernels });
  Object.defineProperty(backend, 'close', { value: () => kernels.pool.clear() });
  Object.defineProperty(backend, 'fusedQuantizers', {
    value: createFusedQuantizers(backend, addon),
  });
  return backend as NativeCpuBackend;
}
