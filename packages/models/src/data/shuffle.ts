import { ArgumentError, Random } from '@dqa/core';

/** Independent random streams of one epoch. */
export const RANDOM_STREAM = { shuffle: 0, augment: 1 } as const;

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The seed of one random stream of one epoch: a function of (seed, epoch, stream) only, never of
 * earlier epochs, so a run resumed at epoch e draws exactly what an uninterrupted run drew. For a
 * fixed seed and stream, different epochs (below 2³²) give different seeds (each step is a
 * bijection of the epoch).
 */
export function epochSeed(seed: number, epoch: number, stream: number): number {
  if (!Number.isInteger(seed)) throw new ArgumentError(`seed must be an integer, got ${seed}`);
  if (!(Number.isInteger(epoch) && epoch >= 0)) {
    throw new ArgumentError(`epoch must be a non-negative integer, got ${epoch}`);
  }
  return fmix32(fmix32(fmix32(seed ^ 0x2545f491) ^ epoch) ^ stream);
}

/**
 * The order in which an epoch visits `count` examples: `0 … count−1` shuffled by Fisher–Yates
 * (core's `Random.shuffle`) with a generator seeded from (seed, epoch).
 */
export function epochPermutation(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return new Random(epochSeed(seed, epoch, RANDOM_STREAM.shuffle)).shuffle(order);
}
