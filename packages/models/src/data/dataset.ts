import { ArgumentError } from '@dqa/core';

/**
 * One split of a data set, held in memory as bytes: `count` images in NHWC order (row-major
 * `[count, h, w, c]`, one byte per pixel and channel, 0–255) and one class index per image.
 */
export interface DatasetSplit {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

/** An image classification data set in memory, ready for `createTrainData`. */
export interface Dataset {
  /** `mnist`, `fashion-mnist`, `cifar10`, `cifar100`, or a user's name. */
  readonly name: string;
  /** `[height, width, channels]` of one image. */
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
  /** One name per class, where known. */
  readonly classNames?: readonly string[];
  readonly train: DatasetSplit;
  readonly test: DatasetSplit;
  /**
   * Per-channel mean and standard deviation of the training images in [0, 1] units (pixel / 255);
   * inputs are normalised to `(pixel / 255 − mean[c]) / std[c]`.
   */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface DatasetInit {
  name: string;
  inputShape: readonly [number, number, number];
  classes: number;
  classNames?: readonly string[];
  train: DatasetSplit;
  test: DatasetSplit;
  /** Default: computed from the training images (`channelStats`). */
  mean?: readonly number[];
  std?: readonly number[];
}

/**
 * Checks a data set's sizes and labels and fills in the normalisation statistics. Every loader
 * builds its result through this, and so can user code holding its own images.
 */
export function createDataset(init: DatasetInit): Dataset {
  const { name, inputShape, classes } = init;
  const [h, w, c] = inputShape;
  for (const [key, v] of [
    ['height', h],
    ['width', w],
    ['channels', c],
  ] as const) {
    if (!(Number.isInteger(v) && v > 0)) {
      throw new ArgumentError(
        `data set '${name}': inputShape ${key} must be a positive integer, got ${v}`,
      );
    }
  }
  if (!(Number.isInteger(classes) && classes >= 2 && classes <= 256)) {
    throw new ArgumentError(
      `data set '${name}': classes must be an integer in [2, 256] (labels are bytes), got ${classes}`,
    );
  }
  if (init.classNames && init.classNames.length !== classes) {
    throw new ArgumentError(
      `data set '${name}': ${init.classNames.length} class names for ${classes} classes`,
    );
  }
  checkSplit(name, 'train', init.train, h * w * c, classes);
  checkSplit(name, 'test', init.test, h * w * c, classes);
  const stats =
    init.mean && init.std ? { mean: init.mean, std: init.std } : channelStats(init.train.images, c);
  for (const [key, v] of [
    ['mean', stats.mean],
    ['std', stats.std],
  ] as const) {
    if (v.length !== c) {
      throw new ArgumentError(
        `data set '${name}': ${key} has ${v.length} values for ${c} channels`,
      );
    }
  }
  stats.std.forEach((s, i) => {
    if (!(Number.isFinite(s) && s > 0)) {
      throw new ArgumentError(
        `data set '${name}': std of channel ${i} must be positive and finite, got ${s}`,
      );
    }
  });
  return {
    name,
    inputShape: [h, w, c],
    classes,
    ...(init.classNames ? { classNames: init.classNames } : {}),
    train: init.train,
    test: init.test,
    mean: [...stats.mean],
    std: [...stats.std],
  };
}

function checkSplit(
  name: string,
  split: string,
  s: DatasetSplit,
  pixels: number,
  classes: number,
): void {
  if (!(Number.isInteger(s.count) && s.count >= 0)) {
    throw new ArgumentError(
      `data set '${name}': ${split}.count must be a non-negative integer, got ${s.count}`,
    );
  }
  if (s.images.length !== s.count * pixels) {
    throw new ArgumentError(
      `data set '${name}': ${split}.images holds ${s.images.length} bytes, expected ${s.count} × ${pixels} = ${s.count * pixels}`,
    );
  }
  if (s.labels.length !== s.count) {
    throw new ArgumentError(
      `data set '${name}': ${split}.labels holds ${s.labels.length} labels, expected ${s.count}`,
    );
  }
  const bad = s.labels.findIndex((l) => l >= classes);
  if (bad >= 0) {
    throw new ArgumentError(
      `data set '${name}': ${split}.labels[${bad}] is ${s.labels[bad]}, expected a class in [0, ${classes})`,
    );
  }
}

/**
 * Per-channel mean and (population) standard deviation of NHWC bytes, in [0, 1] units. Exact: a
 * 256-bin histogram per channel, then the moments in float64.
 */
export function channelStats(
  images: Uint8Array,
  channels: number,
): { mean: number[]; std: number[] } {
  if (images.length === 0 || images.length % channels !== 0) {
    throw new ArgumentError(
      `channelStats: ${images.length} bytes are not a non-empty whole number of ${channels}-channel pixels`,
    );
  }
  // Uint32 counts (a typed array holds < 2³² bytes, so no bin overflows). One channel: four
  // histograms taken in turn, so runs of equal bytes (black backgrounds) do not serialise on one
  // counter; they are summed into the first.
  const hist = new Uint32Array(256 * channels);
  if (channels === 1) {
    const h1 = new Uint32Array(256);
    const h2 = new Uint32Array(256);
    const h3 = new Uint32Array(256);
    const n4 = images.length & ~3;
    let i = 0;
    for (; i < n4; i += 4) {
      hist[images[i]!]!++;
      h1[images[i + 1]!]!++;
      h2[images[i + 2]!]!++;
      h3[images[i + 3]!]!++;
    }
    for (; i < images.length; i++) hist[images[i]!]!++;
    for (let v = 0; v < 256; v++) hist[v]! += h1[v]! + h2[v]! + h3[v]!;
  } else {
    for (let i = 0; i < images.length; i += channels) {
      for (let c = 0; c < channels; c++) hist[c * 256 + images[i + c]!]!++;
    }
  }
  const n = images.length / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let s = 0;
    let s2 = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[c * 256 + v]!;
      s += k * v;
      s2 += k * v * v;
    }
    const m = s / n;
    mean.push(m / 255);
    std.push(Math.sqrt(Math.max(0, s2 / n - m * m)) / 255);
  }
  return { mean, std };
}
