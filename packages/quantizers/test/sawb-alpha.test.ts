import { Random } from '@dqa/core';
import { describe, expect, it } from 'vitest';
import { sawbAlpha, sawbMse } from '../src/index.js';
import { sawbAlphaSweep } from './sawb-sweep-oracle.js';

// sawbAlpha's branch and bound against the full breakpoint sweep it replaced: both claim the
// global minimum of the MSE, so each one's α* must be at least as good as the other's, up to
// float64 rounding (the two find it by different sums; ties between pieces may pick either α).

const rng = new Random(11);
const sign = () => (rng.uniform() < 0.5 ? -1 : 1);
const draws: Record<string, (n: number) => Float32Array> = {
  gaussian: (n) => rng.normalArray(n, 0.3 * rng.normal(), Math.exp(2 * rng.normal())),
  uniform: (n) => rng.uniformArray(n, -1, 2),
  laplace: (n) => Float32Array.from({ length: n }, () => sign() * -Math.log(1 - rng.uniform())),
  heavy: (n) => Float32Array.from({ length: n }, () => rng.normal() ** 5),
  cauchy: (n) => Float32Array.from({ length: n }, () => Math.tan(Math.PI * (rng.uniform() - 0.5))),
  zeros: (n) => Float32Array.from({ length: n }, () => (rng.uniform() < 0.4 ? 0 : rng.normal())),
  duplicates: (n) => Float32Array.from({ length: n }, () => Math.round(3 * rng.normal()) / 3),
  'four values': (n) => Float32Array.from({ length: n }, () => [0.5, -1, 2, 0.25][rng.int(4)]!),
  '1e-30 … 1e3': (n) =>
    Float32Array.from({ length: n }, () => sign() * 10 ** (33 * rng.uniform() - 30)),
};
/** Tiny tensors, per-channel group sizes (3·3·C_in, dense fan-ins) and one larger tensor. */
const sizes = [1, 2, 3, 4, 5, 9, 27, 64, 288, 576, 1152];

function meanSquare(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return x.length ? s / x.length : 0;
}

/** Both α* reach the same MSE within 10⁻¹² of E[x²]; returns that MSE and the tolerance. */
function expectSameOptimum(x: Float32Array, bits: number, label: string) {
  const fast = sawbMse(x, bits, sawbAlpha(x, bits));
  const sweep = sawbMse(x, bits, sawbAlphaSweep(x, bits));
  const tol = 1e-12 * meanSquare(x);
  expect(fast, label).toBeLessThanOrEqual(sweep + tol);
  expect(sweep, label).toBeLessThanOrEqual(fast + tol);
  return { mse: sweep, tol };
}

describe('sawbAlpha finds the full sweep’s optimum', () => {
  for (const [name, draw] of Object.entries(draws)) {
    it(`${name}: sizes 1 … 1152, bits 1 … 8`, () => {
      for (const n of sizes)
        for (let bits = 1; bits <= 8; bits++)
          for (let trial = 0; trial < (n <= 5 ? 8 : 1); trial++)
            expectSameOptimum(draw(n), bits, `${name}, ${n} values, ${bits} bits`);
    });
  }

  it('5000 values at 2, 4 and 8 bits, as a whole tensor is calibrated', () => {
    for (const draw of [draws.gaussian!, draws.laplace!, draws.zeros!, draws.duplicates!])
      for (const bits of [2, 4, 8]) expectSameOptimum(draw(5000), bits, `${bits} bits`);
  });

  it('the comparison is sharp: α* off by 10⁻⁴ of itself fails it', () => {
    const x = rng.normalArray(5000);
    for (const bits of [2, 4, 8]) {
      const { mse, tol } = expectSameOptimum(x, bits, `${bits} bits`);
      const alpha = sawbAlpha(x, bits);
      for (const off of [1 - 1e-4, 1 + 1e-4])
        expect(sawbMse(x, bits, alpha * off)).toBeGreaterThan(mse + tol);
    }
  });

  it('degenerate inputs: empty, all zero, one value, one bit', () => {
    expect(sawbAlpha([], 4)).toBe(0);
    expect(sawbAlpha(new Float32Array(300), 8)).toBe(0);
    expect(sawbAlpha([0, -0, 0], 2)).toBe(0);
    // One value sits exactly on a level (x = α·(2m+1)/(L−1) for some code m): no error.
    for (let bits = 1; bits <= 8; bits++) {
      const alpha = sawbAlpha([-0.7], bits);
      expect(sawbMse([-0.7], bits, alpha), `${bits} bits`).toBeLessThan(1e-14);
    }
    // One bit: levels ±α, α* = mean |x|.
    const x = rng.normalArray(1000);
    let meanAbs = 0;
    for (const v of x) meanAbs += Math.abs(v);
    expect(sawbAlpha(x, 1)).toBeCloseTo(meanAbs / x.length, 12);
  });

  it('the same α* from a Float32Array (radix sort) and from plain numbers (Array#sort)', () => {
    for (const draw of [draws.gaussian!, draws.zeros!, draws['1e-30 … 1e3']!]) {
      const x = draw(3000);
      for (const bits of [3, 8]) expect(sawbAlpha(Array.from(x), bits)).toBe(sawbAlpha(x, bits));
    }
  });
});
