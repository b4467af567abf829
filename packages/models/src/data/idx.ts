import { DatasetError } from './errors.js';

/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian
 * magic number `0x0000TTDD` (TT = 0x08 for unsigned bytes, DD = the number of dimensions), DD
 * big-endian uint32 sizes, then the values row-major. Pure functions over bytes, so a browser can
 * parse files it fetched.
 */

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

function readIdx(
  bytes: Uint8Array,
  source: string,
  dims: number,
  what: string,
): { shape: number[]; data: Uint8Array } {
  const header = 4 + 4 * dims;
  const expectedMagic = 0x0800 + dims;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new DatasetError(
      'bad-format',
      source,
      `${source} is gzip-compressed; name it with a .gz extension (it is then decompressed on load) or gunzip it`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The magic first: a file of the wrong kind is reported as such, whatever its length.
  const magic = bytes.length >= 4 ? view.getUint32(0, false) : null;
  if (magic !== null && magic !== expectedMagic) {
    throw new DatasetError(
      'bad-format',
      source,
      `${source}: IDX magic number ${hex(magic)}, expected ${hex(expectedMagic)} (unsigned bytes, ${dims} dimension${dims === 1 ? '' : 's'}: ${what})`,
    );
  }
  if (bytes.length < header) {
    throw new DatasetError(
      'truncated',
      source,
      `${source} is truncated: ${bytes.length} bytes, too short for the ${header}-byte IDX header of ${what}`,
    );
  }
  const shape: number[] = [];
  for (let d = 0; d < dims; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const size = shape.reduce((a, b) => a * b, 1);
  const expected = header + size;
  if (bytes.length !== expected) {
    throw new DatasetError(
      bytes.length < expected ? 'truncated' : 'wrong-size',
      source,
      `${source} ${bytes.length < expected ? 'is truncated' : 'is too long'}: ${bytes.length} bytes, expected ${header} + ${shape.join(' × ')} = ${expected} for its header's ${what} [${shape.join(', ')}]`,
    );
  }
  return { shape, data: bytes.subarray(header, expected) };
}

/** Parses an IDX image file (magic 0x00000803): `count` images of `height × width` bytes. */
export function parseIdxImages(
  bytes: Uint8Array,
  source: string,
  expected?: { height: number; width: number },
): { count: number; height: number; width: number; images: Uint8Array } {
  const { shape, data } = readIdx(bytes, source, 3, 'images [count, rows, columns]');
  const [count, height, width] = shape as [number, number, number];
  if (expected && (height !== expected.height || width !== expected.width)) {
    throw new DatasetError(
      'bad-format',
      source,
      `${source}: images are ${height}×${width}, expected ${expected.height}×${expected.width}`,
    );
  }
  return { count, height, width, images: data };
}

/** Parses an IDX label file (magic 0x00000801); every label must be below `classes`. */
export function parseIdxLabels(bytes: Uint8Array, source: string, classes: number): Uint8Array {
  const { data } = readIdx(bytes, source, 1, 'labels [count]');
  const bad = data.findIndex((l) => l >= classes);
  if (bad >= 0) {
    throw new DatasetError(
      'bad-format',
      source,
      `${source}: label ${bad} is ${data[bad]}, expected a class in [0, ${classes})`,
    );
  }
  return data;
}
