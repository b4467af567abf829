import { beforeAll, describe } from 'vitest';
import {
  type HostTensor,
  itEqualsStock,
  type Pad,
  random,
  runKernelOn,
  setUpKernels,
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

  itEqualsStock({
    kernel: NAME,
    backends: ['wasm', 'cpu'],
    cases: grid,
    name: (c) => JSON.stringify(c),
    call: (c, i) => {
      const attrs = {
        filterSize: c.filterSize,
        strides: c.strides,
        pad: c.pad,
        dimRoundingMode: c.dimRoundingMode,
      };
      const input = tiedInput(100 + i, c.xShape);
      const output = runKernelOn('cpu', 'MaxPool', { x: input }, attrs);
      const dy = tensor(random(200 + i), output.shape);
      return { inputs: { dy, input, output }, attrs };
    },
    rtol: 1e-6,
  });
});
