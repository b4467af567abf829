import type { Architecture } from './architecture.js';
import { SpecBuilder } from './builder.js';
import { OptionReader } from './options.js';
import type { ImageShape, ModelSpec } from './spec.js';

export interface CnnSmallOptions {
  /** Default 10. */
  classes?: number;
  /** Default `[28, 28, 1]` (MNIST, Fashion-MNIST). */
  inputShape?: ImageShape;
  /** Height = width, with the default's 1 channel (instead of `inputShape`). */
  inputSize?: number;
}

const OPTIONS = ['classes', 'inputShape', 'inputSize'] as const;

/**
 * The benchmark's small CNN: conv3×3 1→32 'same' + ReLU, maxpool 2, conv3×3 32→64 'same' + ReLU,
 * maxpool 2, flatten, dense 3136→10; biases on. 50,186 parameters on 28×28×1 (the layer names
 * are the speed benchmark's: conv1, pool1, conv2, pool2, flatten, logits).
 */
export function cnnSmall(options: CnnSmallOptions = {}): ModelSpec {
  const o = new OptionReader('cnn-small', options, OPTIONS);
  const classes = o.integer('classes', 10);
  const inputShape = o.inputShape([28, 28, 1]);
  const g = new SpecBuilder('cnn-small', inputShape, classes);
  let h = g.conv2d('conv1', g.input, { filters: 32, kernelSize: 3, padding: 'same' });
  h = g.maxPool('pool1', g.relu('relu1', h), { pool: 2 });
  h = g.conv2d('conv2', h, { filters: 64, kernelSize: 3, padding: 'same' });
  h = g.maxPool('pool2', g.relu('relu2', h), { pool: 2 });
  g.dense('logits', g.flatten('flatten', h), { units: classes });
  return g.build();
}

export const cnnSmallArchitecture: Architecture = {
  id: 'cnn-small',
  description:
    'the benchmark CNN: two 3×3 convs (32, 64) with max pooling, dense (50,186 parameters on 28×28×1)',
  options: OPTIONS,
  spec: (options) => cnnSmall(options as CnnSmallOptions),
};
