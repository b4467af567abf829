import { beforeAll, describe } from 'vitest';
import { itEqualsStock, setUpKernels, xOfShape } from './helpers.js';

const cases: [number[], number[]][] = [
  [[5], [3]],
  [
    [1, 1, 1, 6],
    [2, 4, 3, 1],
  ], // batch norm's gradient: a channel vector to an activation
  [
    [2, 3],
    [2, 1],
  ],
  [
    [2, 3],
    [1, 3],
  ],
  [
    [2, 3, 4],
    [3, 2, 2],
  ],
  [
    [3, 1, 2, 1, 2],
    [1, 2, 2, 3, 1],
  ],
  [
    [2, 3],
    [0, 2],
  ],
];

describe("Tile: ours on wasm and cpu equals tfjs' stock cpu kernel", () => {
  beforeAll(setUpKernels);

  itEqualsStock({
    kernel: 'Tile',
    backends: ['cpu', 'wasm'],
    cases,
    name: ([s, r]) => `[${s}] × [${r}]`,
    call: ([shape, reps]) => ({ inputs: xOfShape(shape), attrs: { reps } }),
    rtol: 0,
  });
});
