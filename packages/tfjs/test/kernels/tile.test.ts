import { beforeAll, describe, it } from 'vitest';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

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

  it.each(cases.map(([s, r]) => [`[${s}] × [${r}]`, s, r] as const))('%s', (_, shape, reps) => {
    const x = tensor(random(shape.length), shape);
    const expected = runKernelOn('cpu', stock('Tile'), { x }, { reps });
    expectClose(runKernelOn('cpu', 'Tile', { x }, { reps }), expected, 0);
    expectClose(runKernelOn('wasm', 'Tile', { x }, { reps }), expected, 0);
  });
});
