import { describe, expect, it } from 'vitest';
import { resolveSpeedSettings, SpeedEta, type SpeedEvent } from '../src/index.js';

const step = (
  backend: string,
  model: 'small-cnn' | 'resnet20',
  ms: number,
  phase: 'warmup' | 'timed' = 'timed',
): SpeedEvent => ({
  type: 'step',
  backend,
  model,
  variant: 'fp',
  phase,
  step: 1,
  steps: 4,
  ms,
  done: 0,
  total: 0,
});

describe('SpeedEta', () => {
  const settings = resolveSpeedSettings({
    backends: ['wasm', 'cpu'],
    variants: ['fp'],
    steps: 4,
    warmup: 0,
    timeBudgetS: 0,
  });
  // ResNet-20 at batch 128 does 41e6·128 / (3 869 824·64) ≈ 21.19× the small CNN's work per step.
  const ratio = (41e6 * 128) / (3_869_824 * 64);

  it("knows nothing before the first step, then scales by each model's work", () => {
    const eta = new SpeedEta(settings);
    expect(eta.remainingSeconds()).toBeNull();
    eta.observe(step('wasm', 'small-cnn', 100));
    expect(eta.stepMs('wasm', 'resnet20')).toBeCloseTo(100 * ratio);
    // cpu has run nothing: the other backends' pace stands in.
    expect(eta.stepMs('cpu', 'small-cnn')).toBeCloseTo(100);
    expect(eta.remainingSeconds()!).toBeCloseTo(
      (3 * 100 + 4 * 100 * ratio + 4 * 100 + 4 * 100 * ratio) / 1000,
    );
  });

  it('prefers timed steps over warm-up, drops finished cells and backends, and counts the time budget', () => {
    const eta = new SpeedEta(settings);
    eta.observe(step('wasm', 'small-cnn', 900, 'warmup'));
    expect(eta.stepMs('wasm', 'small-cnn')).toBe(900);
    eta.observe(step('wasm', 'small-cnn', 100));
    eta.observe(step('wasm', 'small-cnn', 120));
    expect(eta.stepMs('wasm', 'small-cnn')).toBe(110);
    eta.observe({
      type: 'backend-end',
      run: { id: 'cpu', label: 'tfjs cpu', role: 'dqa', status: 'not-installed', seconds: 0 },
      done: 0,
      total: 0,
    });
    const left = eta.remainingSeconds()!;
    // wasm small CNN: 3 of its 4 steps seen; cpu's cells are gone.
    expect(left).toBeCloseTo((1 * 110 + 4 * 110 * ratio) / 1000);
    const budget = new SpeedEta({ ...settings, timeBudgetS: 1, minSteps: 2 });
    budget.observe(step('wasm', 'resnet20', 2000));
    // 1 s of 2-second ResNet steps: those cells stop at their minimum of 2 steps (1 done on wasm);
    // the small CNN's cells (≈ 94 ms a step) run all 4.
    const small = 2000 / ratio;
    expect(budget.remainingSeconds()!).toBeCloseTo((8 * small + 3 * 2000) / 1000);
  });

  it('counts only the variants a backend measures (the oneDNN limit: FP only)', () => {
    const all = resolveSpeedSettings({
      backends: ['wasm', 'onednn'],
      models: ['small-cnn'],
      steps: 4,
      warmup: 0,
      timeBudgetS: 0,
    });
    expect(all.backendVariants).toEqual({ wasm: ['fp', 'ste2', 'dqa248'], onednn: ['fp'] });
    const eta = new SpeedEta(all);
    eta.observe(step('wasm', 'small-cnn', 100));
    eta.observe(step('onednn', 'small-cnn', 10));
    // wasm: 3 + 4 + 4 steps of 100 ms left; onednn: 3 FP steps of 10 ms.
    expect(eta.remainingSeconds()!).toBeCloseTo((11 * 100 + 3 * 10) / 1000);
  });
});
