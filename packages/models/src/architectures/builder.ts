import type { Padding } from '@dqa/core';
import { inferShapes } from './analysis.js';
import { type ImageShape, MODEL_INPUT, type ModelNode, type ModelSpec, type Pair } from './spec.js';

/** `n` or `[h, w]`. */
export type PairLike = number | readonly [number, number];

function toPair(v: PairLike): Pair {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

export interface ConvArgs {
  filters: number;
  kernelSize: PairLike;
  /** Default 1. */
  strides?: PairLike;
  /** Default `'same'`. */
  padding?: Padding;
  /** Default 1. */
  dilations?: PairLike;
  /** Default true. */
  useBias?: boolean;
}

export interface DepthwiseArgs {
  kernelSize: PairLike;
  /** Default 1. */
  multiplier?: number;
  strides?: PairLike;
  padding?: Padding;
  dilations?: PairLike;
  useBias?: boolean;
}

export interface PoolArgs {
  pool: PairLike;
  /** Default: the pool size. */
  strides?: PairLike;
  /** Default `'valid'`. */
  padding?: Padding;
}

/**
 * Writes a spec node by node: each method appends a node and returns its name, which later nodes
 * take as input. `build()` validates the graph (shape inference, output `[classes]`).
 *
 * ```ts
 * const g = new SpecBuilder('tiny', [8, 8, 1], 3);
 * let h = g.conv2d('conv', g.input, { filters: 4, kernelSize: 3 });
 * h = g.relu('relu', h);
 * g.dense('logits', g.flatten('flatten', h), { units: 3 });
 * const spec = g.build();
 * ```
 */
export class SpecBuilder {
  /** The model input's name, to pass as the first node's input. */
  readonly input = MODEL_INPUT;
  private readonly nodes: ModelNode[] = [];

  constructor(
    readonly name: string,
    readonly inputShape: ImageShape,
    readonly classes: number,
  ) {}

  private push(node: ModelNode): string {
    this.nodes.push(node);
    return node.name;
  }

  conv2d(name: string, input: string, a: ConvArgs): string {
    return this.push({
      op: 'conv2d',
      name,
      inputs: [input],
      filters: a.filters,
      kernelSize: toPair(a.kernelSize),
      strides: toPair(a.strides ?? 1),
      padding: a.padding ?? 'same',
      dilations: toPair(a.dilations ?? 1),
      useBias: a.useBias ?? true,
    });
  }

  depthwiseConv2d(name: string, input: string, a: DepthwiseArgs): string {
    return this.push({
      op: 'depthwiseConv2d',
      name,
      inputs: [input],
      multiplier: a.multiplier ?? 1,
      kernelSize: toPair(a.kernelSize),
      strides: toPair(a.strides ?? 1),
      padding: a.padding ?? 'same',
      dilations: toPair(a.dilations ?? 1),
      useBias: a.useBias ?? true,
    });
  }

  dense(name: string, input: string, a: { units: number; useBias?: boolean }): string {
    return this.push({
      op: 'dense',
      name,
      inputs: [input],
      units: a.units,
      useBias: a.useBias ?? true,
    });
  }

  /** Defaults: epsilon 1e-5, momentum 0.9 (moving = 0.9 · moving + 0.1 · batch). */
  batchNorm(name: string, input: string, a: { epsilon?: number; momentum?: number } = {}): string {
    return this.push({
      op: 'batchNorm',
      name,
      inputs: [input],
      epsilon: a.epsilon ?? 1e-5,
      momentum: a.momentum ?? 0.9,
    });
  }

  relu(name: string, input: string): string {
    return this.push({ op: 'relu', name, inputs: [input] });
  }

  relu6(name: string, input: string): string {
    return this.push({ op: 'relu6', name, inputs: [input] });
  }

  maxPool(name: string, input: string, a: PoolArgs): string {
    return this.pool('maxPool', name, input, a);
  }

  avgPool(name: string, input: string, a: PoolArgs): string {
    return this.pool('avgPool', name, input, a);
  }

  private pool(op: 'maxPool' | 'avgPool', name: string, input: string, a: PoolArgs): string {
    return this.push({
      op,
      name,
      inputs: [input],
      pool: toPair(a.pool),
      strides: toPair(a.strides ?? a.pool),
      padding: a.padding ?? 'valid',
    });
  }

  globalAvgPool(name: string, input: string): string {
    return this.push({ op: 'globalAvgPool', name, inputs: [input] });
  }

  flatten(name: string, input: string): string {
    return this.push({ op: 'flatten', name, inputs: [input] });
  }

  add(name: string, a: string, b: string): string {
    return this.push({ op: 'add', name, inputs: [a, b] });
  }

  /** The validated spec (throws naming the node whose shapes do not fit). */
  build(): ModelSpec {
    const spec: ModelSpec = {
      name: this.name,
      inputShape: [this.inputShape[0], this.inputShape[1], this.inputShape[2]],
      classes: this.classes,
      nodes: [...this.nodes],
    };
    inferShapes(spec);
    return spec;
  }
}
