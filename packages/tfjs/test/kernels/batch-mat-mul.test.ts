import { beforeAll, describe, expect, it } from 'vitest';
import { isTrainingKernelRegistered } from '../../src/kernels/index.js';
import { expectClose, random, runKernelOn, setUpKernels, stock, tensor } from './helpers.js';

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

  it('is registered on wasm', () => {
    expect(isTrainingKernelRegistered(NAME, 'wasm')).toBe(true);
  });

  it.each(
    cases.map(
      ([sa, sb, ta, tb], i) =>
        [`[${sa}]${ta ? 'ᵀ' : ''} · [${sb}]${tb ? 'ᵀ' : ''}`, sa, sb, ta, tb, i] as const,
    ),
  )('%s', (_, aShape, bShape, transposeA, transposeB, i) => {
    const r = random(10 + i);
    const a = tensor(r, aShape);
    const b = tensor(r, bShape);
    const attrs = { transposeA, transposeB };
    const expected = runKernelOn('cpu', stock(NAME), { a, b }, attrs);
    expectClose(runKernelOn('wasm', NAME, { a, b }, attrs), expected);
  });
});
