import { beforeAll, describe, it } from 'vitest';
import {
  expectClose,
  type HostTensor,
  type Pad,
  random,
  runKernelOn,
  setUpKernels,
  stock,
  tensor,
} from './helpers.js';

const NAME = 'MaxPoolGrad';

interface PoolCase {
  xShape: number[];
  filterSize: number;
  strides: number;
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const grid: PoolCase[] = [
  { xShape: [2, 8, 10, 5], filterSize: 2, strides: 2, pad: 'valid' }, // the 2×2 fast path
  { xShape: [2, 9, 7, 5], filterSize: 2, strides: 2, pad: 'valid' }, // odd: last row unused
  { xShape: [2, 9, 7, 5], filterSize: 2, strides: 2, pad: 'same' },
  { xShape: [2, 9, 8, 3], filterSize: 3, strides: 2, pad: 'same' },
  { xShape: [2, 9, 8, 3], filterSize: 3, strides: 2, pad: 'valid' },
  { xShape: [1, 6, 6, 4], filterSize: 3, strides: 1, pad: 'same' },
  { xShape: [1, 6, 6, 4], filterSize: 1, strides: 1, pad: 'valid' },
  { xShape: [2, 8, 9, 3], filterSize: 3, strides: 2, pad: 1, dimRoundingMode: 'ceil' },
];

/**
 * Inputs after a ReLU, rounded to a few levels: most windows hold ties (all zeros, or repeated
 * values), where only the first maximum may receive the gradient.
 */
function tiedInput(seed: number, shape: number[]): HostTensor {
  const t = tensor(random(seed), shape);
  t.values = t.values.map((v) => Math.max(0, Math.round(v * 3) / 3));
  return t;
}

describe(`${NAME}: ours on wasm and cpu equal tfjs' stock cpu kernel, ties included`, () => {
  beforeAll(setUpKernels);

  it.each(grid.map((c, i) => [JSON.stringify(c), c, i] as const))('%s', (_, c, i) => {
    const attrs = {
      filterSize: c.filterSize,
      strides: c.strides,
      pad: c.pad,
      dimRoundingMode: c.dimRoundingMode,
    };
    const input = tiedInput(100 + i, c.xShape);
    const output = runKernelOn('cpu', 'MaxPool', { x: input }, attrs);
    const dy = tensor(random(200 + i), output.shape);
    const expected = runKernelOn('cpu', stock(NAME), { dy, input, output }, attrs);
    expectClose(runKernelOn('wasm', NAME, { dy, input, output }, attrs), expected, 1e-6);
    expectClose(runKernelOn('cpu', NAME, { dy, input, output }, attrs), expected, 1e-6);
  });
});
