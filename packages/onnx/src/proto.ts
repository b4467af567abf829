import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * ONNX messages through protobufjs, from `onnx-subset.proto` (the part of the ONNX specification's
 * onnx.proto that DQA-TS uses, field numbers and enum values as specified). The interfaces below
 * are the plain-object forms protobufjs encodes from and decodes to (camelCase field names).
 */

export interface OnnxAttribute {
  name: string;
  /** AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7. */
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

export interface OnnxNode {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute?: OnnxAttribute[];
  domain?: string;
}

export interface OnnxDimension {
  dimValue?: number;
  dimParam?: string;
}

export interface OnnxValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: OnnxDimension[] } } };
}

export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  docString?: string;
}

export interface OnnxModel {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: OnnxGraph;
  metadataProps: { key: string; value: string }[];
}

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

let root: protobuf.Root | undefined;

/** The schema, loaded once (the file sits at the package root, beside `src/` and `dist/`). */
function schema(): protobuf.Root {
  root ??= protobuf.loadSync(fileURLToPath(new URL('../onnx-subset.proto', import.meta.url)));
  return root;
}

const type = (name: string) => schema().lookupType(`onnx.${name}`);

/** Serialises a GraphProto. */
export function encodeGraph(graph: OnnxGraph): Uint8Array {
  const t = type('GraphProto');
  return t.encode(t.fromObject(graph)).finish();
}

/** Serialises a ModelProto. */
export function encodeModel(model: OnnxModel): Uint8Array {
  const t = type('ModelProto');
  const problem = t.verify(model);
  if (problem) throw new Error(`@dqa/onnx built an invalid ModelProto: ${problem}`);
  return t.encode(t.fromObject(model)).finish();
}

/**
 * Parses a ModelProto; protobufjs throws (RangeError, Error) on bytes that are not one, e.g. a
 * length-delimited field running past the end of a truncated file.
 */
export function decodeModel(bytes: Uint8Array): Partial<OnnxModel> {
  const t = type('ModelProto');
  return t.toObject(t.decode(bytes), { longs: Number, defaults: false }) as Partial<OnnxModel>;
}
