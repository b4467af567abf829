import { type Backend, createReferenceBackend, Random, type StepInfo } from '@dqa/core';
import { createTfjsBackend } from '@dqa/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BuiltModel, buildModel, buildModelFromSpec } from '../src/architectures/index.js';
import { config, dqaWeights, expectFinite, tinySpec } from './arch-helpers.js';

const step: StepInfo = { step: 3, totalSteps: 100, stepsPerEpoch: 10 };

let b: Backend;
beforeAll(async () => {
  b = await createTfjsBackend({ engine: 'wasm' });
});

/** One training step's loss and gradients at batch 2; checks they are finite, and BN state moves. */
function trainingStep(model: BuiltModel, seed: number): void {
  const [h, w, c] = model.spec.inputShape;
  const x = b.tensor(new Random(seed).normalArray(2 * h * w * c), [2, h, w, c]);
  const y = b.tensor([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [2, 10]);
  const before = Array.from(b.readSync(model.state[0]!));
  for (const q of model.quantizers) q.beforeStep(step);
  const { value, grads } = b.valueAndGrads(() => {
    const logits = model.forward(x, { training: true, step, hard: false });
    let loss = b.softmaxCrossEntropy(logits, y);
    for (const q of model.quantizers) {
      const r = q.regularizer(step, model.weightCount);
      if (r) loss = b.add(loss, r);
    }
    return loss;
  }, model.variables);
  expectFinite(b.readSync(value), 'loss');
  expect(grads).toHaveLength(model.variables.length);
  model.variables.forEach((v, i) => {
    expect(grads[i]!.shape, v.name).toEqual(v.shape);
    expectFinite(b.readSync(grads[i]!), `gradient of ${v.name}`);
  });
  // Backpropagation reaches every layer's kernel.
  for (const layer of model.layers) {
    const g = b.readSync(grads[model.variables.indexOf(layer.kernel)]!);
    expect(
      g.some((v) => v !== 0),
      `gradient of ${layer.kernel.name} is all zeros`,
    ).toBe(true);
  }
  expect(Array.from(b.readSync(model.state[0]!))).not.toEqual(before);
  const hard = model.forward(x, { training: false, step, hard: true });
  expect(hard.shape).toEqual([2, 10]);
  expectFinite(b.readSync(hard), 'hard logits');
  b.dispose([value, ...grads, x, y, hard]);
}

describe('architectures on @dqa/tfjs (wasm)', () => {
  it('agrees with the reference backend on a small graph with every op', () => {
    const ref = createReferenceBackend();
    const cfg = config('tiny', {
      seed: 4,
      quantization: { weights: dqaWeights, quantizeFirstLayer: true, quantizeLastLayer: true },
    });
    const a = buildModelFromSpec(b, tinySpec(), cfg, { scope: 'agree' });
    const r = buildModelFromSpec(ref, tinySpec(), cfg);
    const xs = new Random(8).normalArray(4 * 72);
    for (const ctx of [
      { training: true, step, hard: false },
      { training: false, step, hard: false },
      { training: false, step, hard: true },
    ]) {
      const got = b.readSync(a.forward(b.tensor(xs, [4, 6, 6, 2]), ctx));
      const want = ref.readSync(r.forward(ref.tensor(xs, [4, 6, 6, 2]), ctx));
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 3);
    }
    a.dispose();
  });

  it('resnet20: DQA weights and PACT inputs, one training step at batch 2 has finite gradients', () => {
    const cfg = config('resnet20', {
      seed: 1,
      quantization: {
        weights: dqaWeights,
        activations: { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 2 }] },
      },
    });
    const model = buildModel(b, cfg, { scope: 'r20' });
    expect(model.weightCount).toBe(272_474);
    trainingStep(model, 2);
    model.dispose();
  });

  it('mobilenetv2 (32×32): DQA weights, one training step at batch 2 has finite gradients', () => {
    const cfg = config('mobilenetv2', { seed: 1, quantization: { weights: dqaWeights } });
    const model = buildModel(b, cfg, { scope: 'mv2' });
    expect(model.spec.inputShape).toEqual([32, 32, 3]);
    expect(model.layers.filter((l) => l.weightQuantizer).length).toBe(model.layers.length - 2);
    trainingStep(model, 3);
    model.dispose();
  });
});
