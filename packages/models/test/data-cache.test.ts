import { describe, expect, it } from 'vitest';
import {
  type CachedDataset,
  DATASET_CACHE_HEADER_BYTES,
  decodeDatasetCache,
  encodeDatasetCache,
  fingerprint,
} from '../src/data/index.js';

const data: CachedDataset = {
  inputShape: [2, 3, 1],
  classes: 4,
  train: {
    images: Uint8Array.from({ length: 3 * 6 }, (_, i) => i * 5),
    labels: Uint8Array.from([0, 3, 2]),
    count: 3,
  },
  test: {
    images: Uint8Array.from({ length: 6 }, (_, i) => 200 + i),
    labels: Uint8Array.from([1]),
    count: 1,
  },
};
const print = fingerprint('test-source v1');
const expected = {
  fingerprint: print,
  inputShape: [2, 3, 1] as [number, number, number],
  classes: 4,
};

describe('binary data set cache format', () => {
  it('round-trips a data set: header, then train and test images, then labels', () => {
    const bytes = encodeDatasetCache(data, print);
    expect(bytes.length).toBe(DATASET_CACHE_HEADER_BYTES + 4 * 7);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('DQA-DATA');
    const view = new DataView(bytes.buffer);
    expect([8, 12, 16, 20, 24, 28, 32, 36, 40].map((o) => view.getUint32(o, true))).toEqual([
      1,
      64,
      3,
      1,
      2,
      3,
      1,
      4,
      print,
    ]);
    expect(Array.from(bytes.subarray(64, 64 + 18))).toEqual(Array.from(data.train.images));
    expect(Array.from(bytes.subarray(88))).toEqual([0, 3, 2, 1]);
    const decoded = decodeDatasetCache(bytes, expected);
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(decoded.data).toEqual(data);
  });

  it('explains why a cache cannot be used', () => {
    const good = encodeDatasetCache(data, print);
    const why = (bytes: Uint8Array, exp = expected) => {
      const r = decodeDatasetCache(bytes, exp);
      return r.ok ? 'ok' : r.why;
    };
    const patched = (offset: number, value: number) => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(offset, value, true);
      return b;
    };
    expect(why(good.subarray(0, 40))).toBe('40 bytes, shorter than the 64-byte header');
    expect(why(good.subarray(0, good.length - 1))).toBe(
      '91 bytes, expected 92 for 3 + 1 images of 6 bytes and their labels',
    );
    const magic = good.slice();
    magic[0] = 0x58;
    expect(why(magic)).toBe('magic "XQA-DATA", expected "DQA-DATA"');
    expect(why(patched(8, 2))).toBe('version 2, expected 1');
    expect(why(good, { ...expected, fingerprint: print + 1 })).toBe(
      `it was built from another source (fingerprint ${print}, expected ${print + 1})`,
    );
    expect(why(good, { ...expected, inputShape: [3, 2, 1] })).toBe(
      'it holds 2×3×1 images of 4 classes, expected 3×2×1 and 4',
    );
    const flipped = good.slice();
    flipped[70]! ^= 1;
    expect(why(flipped)).toBe('its checksum does not match its contents');
    // A label out of range behind a valid checksum (written by a buggy encoder).
    const badLabel = encodeDatasetCache(
      { ...data, test: { ...data.test, labels: Uint8Array.from([9]) } },
      print,
    );
    expect(why(badLabel)).toBe('label 9 at 0 is not a class in [0, 4)');
  });
});
