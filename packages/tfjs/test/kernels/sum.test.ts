import { setBackend, sum, tensor as tfTensor } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { isTrainingKernelRegistered } from '../../src/kernels/index.js';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

const cases: [number[], number | number[], boolean][] = [
  [[7], 0, false],
  [[3, 4], 1, false],
  [[3, 4], 0, true],
  [[2, 9, 8, 5], [0, 1, 2], false], // a conv bias gradient
  [[2, 9, 8, 5], [1, 3], true],
  [[2, 3, 4], [-1, 0], false],
  [[2, 3, 4], [], false],
  [[4, 5], [0, 1], false],
];

describe("Sum: ours on cpu and wasm equals tfjs' stock cpu kernel", () => {
  beforeAll(async () => {
    await setUpKernels();
    await setBackend('cpu');
  });

  it('is registered on cpu and wasm', () => {
    expect(isTrainingKernelRegistered('Sum', 'cpu')).toBe(true);
    expect(isTrainingKernelRegistered('Sum', 'wasm')).toBe(true);
  });

  it.each(cases.map(([s, a, k]) => [`[${s}] over ${a}${k ? ' keepDims' : ''}`, s, a, k] as const))(
    '%s',
    (_, shape, axis, keepDims) => {
      const x = tensor(random(shape.length), shape);
      const expected = runKernelOn('cpu', stock('Sum'), { x }, { axis, keepDims });
      expectClose(runKernelOn('cpu', 'Sum', { x }, { axis, keepDims }), expected, 1e-6);
      expectClose(runKernelOn('wasm', 'Sum', { x }, { axis, keepDims }), expected, 1e-6);
    },
  );

  it('sums int32 as int32 and bool (through the stock kernel) as int32', () => {
    const i = sum(
      tfTensor(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [2, 3],
        'int32',
      ),
      0,
    );
    expect(i.dtype).toBe('int32');
    expect(i.arraySync()).toEqual([5, 7, 9]);
    const b = sum(tfTensor([true, false, true], [3], 'bool'));
    expect(b.dtype).toBe('int32');
    expect(b.arraySync()).toBe(2);
  });
});
