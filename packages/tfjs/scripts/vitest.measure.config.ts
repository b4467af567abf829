import { defineConfig } from 'vitest/config';
import { sharedConfig } from '../../../vitest.shared.ts';

/**
 * Runs the kernel measurement (not a test: it asserts nothing and takes a minute or two):
 *   npx vitest run --config scripts/vitest.measure.config.ts
 */
export default defineConfig({
  ...sharedConfig,
  test: {
    ...sharedConfig.test,
    name: '@dqa/tfjs measure-kernels',
    include: ['scripts/measure-kernels.ts'],
    testTimeout: 30 * 60_000,
  },
});
