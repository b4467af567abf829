import { beforeAll, describe } from 'vitest';
import { itEqualsStock, itIsRegistered, random, setUpKernels, tensor } from './helpers.js';

const NAME = 'BatchMatMul';

// [a shape, b shape, transposeA, transposeB]: a dense layer's three products, rank 3 with
// batch 1, and batched products (which keep wasm's stock kernel).
const cases: [number[], number[], boolean, boolean][] = [
  [[6, 7], [7, 5], false, false],
  [[7, 6], [7, 5], true, false],
  [[6, 7], [5, 7], false, true],
  [[7, 6], [5, 7], true, true],
  [[1, 7, 6], [1, 5, 7], true, true],
  [[1, 6, 7], [5, 7], false, true],
  [[3, 7, 6], [3, 7, 5], true, false],
];

describe(`${NAME}: ours on wasm equals tfjs' stock cpu kernel`, () => {
  beforeAll(setUpKernels);

  itIsRegistered(NAME, ['wasm']);

  itEqualsStock({
    kernel: NAME,
    backends: ['wasm'],
    cases,
    name: ([sa, sb, ta, tb]) => `[${sa}]${ta ? 'ᵀ' : ''} · [${sb}]${tb ? 'ᵀ' : ''}`,
    call: ([aShape, bShape, transposeA, transposeB], i) => {
      const r = random(10 + i);
      const a = tensor(r, aShape);
      const b = tensor(r, bShape);
      return { inputs: { a, b }, attrs: { transposeA, transposeB } };
    },
  });
});
