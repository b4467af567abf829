import { expect } from 'vitest';
import { DqaError } from '../src/index.js';

/** The error `fn` throws (fails the test if it does not throw). */
export function thrown(fn: () => unknown): DqaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DqaError);
    return e as DqaError;
  }
  return expect.fail('expected an error');
}
