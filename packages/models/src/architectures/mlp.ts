import type { Architecture } from './architecture.js';
import { SpecBuilder } from './builder.js';
import { OptionReader } from './options.js';
import type { ImageShape, ModelSpec } from './spec.js';

export interface MlpOptions {
  /** Default 10. */
  classes?: number;
  /** Default `[28, 28, 1]` (MNIST); the input is flattened. */
  inputShape?: ImageShape;
  /** Height = width, with the default's 1 channel (instead of `inputShape`). */
  inputSize?: number;
  /** Hidden layer widths, each followed by a ReLU; default `[300, 100]` (LeNet-300-100). */
  hidden?: readonly number[];
}

const OPTIONS = ['classes', 'inputShape', 'inputSize', 'hidden'] as const;

/**
 * A multilayer perceptron: flatten, then per hidden width a dense layer with bias and a ReLU,
 * then a dense layer to the logits. The default is LeNet-300-100 (LeCun et al. 1998): 266,610
 * parameters on 28×28 inputs. `hidden: []` is multinomial logistic regression.
 */
export function mlp(options: MlpOptions = {}): ModelSpec {
  const o = new OptionReader('mlp', options, OPTIONS);
  const classes = o.integer('classes', 10);
  const inputShape = o.inputShape([28, 28, 1]);
  const hidden = o.integerList('hidden', [300, 100], 1, true);
  const g = new SpecBuilder('mlp', inputShape, classes);
  let h = g.flatten('flatten', g.input);
  hidden.forEach((units, i) => {
    h = g.dense(`fc${i + 1}`, h, { units });
    h = g.relu(`relu${i + 1}`, h);
  });
  g.dense('logits', h, { units: classes });
  return g.build();
}

export const mlpArchitecture: Architecture = {
  id: 'mlp',
  description: 'multilayer perceptron (default LeNet-300-100: 266,610 parameters on 28×28)',
  options: OPTIONS,
  spec: (options) => mlp(options as MlpOptions),
};
