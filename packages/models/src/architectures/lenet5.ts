import type { Architecture } from './architecture.js';
import { SpecBuilder } from './builder.js';
import { OptionReader } from './options.js';
import type { ImageShape, ModelSpec } from './spec.js';

export interface LeNet5Options {
  /** Default 10. */
  classes?: number;
  /** Default `[28, 28, 1]` (MNIST). */
  inputShape?: ImageShape;
  /** Height = width, with the default's 1 channel (instead of `inputShape`). */
  inputSize?: number;
  /**
   * Padding of the first convolution: `'same'` (default) keeps 28×28 inputs at 28×28, the usual
   * way to run LeNet-5 on MNIST; `'valid'` is LeCun's original layout for 32×32 inputs.
   */
  conv1Padding?: 'same' | 'valid';
}

const OPTIONS = ['classes', 'inputShape', 'inputSize', 'conv1Padding'] as const;

/**
 * LeNet-5 (LeCun et al. 1998) with today's choices: ReLU and max pooling, C3 connected to every
 * S2 map. conv5×5 → 6, maxpool 2, conv5×5 'valid' → 16, maxpool 2, flatten (400), dense 120,
 * dense 84, dense → classes; biases everywhere. 61,706 parameters on 28×28×1 ('same' first conv)
 * or 32×32×1 ('valid').
 */
export function lenet5(options: LeNet5Options = {}): ModelSpec {
  const o = new OptionReader('lenet5', options, OPTIONS);
  const classes = o.integer('classes', 10);
  const inputShape = o.inputShape([28, 28, 1]);
  const padding = o.choice('conv1Padding', ['same', 'valid'] as const, 'same');
  const g = new SpecBuilder('lenet5', inputShape, classes);
  let h = g.conv2d('conv1', g.input, { filters: 6, kernelSize: 5, padding });
  h = g.maxPool('pool1', g.relu('relu1', h), { pool: 2 });
  h = g.conv2d('conv2', h, { filters: 16, kernelSize: 5, padding: 'valid' });
  h = g.maxPool('pool2', g.relu('relu2', h), { pool: 2 });
  h = g.flatten('flatten', h);
  h = g.relu('relu3', g.dense('fc1', h, { units: 120 }));
  h = g.relu('relu4', g.dense('fc2', h, { units: 84 }));
  g.dense('logits', h, { units: classes });
  return g.build();
}

export const lenet5Architecture: Architecture = {
  id: 'lenet5',
  description: 'LeNet-5 with ReLU and max pooling (61,706 parameters on 28×28×1)',
  options: OPTIONS,
  spec: (options) => lenet5(options as LeNet5Options),
};
