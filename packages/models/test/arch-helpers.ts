import {
  type Backend,
  type Batch,
  type DqaConfig,
  type DqaConfigInput,
  parseConfig,
  Random,
  type TrainData,
} from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import { expect } from 'vitest';
import { type ModelSpec, SpecBuilder } from '../src/architectures/index.js';

/** A resolved config for `model` with the given quantization (float by default). */
export function config(
  model: string,
  rest: Omit<DqaConfigInput, 'model' | 'data'> = {},
  options: Record<string, unknown> = {},
): DqaConfig {
  return parseConfig(
    { model: { name: model, options }, data: { name: 'synthetic' }, ...rest },
    {
      quantizers,
    },
  );
}

/** DQA over min-max 2/4/8-bit weights, as the paper's CIFAR runs. */
export const dqaWeights = {
  relaxation: 'dqa',
  quantizers: [
    { id: 'minmax', bits: 2 },
    { id: 'minmax', bits: 4 },
    { id: 'minmax', bits: 8 },
  ],
};

/**
 * A small graph with every op: conv → BN → ReLU, a residual add through a relu6, a depthwise
 * conv, average pooling, flatten, dense. Input 6×6×2, 3 classes.
 */
export function tinySpec(): ModelSpec {
  const g = new SpecBuilder('tiny', [6, 6, 2], 3);
  let h = g.conv2d('conv1', g.input, { filters: 4, kernelSize: 3 });
  h = g.relu('relu1', g.batchNorm('bn1', h));
  const r = g.relu6('relu6', g.conv2d('conv2', h, { filters: 4, kernelSize: 3, useBias: false }));
  h = g.add('add', h, r);
  h = g.depthwiseConv2d('dw', h, { kernelSize: 3, strides: 2, multiplier: 2 });
  h = g.avgPool('pool', h, { pool: 3 });
  g.dense('logits', g.flatten('flatten', h), { units: 3 });
  return g.build();
}

/** Row-major values of `v`. */
export function values(b: Backend, v: Parameters<Backend['readSync']>[0]): number[] {
  return Array.from(b.readSync(v));
}

/**
 * Three classes of 6×6×1 images: a bright 2×2 patch in a class-specific corner, plus noise. The
 * training order depends only on the epoch (as the Trainer's resume needs).
 */
export function patches(b: Backend, trainCount = 180, testCount = 60, batchSize = 20): TrainData {
  const rng = new Random(7);
  const corners = [
    [0, 0],
    [0, 4],
    [4, 2],
  ];
  const make = (n: number) => {
    const x = new Float32Array(n * 36);
    const y = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      for (let p = 0; p < 36; p++) x[i * 36 + p] = 0.3 * rng.normal();
      const [r0, c0] = corners[c]!;
      for (let dr = 0; dr < 2; dr++)
        for (let dc = 0; dc < 2; dc++) x[i * 36 + (r0! + dr) * 6 + c0! + dc] += 1.5;
      y[i * 3 + c] = 1;
    }
    return { x, y };
  };
  const train = make(trainCount);
  const test = make(testCount);
  const batches = (set: { x: Float32Array; y: Float32Array }, order: number[]): Batch[] => {
    const out: Batch[] = [];
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      const x = new Float32Array(idx.length * 36);
      const y = new Float32Array(idx.length * 3);
      idx.forEach((i, k) => {
        x.set(set.x.subarray(i * 36, (i + 1) * 36), k * 36);
        y.set(set.y.subarray(i * 3, (i + 1) * 3), k * 3);
      });
      out.push({ x: b.tensor(x, [idx.length, 6, 6, 1]), y: b.tensor(y, [idx.length, 3]) });
    }
    return out;
  };
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  return {
    stepsPerEpoch: Math.ceil(trainCount / batchSize),
    trainBatches: (epoch) => batches(train, new Random(100 + epoch).shuffle(range(trainCount))),
    testBatches: () => batches(test, range(testCount)),
  };
}

/** Asserts every value is finite. */
export function expectFinite(xs: ArrayLike<number>, what: string): void {
  const bad = Array.from(xs).findIndex((v) => !Number.isFinite(v));
  expect(bad, `${what}: element ${bad} is ${xs[bad]}`).toBe(-1);
}
