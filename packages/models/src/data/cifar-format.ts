import { DatasetError } from './errors.js';

/**
 * The binary versions of CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html):
 * fixed-size records of label byte(s) followed by a 32×32 colour image stored as three planes
 * (all 1024 red bytes row-major, then green, then blue). Pure functions over bytes.
 */

export const CIFAR_IMAGE_BYTES = 32 * 32 * 3;

export interface CifarRecordFormat {
  /** `cifar10` or `cifar100`, for messages. */
  readonly name: string;
  /** Label bytes before each image: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, then fine). */
  readonly labelBytes: 1 | 2;
  /** Which label byte is the class: 0 (CIFAR-10) or 1 (CIFAR-100's fine label). */
  readonly labelIndex: 0 | 1;
  /** Upper bound of each label byte, in order (CIFAR-100: 20 coarse, 100 fine). */
  readonly labelRanges: readonly number[];
}

export const CIFAR10_FORMAT: CifarRecordFormat = {
  name: 'cifar10',
  labelBytes: 1,
  labelIndex: 0,
  labelRanges: [10],
};

export const CIFAR100_FORMAT: CifarRecordFormat = {
  name: 'cifar100',
  labelBytes: 2,
  labelIndex: 1,
  labelRanges: [20, 100],
};

/**
 * Decodes CIFAR records to NHWC bytes and class labels: pixel (y, x) of channel c comes from byte
 * `labelBytes + c · 1024 + y · 32 + x` of its record and goes to `((i · 32 + y) · 32 + x) · 3 + c`.
 * `standardCount` (records in a complete official file) only enriches the size error.
 */
export function decodeCifarRecords(
  bytes: Uint8Array,
  source: string,
  format: CifarRecordFormat,
  standardCount?: number,
): { images: Uint8Array; labels: Uint8Array; count: number } {
  const record = format.labelBytes + CIFAR_IMAGE_BYTES;
  const standard =
    standardCount !== undefined
      ? ` (a complete file holds ${standardCount} records: ${standardCount * record} bytes)`
      : '';
  if (bytes.length === 0 || bytes.length % record !== 0) {
    // The nearest whole number of records at or above the size: the file lost its last bytes.
    const whole = Math.max(1, Math.ceil(bytes.length / record));
    throw new DatasetError(
      'truncated',
      source,
      `${source} is truncated: ${bytes.length} bytes is not a whole, non-zero number of ${record}-byte ${format.name} records (${format.labelBytes} label byte${format.labelBytes === 1 ? '' : 's'} + ${CIFAR_IMAGE_BYTES} pixel bytes); expected ${whole * record} bytes for ${whole} record${whole > 1 ? 's' : ''}${standard}`,
    );
  }
  const count = bytes.length / record;
  const images = new Uint8Array(count * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const base = i * record;
    for (let k = 0; k < format.labelBytes; k++) {
      const l = bytes[base + k]!;
      if (l >= format.labelRanges[k]!) {
        throw new DatasetError(
          'bad-format',
          source,
          `${source}: record ${i} (byte ${base + k}) has label ${l}, expected a class in [0, ${format.labelRanges[k]}); is this a ${format.name} file?`,
        );
      }
    }
    labels[i] = bytes[base + format.labelIndex]!;
    const src = base + format.labelBytes;
    const dst = i * CIFAR_IMAGE_BYTES;
    for (let p = 0; p < 1024; p++) {
      const o = dst + 3 * p;
      images[o] = bytes[src + p]!;
      images[o + 1] = bytes[src + 1024 + p]!;
      images[o + 2] = bytes[src + 2048 + p]!;
    }
  }
  return { images, labels, count };
}
