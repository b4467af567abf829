import type { SpecBuilder } from './builder.js';

/**
 * A basic residual block (He et al. 2016, Fig. 2 left): conv3×3 (stride s) → BN → ReLU → conv3×3
 * → BN, plus the shortcut, then ReLU. Convolutions have no bias (batch norm follows each). Where
 * the shape changes (stride ≠ 1 or a new width) the shortcut is a 1×1 convolution with stride s
 * and batch norm: the paper's option B, as torchvision's ResNets use. Returns the block's output.
 */
export function basicBlock(
  g: SpecBuilder,
  prefix: string,
  input: string,
  inChannels: number,
  channels: number,
  stride: number,
): string {
  let r = g.conv2d(`${prefix}.conv1`, input, {
    filters: channels,
    kernelSize: 3,
    strides: stride,
    useBias: false,
  });
  r = g.relu(`${prefix}.relu1`, g.batchNorm(`${prefix}.bn1`, r));
  r = g.conv2d(`${prefix}.conv2`, r, { filters: channels, kernelSize: 3, useBias: false });
  r = g.batchNorm(`${prefix}.bn2`, r);
  let s = input;
  if (stride !== 1 || inChannels !== channels) {
    s = g.conv2d(`${prefix}.shortcut.conv`, input, {
      filters: channels,
      kernelSize: 1,
      strides: stride,
      useBias: false,
    });
    s = g.batchNorm(`${prefix}.shortcut.bn`, s);
  }
  return g.relu(`${prefix}.relu2`, g.add(`${prefix}.add`, r, s));
}

/**
 * The body and head shared by ResNet-18 and ResNet-20: stages of `blocks` basic blocks, one per
 * width, the first block of every stage after the first at stride 2; then global average pooling
 * and the dense classifier `logits`. `h` is the stem's output with `channels` channels.
 */
export function residualStagesAndHead(
  g: SpecBuilder,
  h: string,
  channels: number,
  widths: readonly number[],
  blocks: number,
  classes: number,
): void {
  let x = h;
  let c = channels;
  widths.forEach((width, s) => {
    for (let block = 0; block < blocks; block++) {
      const stride = s > 0 && block === 0 ? 2 : 1;
      x = basicBlock(g, `stage${s + 1}.block${block + 1}`, x, c, width, stride);
      c = width;
    }
  });
  g.dense('logits', g.globalAvgPool('pool', x), { units: classes });
}
