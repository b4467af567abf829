import { expect } from 'vitest';
import {
  type Backend,
  type Checkpoint,
  createReferenceBackend,
  type TrainableModel,
  type TrainOptions,
  train,
} from '../src/index.js';
import { blobs } from './blobs.js';

/**
 * Trains `make`'s model 4 epochs straight, and again stopped after epoch 2 then resumed on a
 * fresh backend from a model built with another seed (so only the checkpoint carries the state);
 * expects the two to end bit for bit the same.
 */
export async function expectResumeBitForBit(
  make: (b: Backend, seed: number) => TrainableModel,
  options: Omit<TrainOptions, 'epochs'>,
): Promise<void> {
  const straight = createReferenceBackend();
  const full = await train(straight, make(straight, 2), blobs(straight), { ...options, epochs: 4 });
  const first = createReferenceBackend();
  let saved: Checkpoint | undefined;
  await train(first, make(first, 2), blobs(first), {
    ...options,
    epochs: 4,
    onEvent: (e) => {
      if (e.type === 'checkpoint' && e.checkpoint.epoch === 2)
        saved = structuredClone(e.checkpoint);
    },
    shouldStop: () => saved !== undefined,
  });
  expect(saved?.epoch).toBe(2);
  const second = createReferenceBackend();
  const resumed = await train(second, make(second, 777), blobs(second), {
    ...options,
    epochs: 4,
    resume: saved!,
  });
  expect(resumed.checkpoint.step).toBe(full.checkpoint.step);
  expect(resumed.checkpoint.variables).toEqual(full.checkpoint.variables);
  expect(resumed.checkpoint.optimizer).toEqual(full.checkpoint.optimizer);
}
