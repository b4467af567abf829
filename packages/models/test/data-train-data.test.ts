import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Backend,
  type Batch,
  type Checkpoint,
  createReferenceBackend,
  DqaError,
  Random,
  type TrainableModel,
  train,
  type Variable,
} from '@dqa/core';
import { describe, expect, it } from 'vitest';
import {
  augmentationParams,
  channelStats,
  createDataset,
  createTrainData,
  type Dataset,
  epochPermutation,
  epochSeed,
  writeAugmented,
} from '../src/data/index.js';

/**
 * `count` h×w×c images; every byte of image i is i plus its channel, so a batch row tells which
 * example it holds (train images 0 …, test images 100 …). Labels i mod `classes`.
 */
function tagged(count: number, shape: [number, number, number], classes: number): Dataset {
  const [h, w, c] = shape;
  const make = (n: number, offset: number) => {
    const images = new Uint8Array(n * h * w * c);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < h * w; p++) {
        for (let ch = 0; ch < c; ch++) images[(i * h * w + p) * c + ch] = (offset + i + ch) % 256;
      }
    }
    return {
      images,
      labels: Uint8Array.from({ length: n }, (_, i) => (offset + i) % classes),
      count: n,
    };
  };
  return createDataset({
    name: 'tagged',
    inputShape: shape,
    classes,
    train: make(count, 0),
    test: make(7, 100),
    // x = byte / 255, so the tag reads back as round(x · 255).
    mean: new Array(c).fill(0),
    std: new Array(c).fill(1),
  });
}

/** The example each row of a one-channel `tagged` batch holds, and its one-hot label. */
function rows(b: Backend, batch: Batch): { ids: number[]; labels: number[] } {
  const [n, h, w, c] = batch.x.shape as [number, number, number, number];
  const x = b.readSync(batch.x);
  const y = b.readSync(batch.y);
  const classes = batch.y.shape[1]!;
  const ids: number[] = [];
  const labels: number[] = [];
  for (let r = 0; r < n; r++) {
    ids.push(Math.round(x[r * h * w * c]! * 255));
    const hot = Array.from(y.subarray(r * classes, (r + 1) * classes));
    expect(hot.filter((v) => v === 1)).toHaveLength(1);
    expect(hot.filter((v) => v === 0)).toHaveLength(classes - 1);
    labels.push(hot.indexOf(1));
  }
  b.dispose([batch.x, batch.y]);
  return { ids, labels };
}

function epochIds(b: Backend, batches: Iterable<Batch>): number[] {
  const ids: number[] = [];
  for (const batch of batches) ids.push(...rows(b, batch).ids);
  return ids;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('createTrainData: order', () => {
  const b = createReferenceBackend();
  const ds = tagged(50, [2, 2, 1], 5);

  it('visits every example once per epoch, in an order fixed by (seed, epoch) alone', () => {
    const data = createTrainData(b, ds, { batchSize: 8, seed: 7 });
    expect(data.stepsPerEpoch).toBe(7);
    const epochs = [0, 1, 2].map((e) => epochIds(b, data.trainBatches(e)));
    for (const [e, ids] of epochs.entries()) {
      expect([...ids].sort((p, q) => p - q)).toEqual(range(50));
      expect(ids).toEqual(Array.from(data.trainOrder(e)));
    }
    expect(epochs[0]).not.toEqual(epochs[1]);
    expect(epochs[1]).not.toEqual(epochs[2]);
    expect(epochs[0]).not.toEqual(range(50));
    // A fresh TrainData that never saw epochs 0 and 1 (a resumed run) gives epoch 2 the same order.
    const fresh = createReferenceBackend();
    const resumed = createTrainData(fresh, ds, { batchSize: 8, seed: 7 });
    expect(epochIds(fresh, resumed.trainBatches(2))).toEqual(epochs[2]);
    // Another seed, another order.
    const other = createTrainData(b, ds, { batchSize: 8, seed: 8 });
    expect(epochIds(b, other.trainBatches(0))).not.toEqual(epochs[0]);
  });

  it('shuffles with core Random.shuffle (Fisher–Yates) seeded from (seed, epoch)', () => {
    const expected = new Random(epochSeed(7, 3, 0)).shuffle(range(50));
    expect(Array.from(epochPermutation(50, 7, 3))).toEqual(expected);
    const seeds = new Set(range(100).map((e) => epochSeed(7, e, 0)));
    expect(seeds.size).toBe(100);
    expect(epochSeed(7, 3, 0)).not.toBe(epochSeed(7, 3, 1));
  });

  it('labels follow their images; the last batch holds the remainder unless dropLast', () => {
    const data = createTrainData(b, ds, { batchSize: 8, seed: 1 });
    const sizes: number[] = [];
    for (const batch of data.trainBatches(0)) {
      sizes.push(batch.x.shape[0]!);
      expect(batch.x.shape).toEqual([batch.x.shape[0], 2, 2, 1]);
      expect(batch.y.shape).toEqual([batch.x.shape[0], 5]);
      const { ids, labels } = rows(b, batch);
      expect(labels).toEqual(ids.map((i) => i % 5));
    }
    expect(sizes).toEqual([8, 8, 8, 8, 8, 8, 2]);
    const dropped = createTrainData(b, ds, { batchSize: 8, seed: 1, dropLast: true });
    expect(dropped.stepsPerEpoch).toBe(6);
    const ids = epochIds(b, dropped.trainBatches(0));
    expect(ids).toHaveLength(48);
    expect(ids).toEqual(Array.from(data.trainOrder(0)).slice(0, 48));
  });

  it('limitTrain and limitTest keep the first examples; test batches keep stored order', () => {
    const data = createTrainData(b, ds, { batchSize: 4, seed: 1, limitTrain: 10, limitTest: 6 });
    expect(data.trainCount).toBe(10);
    expect(data.stepsPerEpoch).toBe(3);
    expect([...epochIds(b, data.trainBatches(0))].sort((p, q) => p - q)).toEqual(range(10));
    const test = [...data.testBatches()];
    expect(test.map((t) => t.x.shape[0])).toEqual([4, 2]);
    expect(test.flatMap((t) => rows(b, t).ids)).toEqual([100, 101, 102, 103, 104, 105]);
    const all = createTrainData(b, ds, { batchSize: 4, seed: 1, limitTrain: 1000 });
    expect(all.trainCount).toBe(50);
    expect(all.testCount).toBe(7);
  });

  it('rejects impossible options with the key and value', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(DqaError);
        return (e as DqaError).message;
      }
      return expect.fail('expected an error');
    };
    expect(err(() => createTrainData(b, ds, { batchSize: 0, seed: 1 }))).toBe(
      'createTrainData: batchSize must be a positive integer, got 0',
    );
    expect(err(() => createTrainData(b, ds, { batchSize: 8, seed: 1, limitTrain: 2.5 }))).toBe(
      'createTrainData: limitTrain must be a positive integer, got 2.5',
    );
    expect(err(() => createTrainData(b, ds, { batchSize: 64, seed: 1, dropLast: true }))).toBe(
      "createTrainData: data set 'tagged' has 50 training examples, too few for one full batch of 64",
    );
    const data = createTrainData(b, ds, { batchSize: 8, seed: 1 });
    expect(err(() => data.trainBatches(-1))).toBe('epoch must be a non-negative integer, got -1');
  });
});

describe('createTrainData: normalisation', () => {
  it('computes (byte / 255 − mean[c]) / std[c] per channel, in float32', () => {
    const b = createReferenceBackend();
    const images = Uint8Array.from([0, 10, 255, 128, 64, 32, 1, 2, 3, 250, 251, 252]); // 1 image 2×2×3
    const ds = createDataset({
      name: 'rgb',
      inputShape: [2, 2, 3],
      classes: 2,
      train: { images, labels: Uint8Array.from([1]), count: 1 },
      test: { images, labels: Uint8Array.from([0]), count: 1 },
      mean: [0.5, 0.25, 0.125],
      std: [0.5, 0.2, 0.1],
    });
    const data = createTrainData(b, ds, { batchSize: 2, seed: 0 });
    const [batch] = [...data.trainBatches(0)];
    const expected = Array.from(images, (v, i) =>
      Math.fround((v / 255 - ds.mean[i % 3]!) / ds.std[i % 3]!),
    );
    expect(Array.from(b.readSync(batch!.x))).toEqual(expected);
    expect(Array.from(b.readSync(batch!.y))).toEqual([0, 1]);
  });

  it('defaults mean and std to the training images’ per-channel statistics', () => {
    const images = Uint8Array.from([0, 10, 255, 20, 0, 30, 255, 40]); // 4 pixels, 2 channels
    expect(channelStats(images, 2)).toEqual({
      mean: [0.5, 25 / 255],
      std: [0.5, expect.any(Number)],
    });
    const s = channelStats(images, 2).std[1]!;
    // Channel 1: 10, 20, 30, 40 → mean 25, population std √125.
    expect(s * 255).toBeCloseTo(Math.sqrt(125), 10);
    const ds = createDataset({
      name: 'two',
      inputShape: [2, 1, 2],
      classes: 2,
      train: { images, labels: Uint8Array.from([0, 1]), count: 2 },
      test: { images, labels: Uint8Array.from([0, 1]), count: 2 },
    });
    expect(ds.mean).toEqual([0.5, 25 / 255]);
    expect(() =>
      createDataset({
        name: 'bad',
        inputShape: [2, 1, 2],
        classes: 2,
        train: { images, labels: Uint8Array.from([0, 2]), count: 2 },
        test: { images, labels: Uint8Array.from([0, 1]), count: 2 },
      }),
    ).toThrow("data set 'bad': train.labels[1] is 2, expected a class in [0, 2)");
  });
});

describe('augmentation: random crop with zero padding, then horizontal flip', () => {
  // 3×3 image, one channel; the identity table maps byte v to v.
  const image = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const identity = Float32Array.from({ length: 256 }, (_, v) => v);
  const crop = (offsetY: number, offsetX: number, flip: boolean) => {
    const out = new Float32Array(9);
    writeAugmented(image, 0, [3, 3, 1], 1, offsetY, offsetX, flip, identity, out, 0);
    return Array.from(out);
  };

  it('crops a window of the zero-padded image at (offsetY, offsetX), then mirrors it', () => {
    expect(crop(1, 1, false)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(crop(0, 0, false)).toEqual([0, 0, 0, 0, 1, 2, 0, 4, 5]);
    expect(crop(2, 2, false)).toEqual([5, 6, 0, 8, 9, 0, 0, 0, 0]);
    expect(crop(1, 1, true)).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7]);
    // Crop at row 0, column 2 → [[0,0,0],[2,3,0],[5,6,0]], then mirrored.
    expect(crop(0, 2, true)).toEqual([0, 0, 0, 0, 3, 2, 0, 6, 5]);
  });

  /** Independent reference: pad with byte 0, crop, flip, normalise. */
  function reference(
    src: Uint8Array,
    [h, w, c]: [number, number, number],
    pad: number,
    oy: number,
    ox: number,
    flip: boolean,
    norm: (v: number, ch: number) => number,
  ): number[] {
    const ph = h + 2 * pad;
    const pw = w + 2 * pad;
    const padded = new Uint8Array(ph * pw * c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++)
          padded[((y + pad) * pw + x + pad) * c + ch] = src[(y * w + x) * c + ch]!;
      }
    }
    const out: number[] = [];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const cx = flip ? w - 1 - x : x;
        for (let ch = 0; ch < c; ch++)
          out.push(norm(padded[((y + oy) * pw + cx + ox) * c + ch]!, ch));
      }
    }
    return out;
  }

  it('augments each training example with its own seeded crop and flip; shapes and test data untouched', () => {
    const b = createReferenceBackend();
    const shape: [number, number, number] = [5, 4, 3];
    const rng = new Random(5);
    const count = 24;
    const images = Uint8Array.from({ length: count * 60 }, () => rng.int(256));
    const ds = createDataset({
      name: 'rgb',
      inputShape: shape,
      classes: 3,
      train: { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 3), count },
      test: { images: images.subarray(0, 120), labels: Uint8Array.from([0, 1]), count: 2 },
      mean: [0.4, 0.5, 0.6],
      std: [0.2, 0.25, 0.3],
    });
    const norm = (v: number, ch: number) => Math.fround((v / 255 - ds.mean[ch]!) / ds.std[ch]!);
    const options = { batchSize: 5, seed: 11, augment: { padding: 2 } };
    const data = createTrainData(b, ds, options);
    const run = (epoch: number) => {
      const xs: number[][] = [];
      for (const batch of data.trainBatches(epoch)) {
        expect(batch.x.shape.slice(1)).toEqual(shape);
        const x = b.readSync(batch.x);
        for (let r = 0; r < batch.x.shape[0]!; r++)
          xs.push(Array.from(x.subarray(r * 60, (r + 1) * 60)));
        b.dispose([batch.x, batch.y]);
      }
      return xs;
    };
    for (const epoch of [0, 3]) {
      const xs = run(epoch);
      const order = data.trainOrder(epoch);
      const aug = data.augmentation(epoch)!;
      expect(aug).toEqual(augmentationParams(count, 11, epoch, { padding: 2 }));
      xs.forEach((x, pos) => {
        const i = order[pos]!;
        expect(x).toEqual(
          reference(
            images.subarray(i * 60, (i + 1) * 60),
            shape,
            2,
            aug.offsetY[pos]!,
            aug.offsetX[pos]!,
            aug.flip[pos] === 1,
            norm,
          ),
        );
      });
      // Same (seed, epoch), same batches, from a fresh object.
      const again = createTrainData(b, ds, options);
      expect(again.augmentation(epoch)).toEqual(aug);
    }
    expect(data.augmentation(0)).not.toEqual(data.augmentation(1));
    // Test batches are never augmented.
    const [test] = [...data.testBatches()];
    expect(Array.from(b.readSync(test!.x))).toEqual(
      Array.from(images.subarray(0, 120), (v, k) => norm(v, k % 3)),
    );
  });

  it('draws every offset in [0, 2·padding] and flips about half the images', () => {
    const p = augmentationParams(4000, 3, 0);
    expect(p.padding).toBe(4);
    expect(new Set(p.offsetY)).toEqual(new Set(range(9)));
    expect(new Set(p.offsetX)).toEqual(new Set(range(9)));
    const flips = p.flip.reduce((a, f) => a + f, 0);
    expect(flips).toBeGreaterThan(1800);
    expect(flips).toBeLessThan(2200);
    const noFlip = augmentationParams(100, 3, 0, { padding: 0, flip: false });
    expect(new Set(noFlip.offsetY)).toEqual(new Set([0]));
    expect(noFlip.flip.every((f) => f === 0)).toBe(true);
  });
});

describe('with core’s Trainer', () => {
  /** Logistic regression on 4×4×1 images. */
  function linear(b: Backend): TrainableModel {
    const rng = new Random(1);
    const v = (name: string, values: Float32Array, shape: number[]): Variable =>
      b.tidy(() => b.variable(b.tensor(values, shape), { name }));
    const w = v('fc/kernel', rng.normalArray(16 * 3, 0, 0.1), [16, 3]);
    const bias = v('fc/bias', new Float32Array(3), [3]);
    return {
      variables: [w, bias],
      decayVariables: [w],
      quantizers: [],
      weightCount: 16 * 3 + 3,
      forward: (x) => b.tidy(() => b.add(b.matMul(b.reshape(x, [-1, 16]), w), bias)),
    };
  }

  it('resumes bit for bit: shuffling and augmentation depend only on (seed, epoch)', async () => {
    const ds = tagged(40, [4, 4, 1], 3);
    const options = {
      learningRate: { kind: 'constant' as const, initial: 0.05 },
      optimizer: { momentum: 0.9, weightDecay: 1e-4, nesterov: false },
      epochs: 4,
    };
    const dataOptions = { batchSize: 6, seed: 5, augment: { padding: 1 } };
    const straight = createReferenceBackend();
    const full = await train(
      straight,
      linear(straight),
      createTrainData(straight, ds, dataOptions),
      options,
    );

    const first = createReferenceBackend();
    let saved: Checkpoint | undefined;
    await train(first, linear(first), createTrainData(first, ds, dataOptions), {
      ...options,
      onEvent: (e) => {
        if (e.type === 'checkpoint' && e.checkpoint.epoch === 2)
          saved = structuredClone(e.checkpoint);
      },
      shouldStop: () => saved !== undefined,
    });
    expect(saved?.epoch).toBe(2);
    const second = createReferenceBackend();
    const resumed = await train(second, linear(second), createTrainData(second, ds, dataOptions), {
      ...options,
      resume: saved!,
    });
    expect(resumed.checkpoint.step).toBe(full.checkpoint.step);
    expect(resumed.checkpoint.variables).toEqual(full.checkpoint.variables);
  });
});

describe('browser safety', () => {
  it('keeps the pure modules (browser.ts and the modules it exports) free of Node imports', async () => {
    const dir = join(import.meta.dirname, '..', 'src', 'data');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const f of files) {
      const text = await readFile(join(dir, f), 'utf8');
      const imports = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      const bad = imports.filter(
        (m) => m.startsWith('node:') || m.includes('/node/') || /^(fs|path|os|zlib)$/.test(m),
      );
      expect(bad, f).toEqual([]);
      expect(text, f).not.toMatch(/\bprocess\.|\bBuffer\b|\brequire\(/);
    }
  });
});
