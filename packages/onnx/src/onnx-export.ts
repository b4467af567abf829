import { createHash } from 'node:crypto';
import { ArgumentError, conv2dGeometry, pool2dGeometry } from '@dqa/core';
import {
  type Conv2DNode,
  type DepthwiseConv2DNode,
  inferShapes,
  MODEL_INPUT,
  type ModelNode,
  normalizationTable,
} from '@dqa/models';
import pkg from '../package.json' with { type: 'json' };
import { chooseEncoding, type EncodingKind } from './encoding.js';
import {
  type ExportedLayer,
  type ExportedModel,
  type ExportedTensor,
  tensorValues,
  validateExportedModel,
} from './exported-model.js';
import { type IntType, intTypes, intTypesForOpset, OnnxDataType, packInts } from './int-pack.js';
import {
  float32Bytes,
  groupAxis,
  int32Bytes,
  int64Bytes,
  onnxKernelLayout,
  permute,
} from './layout.js';
import { groupsOf } from './levels.js';
import {
  AttributeType,
  encodeGraph,
  encodeModel,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
} from './proto.js';

/** Opsets the exporter writes, and the ONNX IR version each needs. */
export const onnxOpsets = { 13: 7, 21: 10, 25: 13 } as const;
export type OnnxOpset = keyof typeof onnxOpsets;

/** The metadata key whose value says "written by DQA-TS", and the format revision. */
export const ONNX_FORMAT_KEY = 'dqa.format';
export const ONNX_FORMAT = 'dqa-onnx/1';
/** Metadata: SHA-256 (hex) of the serialised GraphProto, checked when a file is read. */
export const ONNX_CHECKSUM_KEY = 'dqa.graph_sha256';
/** Metadata: JSON of the input contract, class names, per-layer summary and source. */
export const ONNX_MODEL_KEY = 'dqa.model';

export interface OnnxExportOptions {
  /**
   * 25 (default): 1–2-bit weights as INT2/UINT2 and 3–4-bit as INT4/UINT4 (onnxruntime ≥ 1.23-era
   * runtimes); 21: 4-bit types at most; 13: INT8/UINT8 only, for older runtimes.
   */
  opset?: OnnxOpset;
  /** `quantized` (default), or `float`: every weight as float32 (the same model, for comparison). */
  weights?: 'quantized' | 'float';
}

/** How one kernel was written. */
export interface OnnxKernelSummary {
  layer: string;
  /** Q_1's id and bits, when the layer was trained quantized. */
  quantizer?: string;
  bits?: number;
  encoding: EncodingKind | 'float';
  /** Storage type of the codes, or `float32`. */
  type: IntType | 'float32';
  elements: number;
  /** Bytes of the kernel's data (codes, or float32 values). */
  bytes: number;
  /** Largest |dequantized − trained level| relative to the largest level (0: exact). */
  relativeError: number;
}

export interface OnnxExport {
  bytes: Uint8Array;
  opset: OnnxOpset;
  irVersion: number;
  kernels: OnnxKernelSummary[];
}

/** What a reader needs besides the graph: kept as JSON in the `dqa.model` metadata entry. */
export interface OnnxModelMetadata {
  model: string;
  input: {
    name: string;
    layout: 'NHWC';
    type: 'uint8';
    shape: number[];
    mean: number[];
    std: number[];
  };
  output: { name: string; classes: number };
  classNames?: string[];
  kernels: OnnxKernelSummary[];
  source?: Record<string, string | number>;
}

export const ONNX_INPUT = 'pixels';
export const ONNX_OUTPUT = 'logits';

const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: number[]): OnnxAttribute => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: AttributeType.FLOAT, f }),
};

/** A graph under construction: unique value names, initializers, nodes in order. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly names = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  init(base: string, dataType: number, dims: number[], rawData: Uint8Array): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, dataType, rawData });
    return name;
  }

  float(base: string, dims: number[], values: ArrayLike<number>): string {
    return this.init(base, OnnxDataType.FLOAT, dims, float32Bytes(values));
  }

  ints(base: string, type: IntType, dims: number[], values: ArrayLike<number>): string {
    return this.init(base, intTypes[type].onnxType, dims, packInts(values, type));
  }

  node(opType: string, base: string, input: string[], attribute: OnnxAttribute[] = []): string {
    const output = this.unique(base);
    this.nodes.push({ name: output, opType, input, output: [output], attribute });
    return output;
  }
}

interface KernelOut {
  name: string;
  summary: OnnxKernelSummary;
  /** Set when the kernel was padded to more columns: the MatMul's true output width. */
  columns?: number;
}

/** A kernel as initializers and the nodes that turn them into float weights in ONNX layout. */
function emitKernel(
  g: GraphBuilder,
  layer: ExportedLayer,
  t: ExportedTensor,
  types: ReturnType<typeof intTypesForOpset>,
  mode: 'quantized' | 'float',
): KernelOut {
  const { perm, dims: layoutDims } = onnxKernelLayout(layer.op, t.shape);
  let dims = layoutDims;
  const base = `${layer.name}/kernel`;
  const elements = dims.reduce((a, d) => a * d, 1);
  const q = layer.weightQuantizer;
  const info = q ? { quantizer: q.quantizer, bits: q.bits } : {};
  const floatKernel = (): KernelOut => ({
    name: g.float(base, dims, permute(tensorValues(t), t.shape, perm)),
    summary: {
      layer: layer.name,
      ...info,
      encoding: 'float',
      type: 'float32',
      elements,
      bytes: 4 * elements,
      relativeError: 0,
    },
  });
  if (mode === 'float' || t.kind === 'float') return floatKernel();
  const enc = chooseEncoding(t.levels, types);
  if (!enc) return floatKernel();

  const groups = groupsOf(t.shape, t.axis);
  const specCodes = new Int32Array(t.indices.length);
  const specGroups = new Int32Array(t.indices.length);
  for (let i = 0; i < specCodes.length; i++) {
    const k = groups.of(i);
    specGroups[i] = k;
    specCodes[i] = enc.codes[k]![t.indices[i]!]!;
  }
  let codes = permute(specCodes, t.shape, perm);
  let perAxis = groups.count > 1 ? groupAxis(permute(specGroups, t.shape, perm), dims) : null;
  if (groups.count > 1 && !perAxis)
    throw new ArgumentError(
      `${base}: its channel groups do not lie along one axis of ONNX's layout`,
    );
  // onnxruntime-node 1.30 fuses DequantizeLinear(2-bit) → MatMul into MatMulNBits, which computes
  // wrong columns when the output width is not a multiple of 4 (measured: a [3136, 10] layer, per
  // tensor and per channel, at every accuracy level). Only a DequantizeLinear that feeds the MatMul
  // directly (no offset Add, no Gather) is fused: pad its kernel with zero codes to a multiple of 4
  // columns; the caller slices them off.
  let columns: number | null = null;
  const addOffset = enc.kind === 'affine' && enc.offsets.some((o) => o !== 0);
  const fused = enc.kind !== 'table' && !addOffset && intTypes[enc.type].bits === 2;
  if (layer.op === 'dense' && fused && dims[1]! % 4 !== 0) {
    const [rows, n] = dims as [number, number];
    const padded = Math.ceil(n / 4) * 4;
    const wide = new Int32Array(rows * padded);
    for (let r = 0; r < rows; r++) wide.set(codes.subarray(r * n, (r + 1) * n), r * padded);
    codes = wide;
    if (perAxis?.axis === 1) {
      const groupOf = new Int32Array(padded).fill(perAxis.groupOf[0]!);
      groupOf.set(perAxis.groupOf);
      perAxis = { axis: 1, groupOf };
    }
    dims = [rows, padded];
    columns = n;
  }
  /** A per-group constant: a scalar per tensor, a vector along the DequantizeLinear axis. */
  const perGroup = (values: ArrayLike<number>) =>
    perAxis ? Array.from(perAxis.groupOf, (k) => values[k]!) : [values[0]!];
  const vectorDims = perAxis ? [perAxis.groupOf.length] : [];
  /** Broadcasts against the kernel: [1, …, D, …, 1] along the axis, a scalar per tensor. */
  const broadcastDims = perAxis ? dims.map((d, i) => (i === perAxis.axis ? d : 1)) : [];
  const axisAttr = perAxis ? [attr.int('axis', perAxis.axis)] : [];

  const codeName = g.ints(`${base}_codes`, enc.type, dims, codes);
  let out: string;
  if (enc.kind === 'table') {
    // Codes are indices into the group's exact levels: dequantized with scale 1 (exact small
    // integers), moved to the group's row of the table, and looked up with Gather.
    const zp = g.ints(`${base}_zero_point`, enc.type, [], [0]);
    let index = g.node('DequantizeLinear', `${base}_index`, [
      codeName,
      g.float(`${base}_one`, [], [1]),
      zp,
    ]);
    const width = Math.max(...t.levels.map((l) => l.length));
    const table = new Float32Array(t.levels.length * width);
    t.levels.forEach((l, k) => {
      table.set(l, k * width);
    });
    if (perAxis) {
      const rows = perGroup(Array.from(t.levels, (_, k) => k * width));
      index = g.node('Add', `${base}_row_index`, [
        index,
        g.float(`${base}_rows`, broadcastDims, rows),
      ]);
    }
    const cast = g.node('Cast', `${base}_index_i64`, [index], [attr.int('to', OnnxDataType.INT64)]);
    out = g.node(
      'Gather',
      base,
      [g.float(`${base}_levels`, [table.length], table), cast],
      [attr.int('axis', 0)],
    );
  } else {
    const scale = g.float(`${base}_scale`, vectorDims, perGroup(enc.scales));
    const zp = g.ints(
      `${base}_zero_point`,
      enc.type,
      vectorDims,
      new Int32Array(perAxis ? perAxis.groupOf.length : 1),
    );
    out = g.node(
      'DequantizeLinear',
      addOffset ? `${base}_dequantized` : base,
      [codeName, scale, zp],
      axisAttr,
    );
    if (addOffset) {
      out = g.node('Add', base, [
        out,
        g.float(`${base}_offset`, broadcastDims, perGroup(enc.offsets)),
      ]);
    }
  }
  return {
    name: out,
    ...(columns !== null ? { columns } : {}),
    summary: {
      layer: layer.name,
      ...info,
      encoding: enc.kind,
      type: enc.type,
      elements,
      // The stored codes (padded columns included).
      bytes: Math.ceil((dims.reduce((a, d) => a * d, 1) * intTypes[enc.type].bits) / 8),
      relativeError: enc.relativeError,
    },
  };
}

function floatTensor(
  g: GraphBuilder,
  layer: ExportedLayer,
  role: string,
  t: ExportedTensor,
): string {
  return g.float(`${layer.name}/${role}`, [...t.shape], tensorValues(t));
}

/** ONNX pads `[top, left, bottom, right]` and the rest of a Conv's attributes. */
function convAttributes(node: Conv2DNode | DepthwiseConv2DNode, x: readonly number[]) {
  const depthwise = node.op === 'depthwiseConv2d';
  const out = depthwise ? node.multiplier : node.filters;
  const geo = conv2dGeometry(
    [1, ...x],
    [node.kernelSize[0], node.kernelSize[1], x[2]!, out],
    { strides: node.strides, padding: node.padding, dilations: node.dilations },
    depthwise,
  );
  return [
    attr.ints('kernel_shape', [...node.kernelSize]),
    attr.ints('strides', [...node.strides]),
    attr.ints('dilations', [...node.dilations]),
    attr.ints('pads', [geo.padTop, geo.padLeft, geo.padBottom, geo.padRight]),
    attr.int('group', depthwise ? x[2]! : 1),
  ];
}

/**
 * The ONNX model of an exported model. The graph takes `pixels`, uint8 `[batch, h, w, c]` (NHWC,
 * as images are stored), normalises them with a Gather from the data set's exact lookup table,
 * transposes to NCHW and runs the layers; it returns `logits` `[batch, classes]`. Quantized
 * kernels are integer initializers in the narrowest type the opset allows (see `chooseEncoding`)
 * feeding DequantizeLinear (per tensor, or per axis for per-channel runs), then an Add of min-max's
 * offset, or a Gather for non-uniform levels; PACT inputs are Clip → QuantizeLinear →
 * DequantizeLinear (uint8). Serialised with protobufjs from `onnx-subset.proto`; the metadata hold
 * the input contract, the class names and a SHA-256 of the graph.
 */
export function toOnnx(model: ExportedModel, options: OnnxExportOptions = {}): OnnxExport {
  const opset = options.opset ?? 25;
  const irVersion = onnxOpsets[opset];
  if (irVersion === undefined)
    throw new ArgumentError(
      `toOnnx: opset ${opset} is not one the exporter writes; use ${Object.keys(onnxOpsets).join(', ')}`,
    );
  validateExportedModel(model, 'toOnnx');
  const mode = options.weights ?? 'quantized';
  const types = intTypesForOpset(opset);
  const { spec, input } = model;
  const shapes = inferShapes(spec);
  const layers = new Map(model.layers.map((l) => [l.name, l]));
  const g = new GraphBuilder();
  // Reserved: the graph's input and output (a layer may be named 'logits', as cnn-small's is).
  g.unique(ONNX_INPUT);
  g.unique(ONNX_OUTPUT);
  const [h, w, c] = input.shape;

  // Bytes → normalised floats by the data set's exact table (one Gather), then NHWC → NCHW.
  const bytesAsInt = g.node(
    'Cast',
    'pixels_int32',
    [ONNX_INPUT],
    [attr.int('to', OnnxDataType.INT32)],
  );
  let index = bytesAsInt;
  if (c > 1) {
    // Channel k's table starts at row k · 256.
    const rows = Array.from({ length: c }, (_, k) => k * 256);
    const offsets = g.init('channel_rows', OnnxDataType.INT32, [c], int32Bytes(rows));
    index = g.node('Add', 'pixels_table_index', [bytesAsInt, offsets]);
  }
  const lut = normalizationTable(input.mean, input.std);
  const normalized = g.node(
    'Gather',
    'normalized_nhwc',
    [g.float('normalization', [lut.length], lut), index],
    [attr.int('axis', 0)],
  );
  const values = new Map<string, string>([
    [
      MODEL_INPUT,
      g.node('Transpose', 'normalized', [normalized], [attr.ints('perm', [0, 3, 1, 2])]),
    ],
  ]);

  const kernels: OnnxKernelSummary[] = [];
  const activation = (layer: ExportedLayer, x: string): string => {
    const a = layer.activation;
    if (!a) return x;
    const base = `${layer.name}/input`;
    const scale = g.float(`${base}_scale`, [], [a.alpha / (2 ** a.bits - 1)]);
    const zp = g.ints(`${base}_zero_point`, 'uint8', [], [0]);
    const clipped = g.node('Clip', `${base}_clipped`, [
      x,
      g.float(`${base}_min`, [], [0]),
      g.float(`${base}_alpha`, [], [a.alpha]),
    ]);
    const quantized = g.node('QuantizeLinear', `${base}_quantized`, [clipped, scale, zp]);
    return g.node('DequantizeLinear', `${base}_dequantized`, [quantized, scale, zp]);
  };

  for (const node of spec.nodes as readonly ModelNode[]) {
    const ins = node.inputs.map((n) => values.get(n)!);
    const x = ins[0]!;
    const inShape = shapes.get(node.inputs[0]!)!;
    let out: string;
    switch (node.op) {
      case 'conv2d':
      case 'depthwiseConv2d':
      case 'dense': {
        const layer = layers.get(node.name)!;
        const k = emitKernel(g, layer, layer.tensors.kernel!, types, mode);
        kernels.push(k.summary);
        const xin = activation(layer, x);
        const bias = layer.tensors.bias ? floatTensor(g, layer, 'bias', layer.tensors.bias) : null;
        if (node.op === 'dense') {
          out = g.node('MatMul', `${node.name}/matmul`, [xin, k.name]);
          if (k.columns !== undefined) {
            const int64 = (base: string, v: number) =>
              g.init(`${node.name}/${base}`, OnnxDataType.INT64, [1], int64Bytes([v]));
            out = g.node('Slice', `${node.name}/columns`, [
              out,
              int64('slice_start', 0),
              int64('slice_end', k.columns),
              int64('slice_axis', 1),
            ]);
          }
          if (bias) out = g.node('Add', node.name, [out, bias]);
        } else {
          out = g.node(
            'Conv',
            node.name,
            [xin, k.name, ...(bias ? [bias] : [])],
            convAttributes(node, inShape),
          );
        }
        break;
      }
      case 'batchNorm': {
        const layer = layers.get(node.name)!;
        const t = layer.tensors;
        out = g.node(
          'BatchNormalization',
          node.name,
          [
            x,
            floatTensor(g, layer, 'gamma', t.gamma!),
            floatTensor(g, layer, 'beta', t.beta!),
            floatTensor(g, layer, 'moving_mean', t.movingMean!),
            floatTensor(g, layer, 'moving_variance', t.movingVariance!),
          ],
          [attr.float('epsilon', node.epsilon)],
        );
        break;
      }
      case 'relu':
        out = g.node('Relu', node.name, [x]);
        break;
      case 'relu6':
        out = g.node('Clip', node.name, [
          x,
          g.float(`${node.name}/min`, [], [0]),
          g.float(`${node.name}/max`, [], [6]),
        ]);
        break;
      case 'maxPool':
      case 'avgPool': {
        const geo = pool2dGeometry(
          [1, ...inShape],
          { filterSize: node.pool, strides: node.strides, padding: node.padding },
          node.op,
        );
        const attrs = [
          attr.ints('kernel_shape', [...node.pool]),
          attr.ints('strides', [...node.strides]),
          attr.ints('pads', [geo.padTop, geo.padLeft, geo.padBottom, geo.padRight]),
        ];
        // TensorFlow's (and our) average over a padded window counts only the pixels inside.
        if (node.op === 'avgPool') attrs.push(attr.int('count_include_pad', 0));
        out = g.node(node.op === 'maxPool' ? 'MaxPool' : 'AveragePool', node.name, [x], attrs);
        break;
      }
      case 'globalAvgPool':
        out = g.node(
          'Flatten',
          node.name,
          [g.node('GlobalAveragePool', `${node.name}/pool`, [x])],
          [attr.int('axis', 1)],
        );
        break;
      case 'flatten':
        // The spec flattens NHWC rows; ONNX holds NCHW: transpose back first.
        out =
          inShape.length === 3
            ? g.node(
                'Flatten',
                node.name,
                [g.node('Transpose', `${node.name}/nhwc`, [x], [attr.ints('perm', [0, 2, 3, 1])])],
                [attr.int('axis', 1)],
              )
            : x;
        break;
      case 'add':
        out = g.node('Add', node.name, [x, ins[1]!]);
        break;
    }
    values.set(node.name, out);
  }
  const last = values.get(spec.nodes[spec.nodes.length - 1]!.name)!;
  g.nodes.push({ name: ONNX_OUTPUT, opType: 'Identity', input: [last], output: [ONNX_OUTPUT] });

  const graph: OnnxGraph = {
    name: spec.name,
    node: g.nodes,
    initializer: g.initializers,
    input: [
      {
        name: ONNX_INPUT,
        type: {
          tensorType: {
            elemType: OnnxDataType.UINT8,
            shape: {
              dim: [{ dimParam: 'batch' }, { dimValue: h }, { dimValue: w }, { dimValue: c }],
            },
          },
        },
      },
    ],
    output: [
      {
        name: ONNX_OUTPUT,
        type: {
          tensorType: {
            elemType: OnnxDataType.FLOAT,
            shape: { dim: [{ dimParam: 'batch' }, { dimValue: spec.classes }] },
          },
        },
      },
    ],
    docString: `${spec.name}: uint8 NHWC images in, logits out`,
  };
  const graphBytes = encodeGraph(graph);
  const metadata: OnnxModelMetadata = {
    model: spec.name,
    input: {
      name: ONNX_INPUT,
      layout: 'NHWC',
      type: 'uint8',
      shape: [h, w, c],
      mean: [...input.mean],
      std: [...input.std],
    },
    output: { name: ONNX_OUTPUT, classes: spec.classes },
    ...(model.classNames ? { classNames: [...model.classNames] } : {}),
    kernels,
    ...(model.source ? { source: { ...model.source } } : {}),
  };
  const bytes = encodeModel({
    irVersion,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'dqa-ts',
    producerVersion: pkg.version,
    docString: `DQA-TS export of ${spec.name}${mode === 'float' ? ' (float32 weights)' : ''}`,
    graph,
    metadataProps: [
      { key: ONNX_FORMAT_KEY, value: ONNX_FORMAT },
      { key: ONNX_MODEL_KEY, value: JSON.stringify(metadata) },
      { key: ONNX_CHECKSUM_KEY, value: createHash('sha256').update(graphBytes).digest('hex') },
    ],
  });
  return { bytes, opset, irVersion, kernels };
}
