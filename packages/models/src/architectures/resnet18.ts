import type { Architecture } from './architecture.js';
import { SpecBuilder } from './builder.js';
import { OptionReader } from './options.js';
import { residualStagesAndHead } from './resnet-block.js';
import type { ImageShape, ModelSpec } from './spec.js';

export type ResNetStem = 'cifar' | 'imagenet';

export interface ResNet18Options {
  /**
   * `'cifar'` (default): conv3×3 stride 1, no max pooling, for 32×32 inputs. `'imagenet'`:
   * conv7×7 stride 2 and maxpool 3×3 stride 2 (torchvision's resnet18). The stem also picks the
   * defaults of `inputShape` (32×32×3 or 224×224×3) and `classes` (10 or 1000).
   */
  stem?: ResNetStem;
  classes?: number;
  inputShape?: ImageShape;
  /** Height = width, 3 channels (instead of `inputShape`). */
  inputSize?: number;
}

const OPTIONS = ['stem', 'classes', 'inputShape', 'inputSize'] as const;

/**
 * ResNet-18 (He et al. 2016, Table 1): the stem, four stages of two basic blocks with 64, 128,
 * 256 and 512 channels (stages 2–4 start at stride 2, with 1×1 projection shortcuts, option B),
 * global average pooling, dense 512 → classes. Convolutions have no bias; BN follows each.
 * `'imagenet'` at 1000 classes is torchvision's resnet18, 11,689,512 parameters; `'cifar'` at 10
 * classes has 11,173,962. Padding is TensorFlow's 'same' (at stride 2 on even sizes the extra
 * row/column is padded bottom/right where PyTorch pads both sides; shapes and counts agree).
 * Layer names: `stem.conv`, `stem.bn`, `stem.pool`, `stage{1-4}.block{1-2}.conv1` …, `logits`.
 */
export function resnet18(options: ResNet18Options = {}): ModelSpec {
  const o = new OptionReader('resnet18', options, OPTIONS);
  const stem = o.choice('stem', ['cifar', 'imagenet'] as const, 'cifar');
  const imagenet = stem === 'imagenet';
  const classes = o.integer('classes', imagenet ? 1000 : 10);
  const inputShape = o.inputShape(imagenet ? [224, 224, 3] : [32, 32, 3]);
  const g = new SpecBuilder('resnet18', inputShape, classes);
  let h = imagenet
    ? g.conv2d('stem.conv', g.input, { filters: 64, kernelSize: 7, strides: 2, useBias: false })
    : g.conv2d('stem.conv', g.input, { filters: 64, kernelSize: 3, useBias: false });
  h = g.relu('stem.relu', g.batchNorm('stem.bn', h));
  if (imagenet) h = g.maxPool('stem.pool', h, { pool: 3, strides: 2, padding: 'same' });
  residualStagesAndHead(g, h, 64, [64, 128, 256, 512], 2, classes);
  return g.build();
}

export const resnet18Architecture: Architecture = {
  id: 'resnet18',
  description:
    "ResNet-18; stem 'cifar' (3×3/1, 11,173,962 parameters at 10 classes) or 'imagenet' (7×7/2 + maxpool, 11,689,512 at 1000)",
  options: OPTIONS,
  spec: (options) => resnet18(options as ResNet18Options),
};
