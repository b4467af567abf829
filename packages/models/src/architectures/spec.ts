import type { Padding } from '@dqa/core';

/**
 * The declarative model IR: a backend-agnostic description of a network that `buildModel` turns
 * into variables and a forward pass on any `Backend`, and that exporters (ONNX, tfjs-layers) walk.
 *
 * A spec is a list of named nodes in topological order. Each node has a unique `name`, an `op`,
 * its attributes (always in normalised form: pairs are pairs, defaults written out) and the names
 * of its inputs: earlier nodes or `MODEL_INPUT`, the image batch. The last node is the output:
 * logits of shape `[classes]` (no softmax). Layouts are the Backend's: NHWC images, HWIO conv
 * kernels, `[fh, fw, c, multiplier]` depthwise kernels, `[in, out]` dense kernels.
 */

/** The name by which nodes refer to the model's input (reserved: no node may use it). */
export const MODEL_INPUT = 'input';

/** `[height, width]` (or `[h, w]` strides/dilations). */
export type Pair = readonly [number, number];

/** `[height, width, channels]`, one example (NHWC without the batch). */
export type ImageShape = readonly [number, number, number];

interface NodeBase {
  /** Unique within the spec; names the node's variables (`<name>/kernel`, …). */
  readonly name: string;
  /** Names of the input nodes (or `MODEL_INPUT`); two for `add`, one otherwise. */
  readonly inputs: readonly string[];
}

/** 2-D convolution, kernel `[kh, kw, inC, filters]`, optional bias `[filters]`. */
export interface Conv2DNode extends NodeBase {
  readonly op: 'conv2d';
  readonly filters: number;
  readonly kernelSize: Pair;
  readonly strides: Pair;
  readonly padding: Padding;
  readonly dilations: Pair;
  readonly useBias: boolean;
}

/** Depthwise convolution, kernel `[kh, kw, inC, multiplier]`, optional bias `[inC · multiplier]`. */
export interface DepthwiseConv2DNode extends NodeBase {
  readonly op: 'depthwiseConv2d';
  readonly multiplier: number;
  readonly kernelSize: Pair;
  readonly strides: Pair;
  readonly padding: Padding;
  readonly dilations: Pair;
  readonly useBias: boolean;
}

/** Fully connected layer on a flat input, kernel `[in, units]`, optional bias `[units]`. */
export interface DenseNode extends NodeBase {
  readonly op: 'dense';
  readonly units: number;
  readonly useBias: boolean;
}

/**
 * Batch normalisation over the last axis: γ (`gamma`) and β (`beta`) trainable, moving mean and
 * variance as state, updated in training as `moving = momentum · moving + (1 − momentum) · batch`
 * (PyTorch's momentum 0.1 is `momentum: 0.9` here, the Keras convention).
 */
export interface BatchNormNode extends NodeBase {
  readonly op: 'batchNorm';
  readonly epsilon: number;
  readonly momentum: number;
}

/** `relu`: max(x, 0); `relu6`: min(max(x, 0), 6). */
export interface ActivationNode extends NodeBase {
  readonly op: 'relu' | 'relu6';
}

/** Max or average pooling over `pool` windows. */
export interface Pool2DNode extends NodeBase {
  readonly op: 'maxPool' | 'avgPool';
  readonly pool: Pair;
  readonly strides: Pair;
  readonly padding: Padding;
}

/** Mean over height and width: `[h, w, c]` → `[c]`. */
export interface GlobalAvgPoolNode extends NodeBase {
  readonly op: 'globalAvgPool';
}

/** Row-major (NHWC) flattening: `[h, w, c]` → `[h · w · c]`. */
export interface FlattenNode extends NodeBase {
  readonly op: 'flatten';
}

/** Elementwise sum of two inputs of the same shape (residual connections). */
export interface AddNode extends NodeBase {
  readonly op: 'add';
}

export type ModelNode =
  | Conv2DNode
  | DepthwiseConv2DNode
  | DenseNode
  | BatchNormNode
  | ActivationNode
  | Pool2DNode
  | GlobalAvgPoolNode
  | FlattenNode
  | AddNode;

export type ModelOp = ModelNode['op'];

/** The layers whose weights DQA quantizes. */
export type QuantizableNode = Conv2DNode | DepthwiseConv2DNode | DenseNode;

export const QUANTIZABLE_OPS: readonly ModelOp[] = ['conv2d', 'depthwiseConv2d', 'dense'];

export function isQuantizable(node: ModelNode): node is QuantizableNode {
  return node.op === 'conv2d' || node.op === 'depthwiseConv2d' || node.op === 'dense';
}

export interface ModelSpec {
  /** Architecture name, e.g. `resnet20`. */
  readonly name: string;
  /** One input example, NHWC without the batch. */
  readonly inputShape: ImageShape;
  /** Number of output logits. */
  readonly classes: number;
  /** Topologically ordered; the last node is the output. */
  readonly nodes: readonly ModelNode[];
}
