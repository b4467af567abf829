import * as tf from '@tensorflow/tfjs';
import type { SpeedModelId } from './spec.js';

/**
 * The speed benchmark's two models as tfjs-layers builders (until @dqa/models exists). Each
 * returns logits (no final softmax: the loss applies it), so the PyTorch twins in
 * `python/speed.py` compute the same function. Weights come from seeded initialisers, so every run
 * builds the same network.
 */

/**
 * The small CNN: conv3×3 1→32 'same' + ReLU, maxpool 2, conv3×3 32→64 'same' + ReLU,
 * maxpool 2, flatten, dense 3136→10. Input 28×28×1. 50 186 parameters.
 */
export function smallCnn(): tf.LayersModel {
  return tf.sequential({
    name: 'small_cnn',
    layers: [
      tf.layers.conv2d({
        name: 'conv1',
        inputShape: [28, 28, 1],
        filters: 32,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: 1 }),
      }),
      tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }),
      tf.layers.conv2d({
        name: 'conv2',
        filters: 64,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: 2 }),
      }),
      tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({
        name: 'logits',
        units: 10,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      }),
    ],
  });
}

/**
 * ResNet-20 for CIFAR (He et al. 2016, Section 4.2): a 3×3 conv to 16 channels, then 3 stages of 3
 * basic blocks (two 3×3 convs, each followed by batch norm) with 16, 32 and 64 channels, the first
 * block of stages 2 and 3 at stride 2; global average pooling and a dense 64→10. Convolutions
 * have no bias (batch norm follows each). Input 32×32×3.
 *
 * Shortcuts: identity within a stage; where the shape changes (stride 2, 16→32 and 32→64) a 1×1
 * convolution at stride 2 with batch norm, the paper's option B. (Option A, the zero-padded
 * identity of the CIFAR models, has no weights; B adds 2 560 conv weights.) 272 474 trainable
 * parameters (the paper's "0.27 M"), plus 1 568 batch-norm moving statistics.
 */
export function resnet20(): tf.LayersModel {
  let seed = 10;
  const conv = (name: string, filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({
      name,
      filters,
      kernelSize,
      strides,
      padding: 'same',
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
    });
  const bn = (name: string) => tf.layers.batchNormalization({ name, axis: -1, epsilon: 1e-5 });
  const relu = (name: string) => tf.layers.activation({ name, activation: 'relu' });

  const input = tf.input({ shape: [32, 32, 3], name: 'image' });
  let h = conv('stem_conv', 16, 3, 1).apply(input) as tf.SymbolicTensor;
  h = bn('stem_bn').apply(h) as tf.SymbolicTensor;
  h = relu('stem_relu').apply(h) as tf.SymbolicTensor;
  let channels = 16;
  for (const [stage, width] of [16, 32, 64].entries()) {
    for (let block = 0; block < 3; block++) {
      const p = `s${stage + 1}b${block + 1}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      let r = conv(`${p}_conv1`, width, 3, stride).apply(h) as tf.SymbolicTensor;
      r = bn(`${p}_bn1`).apply(r) as tf.SymbolicTensor;
      r = relu(`${p}_relu1`).apply(r) as tf.SymbolicTensor;
      r = conv(`${p}_conv2`, width, 3, 1).apply(r) as tf.SymbolicTensor;
      r = bn(`${p}_bn2`).apply(r) as tf.SymbolicTensor;
      let s = h;
      if (stride !== 1 || channels !== width) {
        s = conv(`${p}_proj`, width, 1, stride).apply(h) as tf.SymbolicTensor;
        s = bn(`${p}_proj_bn`).apply(s) as tf.SymbolicTensor;
      }
      h = tf.layers.add({ name: `${p}_add` }).apply([r, s]) as tf.SymbolicTensor;
      h = relu(`${p}_relu2`).apply(h) as tf.SymbolicTensor;
      channels = width;
    }
  }
  h = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(h) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({
      name: 'logits',
      units: 10,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
    })
    .apply(h) as tf.SymbolicTensor;
  return tf.model({ name: 'resnet20', inputs: input, outputs: logits });
}

/** The builder of each model id. */
export const speedModelBuilders: Readonly<Record<SpeedModelId, () => tf.LayersModel>> = {
  'small-cnn': smallCnn,
  resnet20,
};

/** Trainable parameters (what "0.27 M" counts; batch norm's moving statistics are not). */
export function trainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce(
    (n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1),
    0,
  );
}
