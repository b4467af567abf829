import { setBackend, tensor as tfTensor, transpose } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isTrainingKernelRegistered } from '../../src/kernels/index.js';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

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
  beforeAll(async () => {
    await setUpKernels();
    await setBackend('cpu');
  });

  it('is registered on cpu', () => {
    expect(isTrainingKernelRegistered('Transpose', 'cpu')).toBe(true);
  });

  it.each(cases.map(([s, p]) => [`[${s}] by [${p}]`, s, p] as const))('%s', (_, shape, perm) => {
    const x = tensor(random(shape.length), shape);
    expectClose(
      runKernelOn('cpu', 'Transpose', { x }, { perm }),
      runKernelOn('cpu', stock('Transpose'), { x }, { perm }),
      0,
    );
  });

  it('keeps int32 and bool dtypes', () => {
    const i = transpose(
      tfTensor(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [2, 3],
        'int32',
      ),
    );
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
