import { DqaError } from '@dqa/core';
import { describe, expect, it } from 'vitest';
import { createNativeCpuBackend, nativeCpuAvailable } from '../src/index.js';

/** Whether the addon is built and loads in this checkout. */
export const native = nativeCpuAvailable();

/** The error users get where the addon is missing (any build of @dqa/core: compared by code). */
export function expectUnavailableError(fn: () => unknown): void {
  let error: unknown = null;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'createNativeCpuBackend should throw where the addon is missing').toBeInstanceOf(
    Error,
  );
  const e = error as DqaError;
  expect(e.name).toBe('DqaError');
  expect(e.code).toBe('BACKEND_UNAVAILABLE');
  expect(e.message).toMatch(/backend 'native-cpu' is unavailable/);
  expect(e.message).toMatch(/apt-get install libdnnl-dev g\+\+ make python3/);
  expect(e.message).toMatch(/pnpm --filter @dqa\/native-cpu build/);
}

/**
 * Registers `suite` where the addon loads. Where it does not, one test checks the error users get
 * instead (named, never skipped), and fails under DQA_REQUIRE_NATIVE=1 (CI builds the addon).
 */
export function describeNative(name: string, suite: () => void): void {
  if (native.available) {
    describe(name, suite);
    return;
  }
  it(`${name}: not run, the addon is not built here (${native.reason}); createNativeCpuBackend says so`, () => {
    expect(
      process.env.DQA_REQUIRE_NATIVE,
      `DQA_REQUIRE_NATIVE=1 but the native addon does not load: ${native.reason}`,
    ).not.toBe('1');
    expectUnavailableError(() => createNativeCpuBackend());
  });
}

// Re-exported for the test files' convenience.
export { DqaError };
