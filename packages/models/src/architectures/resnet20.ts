import type { Architecture } from './architecture.js';
import { SpecBuilder } from './builder.js';
import { OptionReader } from './options.js';
import { residualStagesAndHead } from './resnet-block.js';
import type { ImageShape, ModelSpec } from './spec.js';

export interface ResNet20Options {
  /** Default 10 (CIFAR-10). */
  classes?: number;
  /** Default `[32, 32, 3]`. */
  inputShape?: ImageShape;
  /** Height = width, 3 channels (instead of `inputShape`). */
  inputSize?: number;
}

const OPTIONS = ['classes', 'inputShape', 'inputSize'] as const;

/**
 * ResNet-20 for CIFAR (He et al. 2016, Section 4.2): conv3×3 → 16 + BN + ReLU, three stages of
 * three basic blocks with 16, 32 and 64 channels (the first block of stages 2 and 3 at stride 2),
 * global average pooling, dense 64 → classes. Convolutions have no bias; BN follows each.
 *
 * Shortcuts: identity within a stage; where the shape changes, a 1×1 convolution at stride 2 with
 * BN (option B). The paper's CIFAR models use option A (zero-padded identity, no weights); B is
 * used here because it is built from ops every exporter has (ONNX, tfjs-layers) and matches the
 * speed benchmark's ResNet-20. 272,474 trainable parameters at 10 classes (the paper's "0.27M";
 * option A would be 269,722), plus 1,568 batch-norm moving statistics. Layer names:
 * `stem.conv`, `stage{1-3}.block{1-3}.conv1` …, `logits`.
 */
export function resnet20(options: ResNet20Options = {}): ModelSpec {
  const o = new OptionReader('resnet20', options, OPTIONS);
  const classes = o.integer('classes', 10);
  const inputShape = o.inputShape([32, 32, 3]);
  const g = new SpecBuilder('resnet20', inputShape, classes);
  let h = g.conv2d('stem.conv', g.input, { filters: 16, kernelSize: 3, useBias: false });
  h = g.relu('stem.relu', g.batchNorm('stem.bn', h));
  residualStagesAndHead(g, h, 16, [16, 32, 64], 3, classes);
  return g.build();
}

export const resnet20Architecture: Architecture = {
  id: 'resnet20',
  description:
    'ResNet-20 for CIFAR (He et al. 2016 §4.2), 1×1 projection shortcuts (option B): 272,474 parameters',
  options: OPTIONS,
  spec: (options) => resnet20(options as ResNet20Options),
};
