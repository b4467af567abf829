import { NonFiniteInputError, type QuantizerPlugin, Random } from '@dqa/core';
import { describe, expect, it } from 'vitest';
import { builtinQuantizers, quantizers, sawbAlpha, sawbMse } from '../src/index.js';

const rng = new Random(7);
const distributions: Record<string, (n: number) => Float32Array> = {
  normal: (n) => rng.normalArray(n, 0.1, 0.5),
  uniform: (n) => rng.uniformArray(n, -2, 3),
  heavy: (n) => Float32Array.from({ length: n }, () => rng.normal() ** 3),
  relu: (n) => Float32Array.from({ length: n }, () => Math.max(0, rng.normal() * 2)),
};

function bitsOf(p: QuantizerPlugin): number[] {
  return 'values' in p.bits
    ? [...p.bits.values]
    : [1, 2, 3, 4, 8].filter(
        (b) => b >= (p.bits as { min: number }).min && b <= (p.bits as { max: number }).max,
      );
}

const idempotent = new Set(['fp', 'minmax', 'bwn', 'twn', 'pact']);

describe.each(builtinQuantizers.map((p) => [p.id, p] as const))(
  '%s: properties over random inputs',
  (_id, p) => {
    for (const bits of bitsOf(p)) {
      for (const [dist, draw] of Object.entries(distributions)) {
        it(`${bits}-bit on ${dist} inputs`, () => {
          const x = draw(500);
          const params = p.id === 'pact' ? { alpha: 1.5 } : undefined;
          const out = p.reference(x, bits, { params });
          const levels = p.levels(x, bits, { params })[0]!;
          const levelSet = new Set(levels);
          expect(out.length).toBe(x.length);
          if (!p.identity) {
            expect(new Set(out).size).toBeLessThanOrEqual(2 ** bits);
            for (const v of out)
              expect(levelSet.has(v), `${v} is not one of the ${levels.length} levels`).toBe(true);
          }
          if (idempotent.has(p.id)) {
            expect(Array.from(p.reference(out, bits, { params }))).toEqual(Array.from(out));
          }
          // Inside the quantizer's range the error is at most half a step.
          if (['minmax', 'sawb', 'pact'].includes(p.id) && levels.length > 1) {
            const lo = levels[0]!;
            const hi = levels[levels.length - 1]!;
            const half = (levels[1]! - levels[0]!) / 2;
            x.forEach((v, i) => {
              if (v >= lo && v <= hi)
                expect(Math.abs(v - out[i]!)).toBeLessThanOrEqual(half * (1 + 1e-5) + 1e-7);
            });
          }
        });
      }
    }
  },
);

describe.each(builtinQuantizers.map((p) => [p.id, p] as const))('%s: edge cases', (_id, p) => {
  const bits = bitsOf(p)[0]!;

  it('a constant tensor maps to itself', () => {
    for (const c of [2.5, -1.25, 0]) {
      if (p.id === 'pact' && c < 0) continue; // PACT clips negatives to 0
      const out = p.reference(new Float32Array(6).fill(c), bits);
      for (const v of out) expect(v).toBeCloseTo(c, 6);
    }
  });

  it('a single element maps to itself', () => {
    expect(p.reference(Float32Array.of(0.75), bits)[0]).toBeCloseTo(0.75, 6);
  });

  it('an empty tensor gives an empty tensor', () => {
    expect(p.reference(new Float32Array(0), bits).length).toBe(0);
  });

  it('NaN and ±Infinity are a clear error naming the element', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const x = Float32Array.of(1, 2, bad, 4);
      expect(() => p.reference(x, bits)).toThrow(NonFiniteInputError);
      expect(() => p.reference(x, bits)).toThrow(new RegExp(`${p.id}: element 2 is ${bad}`));
    }
  });
});

describe('per-channel quantization', () => {
  for (const id of ['minmax', 'sawb', 'bwn', 'twn']) {
    it(`${id}: each output channel is quantized as its own tensor`, () => {
      const p = quantizers.get(id);
      const bits = bitsOf(p).includes(2) ? 2 : bitsOf(p)[0]!;
      const shape = [3, 3, 2, 4];
      const x = rng.normalArray(72);
      const out = p.reference(x, bits, { granularity: 'channel', shape });
      for (let c = 0; c < 4; c++) {
        const idx = Array.from({ length: 18 }, (_, i) => i * 4 + c);
        const slice = Float32Array.from(idx, (i) => x[i]!);
        const want = p.reference(slice, bits);
        expect(idx.map((i) => out[i]!)).toEqual(Array.from(want));
      }
    });
  }

  it('needs the shape, and a channel axis inside it', () => {
    const p = quantizers.get('minmax');
    expect(() => p.reference(new Float32Array(6), 2, { granularity: 'channel' })).toThrow(
      /needs options.shape/,
    );
    expect(() =>
      p.reference(new Float32Array(6), 2, { granularity: 'channel', shape: [2, 2] }),
    ).toThrow(/\[2, 2\] has 4 elements but x has 6/);
    expect(() =>
      p.reference(new Float32Array(6), 2, {
        granularity: 'channel',
        shape: [2, 3],
        channelAxis: 2,
      }),
    ).toThrow(/channel axis 2/);
  });
});

/** Independent exact solver for small inputs: every interval between breakpoints, brute force. */
function bruteForceAlpha(x: Float32Array, bits: number): number {
  const L = 2 ** bits;
  const bps = [0];
  for (const v of x) for (let j = 1; j < L / 2; j++) bps.push((Math.abs(v) * (L - 1)) / (2 * j));
  bps.sort((a, b) => a - b);
  bps.push(bps[bps.length - 1]! * 2 + 10);
  let best = Number.POSITIVE_INFINITY;
  let bestAlpha = 0;
  for (let k = 0; k + 1 < bps.length; k++) {
    const lo = bps[k]!;
    const hi = bps[k + 1]!;
    if (!(hi > lo)) continue;
    // Codes at the interval's midpoint, then the quadratic's minimiser clamped to the interval.
    const mid = (lo + hi) / 2;
    const s = (2 * mid) / (L - 1);
    let A = 0;
    let B = 0;
    for (const v of x) {
      const m = Math.min(Math.floor(Math.abs(v) / s), L / 2 - 1);
      const c = (2 * m + 1) / (L - 1);
      A += Math.abs(v) * c;
      B += c * c;
    }
    const alpha = Math.min(Math.max(A / B, lo), hi);
    const mse = sawbMse(x, bits, alpha);
    if (mse < best) {
      best = mse;
      bestAlpha = alpha;
    }
  }
  return bestAlpha;
}

describe('SAWB α* (eq. 12) is the exact MSE minimum', () => {
  for (const bits of [1, 2, 3, 4]) {
    it(`${bits}-bit matches an independent brute force on small tensors`, () => {
      for (let trial = 0; trial < 20; trial++) {
        const x = Float32Array.from(
          { length: 3 + rng.int(10) },
          () => rng.normal() * (1 + rng.uniform()),
        );
        const exact = sawbAlpha(x, bits);
        expect(sawbMse(x, bits, exact)).toBeCloseTo(sawbMse(x, bits, bruteForceAlpha(x, bits)), 12);
      }
    });
  }

  for (const bits of [2, 4, 8]) {
    it(`${bits}-bit beats a dense grid search and is a local minimum`, () => {
      const x = rng.normalArray(2000);
      const exact = sawbAlpha(x, bits);
      const best = sawbMse(x, bits, exact);
      let m = 0;
      for (const v of x) m = Math.max(m, Math.abs(v));
      for (let i = 1; i <= 4000; i++)
        expect(best).toBeLessThanOrEqual(sawbMse(x, bits, (1.5 * m * i) / 4000) + 1e-12);
      expect(best).toBeLessThanOrEqual(sawbMse(x, bits, exact * (1 + 1e-4)));
      expect(best).toBeLessThanOrEqual(sawbMse(x, bits, exact * (1 - 1e-4)));
    });
  }

  it('α* on N(0, 1) matches the optimal uniform Gaussian quantizers (Max 1960) and grows with the bits', () => {
    const x = rng.normalArray(20000);
    const a2 = sawbAlpha(x, 2);
    // Optimal symmetric uniform quantizers of a unit Gaussian (Max 1960): 4 levels, step 0.9957,
    // so α = 1.5·step = 1.494; 16 levels, step 0.3352, so α = 7.5·step = 2.514.
    expect(a2).toBeCloseTo(1.494, 1);
    expect(sawbAlpha(x, 4)).toBeCloseTo(2.514, 1);
    expect(sawbAlpha(x, 8)).toBeGreaterThan(sawbAlpha(x, 4));
  });
});

describe('the registry', () => {
  it('holds the paper quantizers and refuses duplicates', () => {
    expect(quantizers.ids()).toEqual(['fp', 'minmax', 'sawb', 'bwn', 'twn', 'pact']);
    expect(() => quantizers.register(quantizers.get('minmax'))).toThrow(
      /'minmax' is already registered/,
    );
  });

  it('names the known ids on an unknown one', () => {
    expect(() => quantizers.get('lsq')).toThrow(
      "unknown quantizer 'lsq'; known: 'fp', 'minmax', 'sawb', 'bwn', 'twn', 'pact'",
    );
  });
});
