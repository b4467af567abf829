import { add, mul, setBackend, tensor as tfTensor } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isTrainingKernelRegistered } from '../../src/kernels/index.js';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

const shapes: [number[], number[]][] = [
  [
    [2, 9, 8, 5],
    [2, 9, 8, 5],
  ],
  [[2, 9, 8, 5], [5]], // bias add, batch norm's x − mean
  [[5], [2, 9, 8, 5]],
  [
    [2, 9, 8, 5],
    [2, 9, 8, 1],
  ],
  [
    [2, 1, 8, 1],
    [1, 9, 1, 5],
  ],
  [[2, 3], []],
  [[], [4]],
  [[3, 0, 2], [2]],
];

describe("Add, Sub, Multiply, RealDiv: ours on cpu equal tfjs' stock cpu kernels", () => {
  beforeAll(async () => {
    await setUpKernels();
    await setBackend('cpu');
  });

  for (const name of ['Add', 'Sub', 'Multiply', 'RealDiv']) {
    it(`${name} is registered on cpu`, () => {
      expect(isTrainingKernelRegistered(name, 'cpu')).toBe(true);
    });
    it.each(shapes.map(([sa, sb], i) => [`${name} [${sa}] ∘ [${sb}]`, sa, sb, i] as const))(
      '%s',
      (_, aShape, bShape, i) => {
        const r = random(i + 1);
        const a = tensor(r, aShape);
        const b = tensor(r, bShape);
        expectClose(
          runKernelOn('cpu', name, { a, b }, {}),
          runKernelOn('cpu', stock(name), { a, b }, {}),
          0,
        );
      },
    );
  }

  it('leaves int32 arithmetic to the stock kernels', () => {
    const s = add(tfTensor([1, 2], [2], 'int32'), tfTensor([3], [1], 'int32'));
    expect(s.dtype).toBe('int32');
    expect(s.arraySync()).toEqual([4, 5]);
    const m = mul(tfTensor([[1], [2]], [2, 1], 'int32'), tfTensor([3, 4], [2], 'int32'));
    expect(m.dtype).toBe('int32');
    expect(m.arraySync()).toEqual([
      [3, 4],
      [6, 8],
    ]);
  });
});
