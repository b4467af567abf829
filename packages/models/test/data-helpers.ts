import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DqaError } from '@dqa/core';
import { afterAll, expect } from 'vitest';
import { DatasetError } from '../src/data/index.js';

/**
 * Call while collecting a suite (not inside a hook): returns a maker of fresh temporary folders,
 * all removed after the suite's tests.
 */
export function tempDirs(prefix = 'dqa-data-'): () => Promise<string> {
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}

/** The DatasetError `promise` rejects with (fails the test otherwise). */
export async function datasetError(promise: Promise<unknown>): Promise<DatasetError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    expect(e).toBeInstanceOf(DqaError);
    expect((e as DqaError).code).toBe('DATA_FILE');
    return e as DatasetError;
  }
  return expect.fail('expected a DatasetError');
}

/** How many of each label 0 … classes − 1. */
export function histogram(labels: Uint8Array, classes: number): number[] {
  const h = new Array<number>(classes).fill(0);
  for (const l of labels) h[l]!++;
  return h;
}

/**
 * Whether two byte arrays are equal. For large arrays: `toEqual` on millions of elements is slow,
 * and its diff on failure is huge.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
