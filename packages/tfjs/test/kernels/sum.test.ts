import { sum, tensor as tfTensor } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { int32Matrix, itEqualsStock, itIsRegistered, setUpKernels, xOfShape } from './helpers.js';

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
  beforeAll(setUpKernels);

  itIsRegistered('Sum', ['cpu', 'wasm']);

  itEqualsStock({
    kernel: 'Sum',
    backends: ['cpu', 'wasm'],
    cases,
    name: ([s, a, k]) => `[${s}] over ${a}${k ? ' keepDims' : ''}`,
    call: ([shape, axis, keepDims]) => ({ inputs: xOfShape(shape), attrs: { axis, keepDims } }),
    rtol: 1e-6,
  });

  it('sums int32 as int32 and bool (through the stock kernel) as int32', () => {
    const i = sum(int32Matrix(), 0);
    expect(i.dtype).toBe('int32');
    expect(i.arraySync()).toEqual([5, 7, 9]);
    const b = sum(tfTensor([true, false, true], [3], 'bool'));
    expect(b.dtype).toBe('int32');
    expect(b.arraySync()).toBe(2);
  });
});
