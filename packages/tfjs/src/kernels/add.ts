import { Add, type KernelConfig } from '@tensorflow/tfjs-core';
import { arithmeticConfig } from './broadcast-arithmetic.js';

/** a + b on cpu, float32, broadcasting without per-element index arithmetic. */
export function addConfig(): KernelConfig {
  return arithmeticConfig(Add);
}
