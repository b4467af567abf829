import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  learningRate,
  temperature,
  temperatureAt,
  temperatureCosine,
  temperatureDecay,
  temperatureLinear,
} from '../src/index.js';

/** The paper’s schedule: T(0) = 100 cooled to T(B) = 0.03, here over B = 1000 batches. */
const paper = { t0: 100, tEnd: 0.03, steps: 1000 };

function expectRelClose(got: number, want: number, rel: number): void {
  expect(Math.abs(got - want) / Math.abs(want), `${got} vs ${want}`).toBeLessThanOrEqual(rel);
}

describe('temperature (eq. 5 with Algorithm 1’s ψ)', () => {
  it('starts at T0 and ends exactly at T(B)', () => {
    expect(temperature(0, paper)).toBe(100);
    expect(temperature(1000, paper)).toBe(0.03);
  });

  it('temperatureDecay is ψ = exp(log(T(B)/T0)/B) < 1', () => {
    const psi = temperatureDecay(paper);
    expect(psi).toBe(Math.exp(Math.log(0.03 / 100) / 1000));
    expect(psi).toBeLessThan(1);
    // ψ^B = T(B)/T0.
    expectRelClose(psi ** 1000, 0.0003, 1e-12);
    // B = 1: ψ = T(B)/T0.
    expectRelClose(temperatureDecay({ t0: 8, tEnd: 2, steps: 1 }), 0.25, 1e-15);
    // B = 2: ψ = √(T(B)/T0).
    expectRelClose(temperatureDecay({ t0: 8, tEnd: 2, steps: 2 }), 0.5, 1e-15);
  });

  it('equals T0·ψ^b for every b (relative 1e-12)', () => {
    const psi = temperatureDecay(paper);
    for (const b of [1, 2, 10, 123, 250, 500, 777, 999]) {
      expectRelClose(temperature(b, paper), 100 * psi ** b, 1e-12);
    }
    // A hand-checkable case: T0 = 16, T(B) = 1, B = 4 → ψ = 1/2, T = 16, 8, 4, 2, 1.
    const s = { t0: 16, tEnd: 1, steps: 4 };
    [16, 8, 4, 2, 1].forEach((want, b) => {
      expectRelClose(temperature(b, s), want, 1e-14);
    });
    // The midpoint of an exponential schedule is the geometric mean √(T0·T(B)).
    expectRelClose(temperature(500, paper), Math.sqrt(100 * 0.03), 1e-12);
  });

  it('is strictly decreasing over [0, B]', () => {
    let prev = temperature(0, paper);
    for (let b = 1; b <= 1000; b++) {
      const t = temperature(b, paper);
      expect(t).toBeLessThan(prev);
      prev = t;
    }
  });

  it('clamps steps outside [0, B]', () => {
    expect(temperature(-5, paper)).toBe(100);
    expect(temperature(1001, paper)).toBe(0.03);
    expect(temperature(1e9, paper)).toBe(0.03);
  });

  it('rejects T(B) ≥ T0, non-positive temperatures and bad step counts', () => {
    expect(() => temperature(0, { t0: 1, tEnd: 1, steps: 10 })).toThrow(
      /tEnd \(1\) must be below t0 \(1\)/,
    );
    expect(() => temperature(0, { t0: 1, tEnd: 2, steps: 10 })).toThrow(ArgumentError);
    expect(() => temperature(0, { t0: 0, tEnd: 0.03, steps: 10 })).toThrow(
      /t0 must be positive, got 0/,
    );
    expect(() => temperature(0, { t0: -1, tEnd: 0.03, steps: 10 })).toThrow(ArgumentError);
    expect(() => temperature(0, { t0: 100, tEnd: 0, steps: 10 })).toThrow(
      /tEnd must be positive, got 0/,
    );
    expect(() => temperature(0, { t0: 100, tEnd: -0.5, steps: 10 })).toThrow(ArgumentError);
    expect(() => temperature(0, { t0: 100, tEnd: 0.03, steps: 0 })).toThrow(
      /steps must be a positive integer, got 0/,
    );
    expect(() => temperature(0, { t0: 100, tEnd: 0.03, steps: 2.5 })).toThrow(/got 2.5/);
    expect(() => temperature(0, { t0: 100, tEnd: 0.03, steps: -3 })).toThrow(ArgumentError);
    expect(() => temperatureDecay({ t0: 1, tEnd: 5, steps: 3 })).toThrow(/temperatureDecay/);
    expect(() => temperature(Number.NaN, paper)).toThrow(/step must be finite/);
  });
});

describe('linear and cosine temperature shapes', () => {
  it('linear: endpoints, midpoint and quarter', () => {
    expect(temperatureLinear(0, paper)).toBe(100);
    expect(temperatureLinear(1000, paper)).toBeCloseTo(0.03, 14);
    // (100 + 0.03)/2 and 100 − 99.97/4.
    expect(temperatureLinear(500, paper)).toBeCloseTo(50.015, 12);
    expect(temperatureLinear(250, paper)).toBeCloseTo(75.0075, 12);
    expect(temperatureLinear(-1, paper)).toBe(100);
    expect(temperatureLinear(5000, paper)).toBeCloseTo(0.03, 14);
  });

  it('cosine: endpoints, midpoint and quarter', () => {
    expect(temperatureCosine(0, paper)).toBe(100);
    expect(temperatureCosine(1000, paper)).toBeCloseTo(0.03, 14);
    // T(B) + (T0 − T(B))·(1 + cos(π/2))/2 = 0.03 + 99.97/2.
    expect(temperatureCosine(500, paper)).toBeCloseTo(50.015, 12);
    // (1 + cos(π/4))/2 = 0.8535533905932737.
    expect(temperatureCosine(250, paper)).toBeCloseTo(0.03 + 99.97 * 0.8535533905932737, 12);
    expect(temperatureCosine(750, paper)).toBeCloseTo(0.03 + 99.97 * 0.14644660940672627, 12);
  });

  it('both validate the schedule', () => {
    expect(() => temperatureLinear(0, { t0: 1, tEnd: 3, steps: 5 })).toThrow(/temperatureLinear/);
    expect(() => temperatureCosine(0, { t0: 1, tEnd: 0.1, steps: 0 })).toThrow(/temperatureCosine/);
  });

  it('temperatureAt dispatches on shape (default exponential)', () => {
    for (const b of [0, 100, 500, 900, 1000]) {
      expect(temperatureAt(b, paper)).toBe(temperature(b, paper));
      expect(temperatureAt(b, { ...paper, shape: 'exponential' })).toBe(temperature(b, paper));
      expect(temperatureAt(b, { ...paper, shape: 'linear' })).toBe(temperatureLinear(b, paper));
      expect(temperatureAt(b, { ...paper, shape: 'cosine' })).toBe(temperatureCosine(b, paper));
    }
    // The shapes really differ in the middle.
    const mid = [
      temperatureAt(250, { ...paper, shape: 'exponential' }),
      temperatureAt(250, { ...paper, shape: 'linear' }),
      temperatureAt(250, { ...paper, shape: 'cosine' }),
    ];
    expect(new Set(mid).size).toBe(3);
  });
});

describe('learningRate', () => {
  const paperLr = { kind: 'step', initial: 0.1 } as const;

  it('step: ÷10 at 1/3 and 2/3 of 300 steps (epochs 100 and 200)', () => {
    for (const s of [0, 1, 50, 99]) expect(learningRate(s, 300, paperLr)).toBe(0.1);
    for (const s of [100, 150, 199]) expect(learningRate(s, 300, paperLr)).toBeCloseTo(0.01, 15);
    for (const s of [200, 250, 299, 300]) {
      expect(learningRate(s, 300, paperLr)).toBeCloseTo(0.001, 15);
    }
    // Beyond the end it stays at the last value; before the start at the first.
    expect(learningRate(10_000, 300, paperLr)).toBeCloseTo(0.001, 15);
    expect(learningRate(-7, 300, paperLr)).toBe(0.1);
  });

  it('step: the ImageNet protocol (every 30 of 90 epochs)', () => {
    expect(learningRate(29, 90, paperLr)).toBe(0.1);
    expect(learningRate(30, 90, paperLr)).toBeCloseTo(0.01, 15);
    expect(learningRate(59, 90, paperLr)).toBeCloseTo(0.01, 15);
    expect(learningRate(60, 90, paperLr)).toBeCloseTo(0.001, 15);
  });

  it('step: custom milestones and gamma', () => {
    const s = { kind: 'step', initial: 0.8, milestones: [0.5, 0.75, 0.9], gamma: 0.5 } as const;
    // Milestones at round(0.5·20) = 10, round(0.75·20) = 15, round(0.9·20) = 18.
    expect(learningRate(9, 20, s)).toBe(0.8);
    expect(learningRate(10, 20, s)).toBe(0.4);
    expect(learningRate(14, 20, s)).toBe(0.4);
    expect(learningRate(15, 20, s)).toBe(0.2);
    expect(learningRate(17, 20, s)).toBe(0.2);
    expect(learningRate(18, 20, s)).toBe(0.1);
    expect(learningRate(5, 20, { kind: 'step', initial: 1, milestones: [] })).toBe(1);
  });

  it('cosine: endpoints and midpoint', () => {
    const s = { kind: 'cosine', initial: 0.1, final: 0.001 } as const;
    expect(learningRate(0, 100, s)).toBeCloseTo(0.1, 15);
    expect(learningRate(100, 100, s)).toBeCloseTo(0.001, 15);
    expect(learningRate(50, 100, s)).toBeCloseTo(0.0505, 15);
    // Quarter: final + (initial − final)·(1 + cos(π/4))/2.
    expect(learningRate(25, 100, s)).toBeCloseTo(0.001 + 0.099 * 0.8535533905932737, 15);
    // final defaults to 0.
    expect(learningRate(100, 100, { kind: 'cosine', initial: 0.2 })).toBeCloseTo(0, 15);
    expect(learningRate(50, 100, { kind: 'cosine', initial: 0.2 })).toBeCloseTo(0.1, 15);
  });

  it('constant', () => {
    for (const s of [0, 37, 100, 1000]) {
      expect(learningRate(s, 100, { kind: 'constant', initial: 0.05 })).toBe(0.05);
    }
  });

  it('rejects bad totals and negative initial rates', () => {
    expect(() => learningRate(0, 0, paperLr)).toThrow(
      /totalSteps must be a positive integer, got 0/,
    );
    expect(() => learningRate(0, 10.5, paperLr)).toThrow(ArgumentError);
    expect(() => learningRate(0, -1, paperLr)).toThrow(ArgumentError);
    expect(() => learningRate(0, 10, { kind: 'constant', initial: -0.1 })).toThrow(
      /initial rate must be ≥ 0, got -0.1/,
    );
    expect(() => learningRate(0, 10, { kind: 'constant', initial: Number.NaN })).toThrow(
      ArgumentError,
    );
  });
});
