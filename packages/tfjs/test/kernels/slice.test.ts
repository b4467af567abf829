import { setBackend, slice, tensor as tfTensor } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isTrainingKernelRegistered } from '../../src/kernels/index.js';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

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
  beforeAll(async () => {
    await setUpKernels();
    await setBackend('cpu');
  });

  it('is registered on cpu', () => {
    expect(isTrainingKernelRegistered('Slice', 'cpu')).toBe(true);
  });

  it.each(cases.map(([s, b, z]) => [`[${s}] from [${b}] size [${z}]`, s, b, z] as const))(
    '%s',
    (_, shape, begin, size) => {
      const x = tensor(random(shape.length), shape);
      expectClose(
        runKernelOn('cpu', 'Slice', { x }, { begin, size }),
        runKernelOn('cpu', stock('Slice'), { x }, { begin, size }),
        0,
      );
    },
  );

  it('keeps the dtype', () => {
    const s = slice(
      tfTensor(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [2, 3],
        'int32',
      ),
      [0, 1],
      [2, 2],
    );
    expect(s.dtype).toBe('int32');
    expect(s.arraySync()).toEqual([
      [2, 3],
      [5, 6],
    ]);
  });
});
