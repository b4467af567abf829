import { ArgumentError, type Backend, type Batch, type TrainData } from '@dqa/core';
import {
  type AugmentOptions,
  type AugmentParams,
  augmentationParams,
  normalizationTable,
  resolveAugmentOptions,
  writeAugmented,
  writeNormalized,
} from './augment.js';
import type { Dataset, DatasetSplit } from './dataset.js';
import { epochPermutation } from './shuffle.js';

/** The `data` section of a run's configuration, plus the run's seed. */
export interface TrainDataOptions {
  batchSize: number;
  /** Seed of the shuffle and the augmentation (with the epoch). */
  seed: number;
  /** Random crop (zero padding 4) and horizontal flip of training images; default off. */
  augment?: boolean | AugmentOptions;
  /** Use only the first N training examples (all of them when N exceeds the split). */
  limitTrain?: number;
  /** Use only the first N test examples (all of them when N exceeds the split). */
  limitTest?: number;
  /**
   * Drop the last, smaller training batch of each epoch (default false: keep it). With dropLast
   * the examples left out differ per epoch, since the order is shuffled first. Test batches are
   * never dropped.
   */
  dropLast?: boolean;
}

/** Core's `TrainData` over an in-memory data set, plus what was used to build its batches. */
export interface DatasetTrainData extends TrainData {
  readonly dataset: Dataset;
  /** Training examples per epoch (after `limitTrain`). */
  readonly trainCount: number;
  /** Test examples (after `limitTest`). */
  readonly testCount: number;
  readonly testSteps: number;
  /** The order an epoch visits the training examples (indices into the training split). */
  trainOrder(epoch: number): Uint32Array;
  /** The epoch's augmentation choices, one per position of `trainOrder(epoch)`; null when off. */
  augmentation(epoch: number): AugmentParams | null;
}

function positiveInteger(key: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
    throw new ArgumentError(`createTrainData: ${key} must be a positive integer, got ${v}`);
  }
}

/**
 * Batches of a data set for core's Trainer: x `[n, h, w, c]` float32 normalised per channel
 * (`(pixel / 255 − mean[c]) / std[c]`), y `[n, classes]` one-hot float32.
 *
 * - Training batches: each epoch visits the first `limitTrain` examples in an order shuffled with
 *   a generator seeded from (seed, epoch) only (`epochPermutation`), so resuming at an epoch
 *   reproduces it bit for bit; with `augment`, each example gets its own crop and flip drawn from a
 *   second stream seeded from (seed, epoch) (`augmentationParams`). The last batch holds the
 *   remainder (`count mod batchSize` examples) unless `dropLast`.
 * - Test batches: the first `limitTest` examples in stored order, unaugmented, last batch partial.
 *
 * Tensors are created lazily, batch by batch, as the iterables are consumed; the caller (the
 * Trainer, `evaluate`) disposes them.
 */
export function createTrainData(
  b: Backend,
  ds: Dataset,
  options: TrainDataOptions,
): DatasetTrainData {
  const { batchSize, seed } = options;
  positiveInteger('batchSize', batchSize);
  positiveInteger('limitTrain', options.limitTrain);
  positiveInteger('limitTest', options.limitTest);
  if (!Number.isInteger(seed)) {
    throw new ArgumentError(`createTrainData: seed must be an integer, got ${seed}`);
  }
  const augment = options.augment
    ? resolveAugmentOptions(options.augment === true ? {} : options.augment)
    : null;
  const dropLast = options.dropLast ?? false;
  const trainCount = Math.min(options.limitTrain ?? ds.train.count, ds.train.count);
  const testCount = Math.min(options.limitTest ?? ds.test.count, ds.test.count);
  const stepsPerEpoch = dropLast
    ? Math.floor(trainCount / batchSize)
    : Math.ceil(trainCount / batchSize);
  if (stepsPerEpoch === 0) {
    throw new ArgumentError(
      `createTrainData: data set '${ds.name}' has ${trainCount} training examples${options.limitTrain !== undefined ? ` (limitTrain ${options.limitTrain})` : ''}, too few for one ${dropLast ? 'full ' : ''}batch of ${batchSize}`,
    );
  }
  if (testCount === 0) {
    throw new ArgumentError(`createTrainData: data set '${ds.name}' has no test examples`);
  }
  const shape = ds.inputShape;
  const [h, w, c] = shape;
  const pixels = h * w * c;
  const classes = ds.classes;
  const lut = normalizationTable(ds.mean, ds.std);

  /** One batch from `split`: the examples `order[start … start + n)` (identity order if null). */
  function makeBatch(
    split: DatasetSplit,
    order: Uint32Array | null,
    start: number,
    n: number,
    aug: AugmentParams | null,
  ): Batch {
    const x = new Float32Array(n * pixels);
    const y = new Float32Array(n * classes);
    for (let k = 0; k < n; k++) {
      const pos = start + k;
      const i = order ? order[pos]! : pos;
      if (aug) {
        writeAugmented(
          split.images,
          i * pixels,
          shape,
          aug.padding,
          aug.offsetY[pos]!,
          aug.offsetX[pos]!,
          aug.flip[pos] === 1,
          lut,
          x,
          k * pixels,
        );
      } else {
        writeNormalized(split.images, i * pixels, pixels, c, lut, x, k * pixels);
      }
      y[k * classes + split.labels[i]!] = 1;
    }
    return { x: b.tensor(x, [n, h, w, c]), y: b.tensor(y, [n, classes]) };
  }

  const trainOrder = (epoch: number) => epochPermutation(trainCount, seed, epoch);
  const augmentation = (epoch: number) =>
    augment ? augmentationParams(trainCount, seed, epoch, augment) : null;

  return {
    dataset: ds,
    stepsPerEpoch,
    trainCount,
    testCount,
    testSteps: Math.ceil(testCount / batchSize),
    trainOrder,
    augmentation,
    trainBatches(epoch: number): Iterable<Batch> {
      // Validate now, not on the first next(), so a bad epoch fails at the call.
      const order = trainOrder(epoch);
      const aug = augmentation(epoch);
      return (function* () {
        for (let s = 0; s < stepsPerEpoch; s++) {
          const start = s * batchSize;
          yield makeBatch(ds.train, order, start, Math.min(batchSize, trainCount - start), aug);
        }
      })();
    },
    testBatches(): Iterable<Batch> {
      return (function* () {
        for (let start = 0; start < testCount; start += batchSize) {
          yield makeBatch(ds.test, null, start, Math.min(batchSize, testCount - start), null);
        }
      })();
    },
  };
}
