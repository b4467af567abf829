import { slice } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { int32Matrix, itEqualsStock, itIsRegistered, setUpKernels, xOfShape } from './helpers.js';

const cases: [number[], number[], number[]][] = [
  [[7], [2], [4]],
  [
    [16, 9, 9, 8],
    [0, 0, 0, 0],
    [16, 8, 8, 8],
  ], // the crop of a conv gradient
  [
    [2, 9, 8, 5],
    [1, 2, 3, 1],
    [1, 5, 4, 3],
  ],
  [
    [2, 9, 8, 5],
    [0, 1, 0, 0],
    [-1, -1, 8, -1],
  ],
  [
    [3, 4],
    [1, 0],
    [0, 4],
  ],
];

describe("Slice: ours on cpu equals tfjs' stock cpu kernel", () => {
  beforeAll(setUpKernels);

  itIsRegistered('Slice', ['cpu']);

  itEqualsStock({
    kernel: 'Slice',
    backends: ['cpu'],
    cases,
    name: ([s, b, z]) => `[${s}] from [${b}] size [${z}]`,
    call: ([shape, begin, size]) => ({ inputs: xOfShape(shape), attrs: { begin, size } }),
    rtol: 0,
  });

  it('keeps the dtype', () => {
    const s = slice(int32Matrix(), [0, 1], [2, 2]);
    expect(s.dtype).toBe('int32');
    expect(s.arraySync()).toEqual([
      [2, 3],
      [5, 6],
    ]);
  });
});
