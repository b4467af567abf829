import {
  type Backend,
  createReferenceBackend,
  evaluate,
  parseConfig,
  type TrainEvent,
  train,
} from '@dqa/core';
import { buildModel, createTrainData } from '@dqa/models';
import { loadMnist } from '@dqa/models/node';
import { quantizers } from '@dqa/quantizers';
import { expect, it } from 'vitest';
import { createNativeCpuBackend } from '../src/index.js';
import { describeNative } from './native.js';

// A short real run through core's Trainer: the benchmark CNN with DQA over 2/4/8-bit min-max
// weights (on conv2: the first and last layers stay float, the library's default), 2 000 MNIST
// images, three epochs. Before training it guesses; after, the relaxed model classifies most
// held-out digits and the collapsed 2-bit one far more than chance (λ = 1 leaves the attention
// short of 2 bits in so short a run, hence its lower bar).
describeNative('native-cpu trains through the Trainer', () => {
  it('cnn-small with DQA 2/4/8 on an MNIST slice: loss falls, accuracy rises far above chance', async () => {
    const b = createNativeCpuBackend();
    const mnist = await loadMnist();
    const config = parseConfig(
      {
        model: { name: 'cnn-small' },
        data: { name: 'mnist' },
        seed: 3,
        quantization: {
          weights: {
            relaxation: 'dqa',
            quantizers: [
              { id: 'minmax', bits: 2 },
              { id: 'minmax', bits: 4 },
              { id: 'minmax', bits: 8 },
            ],
          },
        },
      },
      { quantizers },
    );
    const data = createTrainData(b, mnist, {
      batchSize: 50,
      seed: 0,
      limitTrain: 2000,
      limitTest: 500,
    });
    const model = buildModel(b, config, { inputShape: mnist.inputShape, classes: mnist.classes });
    const step = { step: 0, totalSteps: 120, stepsPerEpoch: 40 };
    const before = evaluate(b, model, data.testBatches(), { training: false, step, hard: false });
    const losses: number[] = [];
    const result = await train(b, model, data, {
      epochs: 3,
      learningRate: { kind: 'constant', initial: 0.05 },
      optimizer: { momentum: 0.9, weightDecay: 5e-4, nesterov: false },
      onEvent: (e: TrainEvent) => {
        if (e.type === 'step') losses.push(e.loss);
      },
    });
    expect(before.accuracy).toBeLessThan(0.3);
    expect(losses.length).toBe(120);
    expect(losses.every(Number.isFinite)).toBe(true);
    const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
    expect(mean(losses.slice(-10))).toBeLessThan(0.5 * mean(losses.slice(0, 10)));
    expect(result.relaxedAccuracy).toBeGreaterThan(0.8);
    expect(result.hardAccuracy).toBeGreaterThan(0.4);
    model.dispose();
  });
});

// The models' fused paths (convolution + bias + ReLU, batch norm + ReLU, batch norm + residual add
// + ReLU) on native-cpu's fused kernels against the reference backend, which composes each from
// plain ops: one training step's loss, gradients and moving statistics of a DQA ResNet-20.
describeNative('fused model paths on native-cpu', () => {
  it('ResNet-20 and the small CNN: loss, every gradient and the BN moving statistics match the reference', () => {
    for (const name of ['resnet20', 'cnn-small']) {
      const config = parseConfig(
        {
          model: { name },
          data: { name: 'cifar10' },
          seed: 5,
          quantization: {
            weights: {
              relaxation: 'dqa',
              quantizers: [
                { id: 'minmax', bits: 2 },
                { id: 'minmax', bits: 4 },
                { id: 'minmax', bits: 8 },
              ],
            },
          },
        },
        { quantizers },
      );
      const shape = name === 'resnet20' ? [2, 32, 32, 3] : [4, 28, 28, 1];
      const n = shape.reduce((a, v) => a * v, 1);
      const xs = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 1.3);
      const ys = new Float32Array(shape[0]! * 10);
      for (let i = 0; i < shape[0]!; i++) ys[i * 10 + ((i * 3) % 10)] = 1;
      const run = (b: Backend) => {
        const inputShape = shape.slice(1) as [number, number, number];
        const model = buildModel(b, config, { inputShape, classes: 10 });
        const x = b.tensor(xs, shape);
        const y = b.tensor(ys, [shape[0]!, 10]);
        const step = { step: 3, totalSteps: 100, stepsPerEpoch: 10 };
        const { value, grads } = b.valueAndGrads(
          () => b.softmaxCrossEntropy(model.forward(x, { training: true, hard: false, step }), y),
          model.variables,
        );
        const out = [
          b.readSync(value),
          ...grads.map((g) => b.readSync(g)),
          ...(model.state ?? []).map((v) => b.readSync(v)),
        ];
        b.dispose([value, ...grads, x, y]);
        model.dispose();
        return out;
      };
      const got = run(createNativeCpuBackend());
      const want = run(createReferenceBackend());
      expect(got.length).toBe(want.length);
      got.forEach((g, i) => {
        const w = want[i]!;
        const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let j = 0; j < g.length; j++) {
          if (!(Math.abs(g[j]! - w[j]!) <= 2e-3 * scale + 1e-6))
            expect.fail(`${name} output ${i} element ${j}: got ${g[j]}, expected ${w[j]}`);
        }
      });
    }
  });
});
