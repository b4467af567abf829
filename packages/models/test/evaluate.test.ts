import {
  createReferenceBackend,
  evaluate,
  type ForwardContext,
  Random,
  type StepInfo,
} from '@dqa/core';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../src/index.js';
import { config, dqaWeights } from './arch-helpers.js';

describe('evaluating a built model', () => {
  it('quantizes each layer once per evaluation, with the same results as quantizing every batch', () => {
    const b = createReferenceBackend();
    const model = buildModel(
      b,
      config('lenet5', {
        seed: 2,
        quantization: { weights: dqaWeights, quantizeFirstLayer: true, quantizeLastLayer: true },
      }),
    );
    const rng = new Random(5);
    const batches = () =>
      Array.from({ length: 3 }, () => ({
        x: b.tensor(rng.normalArray(4 * 28 * 28, 0, 1), [4, 28, 28, 1]),
        y: b.tensor(
          Array.from({ length: 40 }, (_, i) => (i % 10 === i % 7 ? 1 : 0)),
          [4, 10],
        ),
      }));
    const step: StepInfo = { step: 30, totalSteps: 100, stepsPerEpoch: 10 };
    // Count the weight quantizers' forward passes.
    let calls = 0;
    for (const q of model.quantizers) {
      const forward = q.forward;
      q.forward = (x, s) => {
        calls++;
        return forward(x, s);
      };
    }
    const quantizedLayers = model.layers.filter((l) => l.weightQuantizer).length;
    expect(quantizedLayers).toBeGreaterThan(2);
    for (const hard of [false, true]) {
      const ctx: ForwardContext = { training: false, step, hard };
      const data = batches();
      const copy = data.map((d) => ({
        x: b.tensor(b.readSync(d.x), d.x.shape),
        y: b.tensor(b.readSync(d.y), d.y.shape),
      }));
      calls = 0;
      const once = evaluate(b, model, data, ctx);
      if (!hard) expect(calls).toBe(quantizedLayers);
      // The same batches through plain forward passes, quantizing at every batch.
      calls = 0;
      let correct = 0;
      let loss = 0;
      for (const { x, y } of copy) {
        const out = b.tidy(() => model.forward(x, ctx));
        const logits = b.readSync(out);
        const labels = b.readSync(y);
        loss += b.readSync(b.softmaxCrossEntropy(out, y))[0]! * 4;
        for (let i = 0; i < 4; i++) {
          const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
          const truth = Array.from(labels.subarray(i * 10, i * 10 + 10));
          if (row.indexOf(Math.max(...row)) === truth.indexOf(Math.max(...truth))) correct++;
        }
      }
      if (!hard) expect(calls).toBe(3 * quantizedLayers);
      expect(once.accuracy).toBe(correct / 12);
      expect(once.loss).toBeCloseTo(loss / 12, 6);
    }
    // Nothing is left frozen after an evaluation: training forward passes quantize again.
    calls = 0;
    b.tidy(() =>
      model.forward(b.tensor(rng.normalArray(28 * 28, 0, 1), [1, 28, 28, 1]), {
        training: true,
        step,
        hard: false,
      }),
    );
    expect(calls).toBeGreaterThanOrEqual(quantizedLayers);
  });
});
