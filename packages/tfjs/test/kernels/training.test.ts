import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTrainingKernels, unregisterTrainingKernels } from '../../src/kernels/index.js';

/** Gradients by variable name, read back to plain arrays. */
type Grads = Record<string, Float32Array>;

function gradsOf(loss: () => tf.Scalar, vars: tf.Variable[]): Grads {
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(loss, vars);
    return Object.fromEntries(
      Object.entries(grads).map(([k, g]) => [k, g.dataSync() as Float32Array]),
    );
  });
}

/** Each gradient within rtol of the reference, relative to that gradient's largest entry. */
function expectGradsClose(actual: Grads, expected: Grads, rtol: number): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, e] of Object.entries(expected)) {
    const a = actual[name]!;
    let scale = 1e-12;
    let worst = 0;
    for (let i = 0; i < e.length; i++) {
      scale = Math.max(scale, Math.abs(e[i]!));
      worst = Math.max(worst, Math.abs(a[i]! - e[i]!));
    }
    expect(worst / scale, `gradient of ${name}`).toBeLessThanOrEqual(rtol);
    expect(scale, `gradient of ${name} is all zero`).toBeGreaterThan(1e-8);
  }
}

/**
 * One-hot labels made as float32 from the start. (`tf.oneHot(...).toFloat()` on cpu keeps the
 * int32 array under a float32 dtype, and tfjs 4.22 then copies its bits verbatim when the tensor
 * moves to wasm: every 1 becomes 1.4e-45. A tfjs bug, not ours.)
 */
function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.tensor2d(
    labels.map((l) => Array.from({ length: classes }, (_, c) => (c === l ? 1 : 0))),
  );
}

/** On each backend in turn: stock cpu (the reference), then ours on cpu and on wasm. */
async function onEachBackend(compute: () => Grads): Promise<Record<string, Grads>> {
  unregisterTrainingKernels();
  await tf.setBackend('cpu');
  const stockCpu = compute();
  registerTrainingKernels();
  const oursCpu = compute();
  await tf.setBackend('wasm');
  const oursWasm = compute();
  return { stockCpu, oursCpu, oursWasm };
}

describe('training conv nets end to end: gradients on wasm and cpu equal stock cpu', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
  });
  afterAll(() => {
    registerTrainingKernels();
  });

  it('conv → relu → maxPool → depthwise ×2 (stride 2) → batch norm → relu6 → 1×1 conv → avgPool → dense → softmax CE', async () => {
    let seed = 1;
    const v = (shape: number[], name: string) =>
      tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', seed++), true, name);
    const p = {
      conv: v([3, 3, 3, 8], 'conv'),
      convBias: v([8], 'convBias'),
      dw: v([3, 3, 8, 2], 'dw'),
      gamma: v([16], 'gamma'),
      beta: v([16], 'beta'),
      pw: v([1, 1, 16, 8], 'pw'),
      dense: v([2 * 2 * 8, 5], 'dense'),
      denseBias: v([5], 'denseBias'),
    };
    const x = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 99) as tf.Tensor4D;
    const y = oneHot([0, 3, 1, 4], 5);
    const loss = () => {
      let h = tf.relu(
        tf.add(tf.conv2d(x, p.conv as tf.Tensor4D, 1, 'same'), p.convBias),
      ) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid'); // 12×12 → 6×6
      h = tf.depthwiseConv2d(h, p.dw as tf.Tensor4D, 2, 'same'); // 6×6 → 3×3, asymmetric pad
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.add(
        tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-3))), p.gamma),
        p.beta,
      );
      h = tf.clipByValue(h, 0, 6);
      h = tf.conv2d(h, p.pw as tf.Tensor4D, 1, 'valid');
      h = tf.avgPool(h, 2, 1, 'valid'); // 3×3 → 2×2
      const logits = tf.add(tf.matMul(tf.reshape(h, [4, -1]), p.dense as tf.Tensor2D), p.denseBias);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    };
    const g = await onEachBackend(() => gradsOf(loss, Object.values(p)));
    expectGradsClose(g.oursCpu!, g.stockCpu!, 1e-4);
    expectGradsClose(g.oursWasm!, g.stockCpu!, 1e-4);
  });

  it('tfjs-layers ResNet and MobileNetV2 blocks (fused conv, batch norm, stride-2 shortcut, relu6, depthwise, global pooling)', async () => {
    const input = tf.input({ shape: [12, 12, 3] });
    const init = (s: number) => tf.initializers.glorotNormal({ seed: s });
    const conv = (filters: number, k: number, strides: number, s: number, useBias = false) =>
      tf.layers.conv2d({
        filters,
        kernelSize: k,
        strides,
        padding: 'same',
        useBias,
        kernelInitializer: init(s),
      });
    const bn = () => tf.layers.batchNormalization();
    // Stem, with a bias (tfjs-layers runs it as FusedConv2D) and no batch norm, which would
    // make the bias gradient vanish.
    let h = conv(8, 3, 1, 1, true).apply(input) as tf.SymbolicTensor;
    h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
    // ResNet basic block, stride 2, with a 1×1 stride-2 projection shortcut.
    let r = conv(16, 3, 2, 2).apply(h) as tf.SymbolicTensor;
    r = tf.layers.reLU().apply(bn().apply(r)) as tf.SymbolicTensor;
    r = bn().apply(conv(16, 3, 1, 3).apply(r)) as tf.SymbolicTensor;
    const shortcut = bn().apply(conv(16, 1, 2, 4).apply(h)) as tf.SymbolicTensor;
    h = tf.layers.reLU().apply(tf.layers.add().apply([r, shortcut])) as tf.SymbolicTensor;
    // MobileNetV2 inverted residual: 1×1 expand, relu6, depthwise 3×3 (stride 2), relu6, 1×1 project.
    let m = conv(32, 1, 1, 5).apply(h) as tf.SymbolicTensor;
    m = tf.layers.reLU({ maxValue: 6 }).apply(bn().apply(m)) as tf.SymbolicTensor;
    m = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        depthMultiplier: 1,
        useBias: false,
        depthwiseInitializer: init(6),
      })
      .apply(m) as tf.SymbolicTensor;
    m = tf.layers.reLU({ maxValue: 6 }).apply(bn().apply(m)) as tf.SymbolicTensor;
    m = bn().apply(conv(16, 1, 1, 7).apply(m)) as tf.SymbolicTensor;
    h = tf.layers.globalAveragePooling2d({}).apply(m) as tf.SymbolicTensor;
    const out = tf.layers
      .dense({ units: 4, kernelInitializer: init(8) })
      .apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });

    const x = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 5);
    const y = oneHot([0, 1, 2, 3], 4);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const loss = () =>
      tf.losses.softmaxCrossEntropy(
        y,
        model.apply(x, { training: true }) as tf.Tensor,
      ) as tf.Scalar;
    const g = await onEachBackend(() => gradsOf(loss, vars));
    expectGradsClose(g.oursCpu!, g.stockCpu!, 1e-3);
    expectGradsClose(g.oursWasm!, g.stockCpu!, 1e-3);

    // And model.fit trains on wasm (optimizer, fused kernels and all): the loss goes down.
    model.compile({
      optimizer: tf.train.sgd(0.05),
      loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
    });
    const before = (model.evaluate(x, y) as tf.Scalar).dataSync()[0]!;
    await model.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
    const after = (model.evaluate(x, y) as tf.Scalar).dataSync()[0]!;
    expect(tf.getBackend()).toBe('wasm');
    expect(after).toBeLessThan(before);
  });
});
