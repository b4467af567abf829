import { describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  createReferenceBackend,
  type TrainEvent,
  type TrainOptions,
  train,
} from '../src/index.js';
import { blobs } from './blobs.js';
import { parallelMlp, wrongMlp } from './fixtures/parallel-mlp.mjs';

// Worker threads run the built dist of @dqa/core (`pnpm build` first, as `pnpm test` does).

const options: TrainOptions = {
  epochs: 2,
  learningRate: { kind: 'step', initial: 0.1 },
  optimizer: { momentum: 0.9, weightDecay: 1e-4, nesterov: false },
};

async function run(threads: number) {
  const b = createReferenceBackend();
  const losses: number[] = [];
  const result = await train(b, parallelMlp(b, { seed: 7 }), blobs(b, 20), {
    ...options,
    threads,
    onEvent: (e: TrainEvent) => {
      if (e.type === 'step') losses.push(e.loss);
    },
  });
  return { result, losses, live: b.memory!().numTensors };
}

function maxDiff(a: Checkpoint, b: Checkpoint): number {
  let d = 0;
  for (const [name, v] of Object.entries(a.variables)) {
    const w = b.variables[name]!.values;
    v.values.forEach((x, i) => {
      d = Math.max(d, Math.abs(x - w[i]!));
    });
  }
  return d;
}

describe('data-parallel training (threads > 1)', () => {
  it('gives the weights, moving state and losses of single-thread training', async () => {
    const one = await run(1);
    for (const threads of [2, 3]) {
      const many = await run(threads);
      expect(many.losses).toHaveLength(one.losses.length);
      many.losses.forEach((l, i) => {
        expect(l).toBeCloseTo(one.losses[i]!, 5);
      });
      // Same variables, state included (the moving mean is averaged across threads by rows).
      expect(Object.keys(many.result.checkpoint.variables)).toEqual(
        Object.keys(one.result.checkpoint.variables),
      );
      expect(maxDiff(many.result.checkpoint, one.result.checkpoint)).toBeLessThan(1e-5);
      const moving = many.result.checkpoint.variables['fc1/moving_mean']!.values;
      expect(moving.some((x) => x !== 0)).toBe(true);
      expect(many.result.relaxedAccuracy).toBe(one.result.relaxedAccuracy);
      // Nothing left behind on the calling thread's backend.
      expect(many.live).toBe(one.live);
    }
  }, 60_000);

  it('splits uneven batches by rows (batch 8 over three threads: 3 + 3 + 2)', async () => {
    const b1 = createReferenceBackend();
    const single = await train(b1, parallelMlp(b1, { seed: 3 }), blobs(b1, 8), {
      ...options,
      epochs: 1,
    });
    const b3 = createReferenceBackend();
    const split = await train(b3, parallelMlp(b3, { seed: 3 }), blobs(b3, 8), {
      ...options,
      epochs: 1,
      threads: 3,
    });
    expect(maxDiff(split.checkpoint, single.checkpoint)).toBeLessThan(1e-5);
  }, 60_000);

  it('refuses a model without a replica recipe, and a bad thread count', async () => {
    const b = createReferenceBackend();
    const { replica: _, ...model } = parallelMlp(b, { seed: 1 });
    await expect(train(b, model, blobs(b), { ...options, threads: 2 })).rejects.toThrow(
      /threads > 1 needs a model that worker threads can rebuild/,
    );
    const b2 = createReferenceBackend();
    await expect(
      train(b2, parallelMlp(b2, { seed: 1 }), blobs(b2), { ...options, threads: 1.5 }),
    ).rejects.toThrow('train: threads must be a positive integer, got 1.5');
  });

  it("names a worker replica whose variables differ from the trained model's", async () => {
    const b = createReferenceBackend();
    const model = parallelMlp(b, { seed: 1 });
    const bad = { ...model, replica: { ...model.replica!, export: 'wrongMlp' } };
    expect(wrongMlp).toBeTypeOf('function');
    await expect(train(b, bad, blobs(b), { ...options, threads: 2 })).rejects.toThrow(
      /data-parallel worker 1: the worker's model replica has variables \[8\] \[8, 3\] \[3\] but the trained model has \[4, 8\] \[8\] \[8, 3\] \[3\]/,
    );
    const missing = { ...model, replica: { ...model.replica!, export: 'noSuchExport' } };
    await expect(train(b, missing, blobs(b), { ...options, threads: 2 })).rejects.toThrow(
      /has no exported function 'noSuchExport'/,
    );
  }, 60_000);
});
