import type { Architecture } from './architecture.js';
import { SpecBuilder } from './builder.js';
import { OptionReader } from './options.js';
import type { ImageShape, ModelSpec } from './spec.js';

export type MobileNetV2Variant = 'cifar' | 'imagenet';

export interface MobileNetV2Options {
  /**
   * `'imagenet'`: torchvision's mobilenet_v2 for 224×224 inputs (stem at stride 2, output stride
   * 32). `'cifar'` (default), for 32×32 inputs: the stem and the first stride-2 stage (t=6, c=24)
   * run at stride 1, so the network downsamples 8× (32 → 4) instead of 32×, the usual CIFAR
   * adaptation (as in kuangliu/pytorch-cifar). The same weights either way. The variant also picks
   * the defaults of `inputShape` (32×32×3 or 224×224×3) and `classes` (10 or 1000).
   */
  variant?: MobileNetV2Variant;
  /** Width multiplier (channels × width, rounded to multiples of 8 as torchvision does); default 1. */
  width?: number;
  classes?: number;
  inputShape?: ImageShape;
  /** Height = width, 3 channels (instead of `inputShape`). */
  inputSize?: number;
}

const OPTIONS = ['variant', 'width', 'classes', 'inputShape', 'inputSize'] as const;

/** Inverted residual stages (Sandler et al. 2018, Table 2): expansion t, channels c, repeats n, stride s. */
const STAGES: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** torchvision's `_make_divisible`: nearest multiple of `divisor`, never more than 10% below `v`. */
export function makeDivisible(v: number, divisor = 8): number {
  let out = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

/**
 * MobileNetV2 (Sandler et al. 2018) as torchvision builds it: conv3×3 → 32 + BN + ReLU6, 17
 * inverted residual blocks (1×1 expansion + BN + ReLU6 when t ≠ 1, depthwise 3×3 + BN + ReLU6,
 * linear 1×1 projection + BN; identity shortcut where the stride is 1 and the widths match),
 * conv1×1 → 1280 + BN + ReLU6, global average pooling, dense → classes. Convolutions have no
 * bias. 3,504,872 parameters at width 1 and 1000 classes (torchvision); torchvision's dropout
 * (p = 0.2) before the classifier is left out (the IR has no dropout; it has no weights).
 * Padding is TensorFlow's 'same'. Layer names: `stem.conv`, `block{1-17}.expand.conv`,
 * `block{i}.depthwise.conv`, `block{i}.project.conv` (each with `.bn`, `.relu`), `block{i}.add`,
 * `head.conv`, `pool`, `logits`.
 */
export function mobilenetv2(options: MobileNetV2Options = {}): ModelSpec {
  const o = new OptionReader('mobilenetv2', options, OPTIONS);
  const variant = o.choice('variant', ['cifar', 'imagenet'] as const, 'cifar');
  const imagenet = variant === 'imagenet';
  const width = o.number('width', 1, (v) => v > 0 && v <= 4, 'a number in (0, 4]');
  const classes = o.integer('classes', imagenet ? 1000 : 10);
  const inputShape = o.inputShape(imagenet ? [224, 224, 3] : [32, 32, 3]);
  const g = new SpecBuilder('mobilenetv2', inputShape, classes);

  let channels = makeDivisible(32 * width);
  let h = g.conv2d('stem.conv', g.input, {
    filters: channels,
    kernelSize: 3,
    strides: imagenet ? 2 : 1,
    useBias: false,
  });
  h = g.relu6('stem.relu', g.batchNorm('stem.bn', h));
  let index = 0;
  STAGES.forEach(([t, c, n, s], stage) => {
    const out = makeDivisible(c * width);
    // CIFAR: the second stage (the first at stride 2) keeps the resolution.
    const stageStride = !imagenet && stage === 1 ? 1 : s;
    for (let i = 0; i < n; i++) {
      index++;
      const p = `block${index}`;
      const stride = i === 0 ? stageStride : 1;
      const hidden = Math.round(channels * t);
      let r = h;
      if (t !== 1) {
        r = g.conv2d(`${p}.expand.conv`, r, { filters: hidden, kernelSize: 1, useBias: false });
        r = g.relu6(`${p}.expand.relu`, g.batchNorm(`${p}.expand.bn`, r));
      }
      r = g.depthwiseConv2d(`${p}.depthwise.conv`, r, {
        kernelSize: 3,
        strides: stride,
        useBias: false,
      });
      r = g.relu6(`${p}.depthwise.relu`, g.batchNorm(`${p}.depthwise.bn`, r));
      r = g.conv2d(`${p}.project.conv`, r, { filters: out, kernelSize: 1, useBias: false });
      r = g.batchNorm(`${p}.project.bn`, r);
      h = stride === 1 && channels === out ? g.add(`${p}.add`, h, r) : r;
      channels = out;
    }
  });
  const last = makeDivisible(1280 * Math.max(1, width));
  h = g.conv2d('head.conv', h, { filters: last, kernelSize: 1, useBias: false });
  h = g.relu6('head.relu', g.batchNorm('head.bn', h));
  h = g.globalAvgPool('pool', h);
  g.dense('logits', h, { units: classes });
  return g.build();
}

export const mobilenetv2Architecture: Architecture = {
  id: 'mobilenetv2',
  description:
    "MobileNetV2 (torchvision layout; 3,504,872 parameters at width 1, 1000 classes); variant 'cifar' (32×32, stride-1 stem and stage 2) or 'imagenet' (224×224)",
  options: OPTIONS,
  spec: (options) => mobilenetv2(options as MobileNetV2Options),
};
