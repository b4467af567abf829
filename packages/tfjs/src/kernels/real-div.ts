import { type KernelConfig, RealDiv } from '@tensorflow/tfjs-core';
import { arithmeticConfig } from './broadcast-arithmetic.js';

/** a / b on cpu, float32, broadcasting without per-element index arithmetic. */
export function realDivConfig(): KernelConfig {
  return arithmeticConfig(RealDiv);
}
