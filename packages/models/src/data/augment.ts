import { ArgumentError, Random } from '@dqa/core';
import { epochSeed, RANDOM_STREAM } from './shuffle.js';

/**
 * CIFAR augmentation as in the ResNet paper and torchvision's `RandomCrop(32, padding=4)` followed
 * by `RandomHorizontalFlip()`: pad the image with black (pixel byte 0, before normalisation) on
 * every side, crop a window of the original size at a random offset, then mirror it left–right
 * with probability ½.
 */
export interface AugmentOptions {
  /** Zero padding on each side before the random crop; default 4. 0 disables cropping. */
  padding?: number;
  /** Random horizontal flip; default true. */
  flip?: boolean;
}

/** The random choices of one epoch's augmentation, one entry per position in the epoch's order. */
export interface AugmentParams {
  readonly padding: number;
  /** Row of the crop window in the padded image, in [0, 2·padding]. */
  readonly offsetY: Uint8Array;
  /** Column of the crop window in the padded image, in [0, 2·padding]. */
  readonly offsetX: Uint8Array;
  /** 1 where the crop is mirrored left–right. */
  readonly flip: Uint8Array;
}

/** Fills in the defaults (padding 4, flip on) and checks the options. */
export function resolveAugmentOptions(o: AugmentOptions = {}): Required<AugmentOptions> {
  const padding = o.padding ?? 4;
  if (!(Number.isInteger(padding) && padding >= 0 && padding <= 127)) {
    throw new ArgumentError(`augment.padding must be an integer in [0, 127], got ${padding}`);
  }
  return { padding, flip: o.flip ?? true };
}

/**
 * The augmentation choices for the `count` positions of an epoch, drawn from a generator seeded
 * from (seed, epoch) alone (a stream separate from the shuffle's): per position, in order, the
 * crop row and column (`Random.int(2·padding + 1)` each, when padding > 0) and the flip
 * (`Random.uniform() < 0.5`, when flipping is on).
 */
export function augmentationParams(
  count: number,
  seed: number,
  epoch: number,
  options: AugmentOptions = {},
): AugmentParams {
  const { padding, flip } = resolveAugmentOptions(options);
  const rng = new Random(epochSeed(seed, epoch, RANDOM_STREAM.augment));
  const offsetY = new Uint8Array(count).fill(padding);
  const offsetX = new Uint8Array(count).fill(padding);
  const flips = new Uint8Array(count);
  const span = 2 * padding + 1;
  for (let i = 0; i < count; i++) {
    if (padding > 0) {
      offsetY[i] = rng.int(span);
      offsetX[i] = rng.int(span);
    }
    if (flip) flips[i] = rng.uniform() < 0.5 ? 1 : 0;
  }
  return { padding, offsetY, offsetX, flip: flips };
}

/**
 * A lookup table from (channel, byte) to the normalised input `(byte / 255 − mean[c]) / std[c]`,
 * at index `c · 256 + byte`: one table read per value when batches are assembled.
 */
export function normalizationTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const lut = new Float32Array(mean.length * 256);
  for (let c = 0; c < mean.length; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean[c]!) / std[c]!;
  }
  return lut;
}

/** Writes one normalised image (`h · w · c` values from `src[srcOffset…]`) to `out[outOffset…]`. */
export function writeNormalized(
  src: Uint8Array,
  srcOffset: number,
  size: number,
  channels: number,
  lut: Float32Array,
  out: Float32Array,
  outOffset: number,
): void {
  if (channels === 1) {
    for (let i = 0; i < size; i++) out[outOffset + i] = lut[src[srcOffset + i]!]!;
  } else if (channels === 3) {
    for (let i = 0; i < size; i += 3) {
      out[outOffset + i] = lut[src[srcOffset + i]!]!;
      out[outOffset + i + 1] = lut[256 + src[srcOffset + i + 1]!]!;
      out[outOffset + i + 2] = lut[512 + src[srcOffset + i + 2]!]!;
    }
  } else {
    for (let i = 0; i < size; i++) {
      out[outOffset + i] = lut[(i % channels) * 256 + src[srcOffset + i]!]!;
    }
  }
}

/**
 * Writes one augmented, normalised image: output pixel (y, x) is padded pixel
 * (y + offsetY, x' + offsetX) with x' = w − 1 − x when flipped, else x; padded pixel (Y, X) is
 * source pixel (Y − padding, X − padding), or byte 0 outside the source.
 */
export function writeAugmented(
  src: Uint8Array,
  srcOffset: number,
  shape: readonly [number, number, number],
  padding: number,
  offsetY: number,
  offsetX: number,
  flip: boolean,
  lut: Float32Array,
  out: Float32Array,
  outOffset: number,
): void {
  const [h, w, c] = shape;
  const dy = offsetY - padding;
  const dx = offsetX - padding;
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    const rowOut = outOffset + y * w * c;
    if (sy < 0 || sy >= h) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) out[rowOut + x * c + ch] = lut[ch * 256]!;
      }
      continue;
    }
    const rowIn = srcOffset + sy * w * c;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + dx;
      const o = rowOut + x * c;
      if (sx < 0 || sx >= w) {
        for (let ch = 0; ch < c; ch++) out[o + ch] = lut[ch * 256]!;
      } else {
        const i = rowIn + sx * c;
        for (let ch = 0; ch < c; ch++) out[o + ch] = lut[ch * 256 + src[i + ch]!]!;
      }
    }
  }
}
