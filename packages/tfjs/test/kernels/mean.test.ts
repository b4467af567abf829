import { beforeAll, describe, it } from 'vitest';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

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

  it.each(cases.map(([s, a, k]) => [`[${s}] over ${a}${k ? ' keepDims' : ''}`, s, a, k] as const))(
    '%s',
    (_, shape, axis, keepDims) => {
      const x = tensor(random(shape.length), shape);
      const expected = runKernelOn('cpu', stock('Mean'), { x }, { axis, keepDims });
      expectClose(runKernelOn('cpu', 'Mean', { x }, { axis, keepDims }), expected, 1e-5);
      expectClose(runKernelOn('wasm', 'Mean', { x }, { axis, keepDims }), expected, 1e-5);
    },
  );
});
