import { beforeAll, describe } from 'vitest';
import { itEqualsStock, setUpKernels, xOfShape } from './helpers.js';

const cases: [number[], number | number[], boolean][] = [
  [[2, 9, 8, 5], [0, 1, 2], false], // batch norm's moments
  [[2, 9, 8, 5], [0, 1, 2], true],
  [[2, 9, 8, 5], [1, 2], true], // global average pooling
  [[2, 3, 4], [-1], false],
  [[3, 4], [0, 1], false],
  [[6], 0, false],
];

describe("Mean: ours on cpu and wasm equals tfjs' stock cpu kernel", () => {
  beforeAll(setUpKernels);

  itEqualsStock({
    kernel: 'Mean',
    backends: ['cpu', 'wasm'],
    cases,
    name: ([s, a, k]) => `[${s}] over ${a}${k ? ' keepDims' : ''}`,
    call: ([shape, axis, keepDims]) => ({ inputs: xOfShape(shape), attrs: { axis, keepDims } }),
    rtol: 1e-5,
  });
});
