import { add, mul, tensor as tfTensor } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { itEqualsStock, itIsRegistered, random, setUpKernels, tensor } from './helpers.js';

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
  beforeAll(setUpKernels);

  for (const name of ['Add', 'Sub', 'Multiply', 'RealDiv']) {
    itIsRegistered(name, ['cpu'], `${name} is registered on cpu`);
    itEqualsStock({
      kernel: name,
      backends: ['cpu'],
      cases: shapes,
      name: ([sa, sb]) => `${name} [${sa}] ∘ [${sb}]`,
      call: ([aShape, bShape], i) => {
        const r = random(i + 1);
        return { inputs: { a: tensor(r, aShape), b: tensor(r, bShape) }, attrs: {} };
      },
      rtol: 0,
    });
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
