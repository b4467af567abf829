import {
  ArgumentError,
  conv2dGeometry,
  DqaError,
  formatShape,
  type Padding,
  pool2dGeometry,
  ShapeError,
} from '@dqa/core';
import {
  isQuantizable,
  MODEL_INPUT,
  type ModelNode,
  type ModelSpec,
  type Pair,
  type QuantizableNode,
} from './spec.js';

/**
 * Pure functions over a `ModelSpec`: validation with shape inference, the variables each node
 * owns, and the counts that follow from them. `buildModel` and the exporters use these, so a
 * spec that passes `inferShapes` builds.
 */

/** Inputs each op takes. */
const ARITY: Readonly<Record<ModelNode['op'], number>> = {
  conv2d: 1,
  depthwiseConv2d: 1,
  dense: 1,
  batchNorm: 1,
  relu: 1,
  relu6: 1,
  maxPool: 1,
  avgPool: 1,
  globalAvgPool: 1,
  flatten: 1,
  add: 2,
};

function where(spec: ModelSpec, node: ModelNode): string {
  return `model '${spec.name}', node '${node.name}' (${node.op})`;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function checkPair(spec: ModelSpec, node: ModelNode, what: string, v: Pair | undefined): void {
  if (!Array.isArray(v) || v.length !== 2 || !isPositiveInt(v[0]) || !isPositiveInt(v[1])) {
    throw new ArgumentError(
      `${where(spec, node)}: ${what} must be a pair of positive integers, got ${JSON.stringify(v)}`,
    );
  }
}

function checkPadding(spec: ModelSpec, node: ModelNode, p: Padding): void {
  if (p === 'same' || p === 'valid') return;
  const ok =
    Array.isArray(p) &&
    p.length === 2 &&
    p.every(
      (side) =>
        Array.isArray(side) &&
        side.length === 2 &&
        side.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0),
    );
  if (!ok) {
    throw new ArgumentError(
      `${where(spec, node)}: padding must be 'same', 'valid' or [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(p)}`,
    );
  }
}

function checkHeader(spec: ModelSpec): void {
  if (typeof spec.name !== 'string' || spec.name.length === 0) {
    throw new ArgumentError(
      `model spec: name must be a non-empty string, got ${JSON.stringify(spec.name)}`,
    );
  }
  const s = spec.inputShape;
  if (!Array.isArray(s) || s.length !== 3 || !s.every(isPositiveInt)) {
    throw new ShapeError(
      `model '${spec.name}': inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(s)}`,
    );
  }
  if (!isPositiveInt(spec.classes)) {
    throw new ArgumentError(
      `model '${spec.name}': classes must be a positive integer, got ${JSON.stringify(spec.classes)}`,
    );
  }
  if (!Array.isArray(spec.nodes) || spec.nodes.length === 0) {
    throw new ArgumentError(`model '${spec.name}': the spec has no nodes`);
  }
}

/** Output shape (one example) of `node` given its input shapes; throws naming the node. */
function nodeOutputShape(
  spec: ModelSpec,
  node: ModelNode,
  ins: readonly (readonly number[])[],
): number[] {
  const x = ins[0]!;
  const needImage = () => {
    if (x.length !== 3) {
      throw new ShapeError(
        `${where(spec, node)}: needs an image input [height, width, channels], but '${node.inputs[0]}' has shape ${formatShape(x)}`,
      );
    }
  };
  // Geometry errors from core name the op but not the node: say which node it was.
  const geometry = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof DqaError) {
        throw new ShapeError(
          `${where(spec, node)}: input '${node.inputs[0]}' ${formatShape(x)}: ${e.message}`,
        );
      }
      throw e;
    }
  };
  switch (node.op) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      needImage();
      const depthwise = node.op === 'depthwiseConv2d';
      const out = depthwise ? node.multiplier : node.filters;
      if (!isPositiveInt(out)) {
        throw new ArgumentError(
          `${where(spec, node)}: ${depthwise ? 'multiplier' : 'filters'} must be a positive integer, got ${JSON.stringify(out)}`,
        );
      }
      checkPair(spec, node, 'kernelSize', node.kernelSize);
      checkPair(spec, node, 'strides', node.strides);
      checkPair(spec, node, 'dilations', node.dilations);
      checkPadding(spec, node, node.padding);
      if (typeof node.useBias !== 'boolean') {
        throw new ArgumentError(`${where(spec, node)}: useBias must be true or false`);
      }
      const g = geometry(() =>
        conv2dGeometry(
          [1, ...x],
          [node.kernelSize[0], node.kernelSize[1], x[2]!, out],
          { strides: node.strides, padding: node.padding, dilations: node.dilations },
          depthwise,
        ),
      );
      return [g.outHeight, g.outWidth, g.outChannels];
    }
    case 'dense':
      if (!isPositiveInt(node.units)) {
        throw new ArgumentError(
          `${where(spec, node)}: units must be a positive integer, got ${JSON.stringify(node.units)}`,
        );
      }
      if (typeof node.useBias !== 'boolean') {
        throw new ArgumentError(`${where(spec, node)}: useBias must be true or false`);
      }
      if (x.length !== 1) {
        throw new ShapeError(
          `${where(spec, node)}: needs a flat input [features], but '${node.inputs[0]}' has shape ${formatShape(x)}; add a flatten or globalAvgPool node before it`,
        );
      }
      return [node.units];
    case 'batchNorm':
      if (!(typeof node.epsilon === 'number' && node.epsilon > 0)) {
        throw new ArgumentError(`${where(spec, node)}: epsilon must be > 0, got ${node.epsilon}`);
      }
      if (!(typeof node.momentum === 'number' && node.momentum >= 0 && node.momentum < 1)) {
        throw new ArgumentError(
          `${where(spec, node)}: momentum must be in [0, 1) (moving = momentum · moving + (1 − momentum) · batch), got ${node.momentum}`,
        );
      }
      return [...x];
    case 'relu':
    case 'relu6':
      return [...x];
    case 'maxPool':
    case 'avgPool': {
      needImage();
      checkPair(spec, node, 'pool', node.pool);
      checkPair(spec, node, 'strides', node.strides);
      checkPadding(spec, node, node.padding);
      const g = geometry(() =>
        pool2dGeometry(
          [1, ...x],
          { filterSize: node.pool, strides: node.strides, padding: node.padding },
          node.op,
        ),
      );
      return [g.outHeight, g.outWidth, g.outChannels];
    }
    case 'globalAvgPool':
      needImage();
      return [x[2]!];
    case 'flatten':
      return [x.reduce((a, d) => a * d, 1)];
    case 'add': {
      const y = ins[1]!;
      if (x.length !== y.length || x.some((d, i) => d !== y[i])) {
        throw new ShapeError(
          `${where(spec, node)}: inputs must have the same shape, but '${node.inputs[0]}' is ${formatShape(x)} and '${node.inputs[1]}' is ${formatShape(y)}`,
        );
      }
      return [...x];
    }
    default: {
      const unknown = node as { op?: unknown };
      throw new ArgumentError(
        `${where(spec, node)}: unknown op ${JSON.stringify(unknown.op)}; known: ${Object.keys(ARITY).join(', ')}`,
      );
    }
  }
}

/**
 * Validates `spec` and returns the output shape (one example, no batch) of every node, and of
 * `MODEL_INPUT`. Throws an `ArgumentError` for a structural problem (duplicate or reserved name,
 * unknown input, wrong number of inputs, bad attribute, unused node) and a `ShapeError` for a
 * shape that does not fit, each naming the model and the node; the last node must output
 * `[classes]`.
 */
export function inferShapes(spec: ModelSpec): Map<string, readonly number[]> {
  checkHeader(spec);
  const shapes = new Map<string, readonly number[]>([[MODEL_INPUT, [...spec.inputShape]]]);
  const used = new Set<string>();
  for (const node of spec.nodes) {
    if (typeof node.name !== 'string' || node.name.length === 0) {
      throw new ArgumentError(
        `model '${spec.name}': every node needs a non-empty name, got ${JSON.stringify(node.name)} (${node.op})`,
      );
    }
    if (node.name === MODEL_INPUT) {
      throw new ArgumentError(
        `model '${spec.name}': node name '${MODEL_INPUT}' is reserved for the model input`,
      );
    }
    if (shapes.has(node.name)) {
      throw new ArgumentError(`model '${spec.name}': two nodes are named '${node.name}'`);
    }
    const arity = ARITY[node.op];
    if (arity !== undefined && (!Array.isArray(node.inputs) || node.inputs.length !== arity)) {
      throw new ArgumentError(
        `${where(spec, node)}: takes ${arity} input${arity === 1 ? '' : 's'}, got ${JSON.stringify(node.inputs)}`,
      );
    }
    const ins = (node.inputs ?? []).map((name) => {
      const s = shapes.get(name);
      if (!s) {
        throw new ArgumentError(
          `${where(spec, node)}: input '${name}' is not '${MODEL_INPUT}' or an earlier node (nodes must be in topological order)`,
        );
      }
      used.add(name);
      return s;
    });
    shapes.set(node.name, nodeOutputShape(spec, node, ins));
  }
  const last = spec.nodes[spec.nodes.length - 1]!;
  const out = shapes.get(last.name)!;
  if (out.length !== 1 || out[0] !== spec.classes) {
    throw new ShapeError(
      `model '${spec.name}': the output node '${last.name}' has shape ${formatShape(out)}, expected [${spec.classes}] (one logit per class)`,
    );
  }
  const unused = spec.nodes.slice(0, -1).filter((n) => !used.has(n.name));
  if (unused.length) {
    throw new ArgumentError(
      `model '${spec.name}': node${unused.length === 1 ? '' : 's'} ${unused.map((n) => `'${n.name}'`).join(', ')} feed${unused.length === 1 ? 's' : ''} nothing (only the last node is the output)`,
    );
  }
  return shapes;
}

/** The validated output shape, `[classes]`. */
export function outputShape(spec: ModelSpec): readonly number[] {
  const shapes = inferShapes(spec);
  return shapes.get(spec.nodes[spec.nodes.length - 1]!.name)!;
}

/** What a variable is for; decides its initialisation. */
export type ParameterRole = 'kernel' | 'bias' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance';

/** Variable-name suffix of each role (the Keras names). */
export const PARAMETER_SUFFIX: Readonly<Record<ParameterRole, string>> = {
  kernel: 'kernel',
  bias: 'bias',
  gamma: 'gamma',
  beta: 'beta',
  movingMean: 'moving_mean',
  movingVariance: 'moving_variance',
};

/** One variable a node owns. */
export interface ParameterSpec {
  /** The node's name. */
  readonly layer: string;
  readonly op: ModelNode['op'];
  readonly role: ParameterRole;
  /** `<layer>/<suffix>`, e.g. `stage1.block1.conv1/kernel`. */
  readonly name: string;
  readonly shape: readonly number[];
  /** False for batch norm's moving statistics (state, not trained by the optimizer). */
  readonly trainable: boolean;
}

function param(
  node: ModelNode,
  role: ParameterRole,
  shape: readonly number[],
  trainable = true,
): ParameterSpec {
  return {
    layer: node.name,
    op: node.op,
    role,
    name: `${node.name}/${PARAMETER_SUFFIX[role]}`,
    shape,
    trainable,
  };
}

/** Every variable of the model, in node order (kernel, bias; γ, β, moving mean, moving variance). */
export function parameterSpecs(spec: ModelSpec): ParameterSpec[] {
  const shapes = inferShapes(spec);
  const out: ParameterSpec[] = [];
  for (const node of spec.nodes) {
    const x = shapes.get(node.inputs[0]!)!;
    switch (node.op) {
      case 'conv2d':
        out.push(param(node, 'kernel', [...node.kernelSize, x[2]!, node.filters]));
        if (node.useBias) out.push(param(node, 'bias', [node.filters]));
        break;
      case 'depthwiseConv2d':
        out.push(param(node, 'kernel', [...node.kernelSize, x[2]!, node.multiplier]));
        if (node.useBias) out.push(param(node, 'bias', [x[2]! * node.multiplier]));
        break;
      case 'dense':
        out.push(param(node, 'kernel', [x[0]!, node.units]));
        if (node.useBias) out.push(param(node, 'bias', [node.units]));
        break;
      case 'batchNorm': {
        const c = x[x.length - 1]!;
        out.push(param(node, 'gamma', [c]), param(node, 'beta', [c]));
        out.push(param(node, 'movingMean', [c], false), param(node, 'movingVariance', [c], false));
        break;
      }
      default:
        break;
    }
  }
  return out;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

/** Trainable parameters (kernels, biases, batch norm's γ and β): S of the paper's eq. 6. */
export function countParameters(spec: ModelSpec): number {
  return parameterSpecs(spec)
    .filter((p) => p.trainable)
    .reduce((n, p) => n + sizeOf(p.shape), 0);
}

/** Non-trainable state: batch norm's moving means and variances. */
export function countState(spec: ModelSpec): number {
  return parameterSpecs(spec)
    .filter((p) => !p.trainable)
    .reduce((n, p) => n + sizeOf(p.shape), 0);
}

/** The conv2d, depthwiseConv2d and dense nodes, in order: the layers DQA quantizes. */
export function quantizableLayers(spec: ModelSpec): QuantizableNode[] {
  return spec.nodes.filter(isQuantizable);
}

/** One row of `summarizeSpec`. */
export interface SpecSummaryRow {
  name: string;
  op: ModelNode['op'];
  inputs: readonly string[];
  /** Output shape of one example. */
  outputShape: readonly number[];
  /** Trainable parameters of this node. */
  parameters: number;
}

/** Per node: op, inputs, output shape and trainable parameters (for printing a model). */
export function summarizeSpec(spec: ModelSpec): SpecSummaryRow[] {
  const shapes = inferShapes(spec);
  const params = new Map<string, number>();
  for (const p of parameterSpecs(spec)) {
    if (p.trainable) params.set(p.layer, (params.get(p.layer) ?? 0) + sizeOf(p.shape));
  }
  return spec.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    inputs: n.inputs,
    outputShape: shapes.get(n.name)!,
    parameters: params.get(n.name) ?? 0,
  }));
}
