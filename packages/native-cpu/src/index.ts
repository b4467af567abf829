export { addonPath, installHint, type NativeAddon } from './addon.js';
export {
  createNativeCpuBackend,
  getThreads,
  type NativeCpuAvailability,
  type NativeCpuBackend,
  type NativeCpuBackendOptions,
  type NativeCpuInfo,
  nativeCpuAvailable,
  setThreads,
} from './backend.js';
export {
  ArrayPool,
  createNativeKernels,
  type NativeKernels,
  type NativeKernelsOptions,
} from './kernels.js';
