import { tensor as tfTensor, transpose } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { int32Matrix, itEqualsStock, itIsRegistered, setUpKernels, xOfShape } from './helpers.js';

const cases: [number[], number[]][] = [
  [[5], [0]],
  [
    [3, 4],
    [1, 0],
  ],
  [
    [2, 3, 4],
    [2, 0, 1],
  ],
  [
    [2, 9, 8, 3],
    [3, 1, 2, 0],
  ],
  [
    [2, 9, 8, 3],
    [1, 2, 0, 3],
  ],
  [
    [2, 3, 1, 4, 5],
    [4, 2, 0, 3, 1],
  ],
  [
    [2, 0, 3],
    [2, 1, 0],
  ],
];

describe("Transpose: ours on cpu equals tfjs' stock cpu kernel", () => {
  beforeAll(setUpKernels);

  itIsRegistered('Transpose', ['cpu']);

  itEqualsStock({
    kernel: 'Transpose',
    backends: ['cpu'],
    cases,
    name: ([s, p]) => `[${s}] by [${p}]`,
    call: ([shape, perm]) => ({ inputs: xOfShape(shape), attrs: { perm } }),
    rtol: 0,
  });

  it('keeps int32 and bool dtypes', () => {
    const i = transpose(int32Matrix());
    expect(i.dtype).toBe('int32');
    expect(i.arraySync()).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    const b = transpose(tfTensor([[true, false]], [1, 2], 'bool'));
    expect(b.dtype).toBe('bool');
    expect(b.arraySync()).toEqual([[1], [0]]);
  });
});
