import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { ModelFileError, readModelBytes } from './errors.js';
import {
  ONNX_CHECKSUM_KEY,
  ONNX_FORMAT,
  ONNX_FORMAT_KEY,
  ONNX_MODEL_KEY,
  type OnnxModelMetadata,
} from './onnx-export.js';
import { decodeModel } from './proto.js';

/** An ONNX file DQA-TS exported, checked and described. */
export interface OnnxFile {
  path: string;
  bytes: Uint8Array;
  irVersion: number;
  opset: number;
  /** What the model takes and gives, its class names and per-kernel storage. */
  metadata: OnnxModelMetadata;
}

/** ModelProto's field number of `graph` (onnx.proto). */
const GRAPH_FIELD = 7;

/**
 * The serialised GraphProto inside ModelProto bytes, as stored (walked with protobufjs' Reader,
 * field by field, so the checksum covers exactly the bytes on disk); null when there is none.
 */
function graphBytes(bytes: Uint8Array): Uint8Array | null {
  const reader = protobuf.Reader.create(bytes);
  let found: Uint8Array | null = null;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === GRAPH_FIELD && (tag & 7) === 2) {
      const length = reader.uint32();
      found = bytes.subarray(reader.pos, reader.pos + length);
      reader.skip(length);
    } else reader.skipType(tag & 7);
  }
  return found;
}

/**
 * Checks ONNX bytes DQA-TS exported and reads their metadata. Errors are `ModelFileError`s naming
 * `path`: bytes that do not parse as ONNX (truncated: a field runs past the end; corrupt), a model
 * without DQA-TS' metadata (cut short before them, or written by another tool), or one whose graph
 * does not match its SHA-256 (corrupt).
 */
export function checkOnnxBytes(bytes: Uint8Array, path: string): OnnxFile {
  const name = `ONNX model ${path}`;
  if (bytes.length === 0) throw new ModelFileError(path, 'truncated', `${name} is empty`);
  let model: ReturnType<typeof decodeModel>;
  let graph: Uint8Array | null;
  try {
    model = decodeModel(bytes);
    graph = graphBytes(bytes);
  } catch (e) {
    const message = (e as Error).message;
    const truncated = /index out of range/i.test(message);
    throw new ModelFileError(
      path,
      truncated ? 'truncated' : 'corrupt',
      `${name} is ${truncated ? 'truncated' : 'corrupt'}: it does not parse as an ONNX ModelProto (${message})`,
      { cause: e },
    );
  }
  const meta = new Map((model.metadataProps ?? []).map((p) => [p.key, p.value]));
  if (!graph || !model.graph)
    throw new ModelFileError(path, 'invalid', `${name} holds no graph: it is not an ONNX model`);
  if (meta.get(ONNX_FORMAT_KEY) !== ONNX_FORMAT) {
    const other = meta.get(ONNX_FORMAT_KEY);
    throw new ModelFileError(
      path,
      other ? 'unsupported-version' : 'invalid',
      other
        ? `${name} is in format ${other}; this DQA-TS reads ${ONNX_FORMAT}`
        : `${name} has no DQA-TS metadata (${ONNX_FORMAT_KEY}): it was cut short, or not exported by dqa export`,
    );
  }
  const checksum = meta.get(ONNX_CHECKSUM_KEY);
  if (checksum === undefined)
    throw new ModelFileError(
      path,
      'truncated',
      `${name} is truncated: its metadata end before the graph's SHA-256 (${ONNX_CHECKSUM_KEY})`,
    );
  const actual = createHash('sha256').update(graph).digest('hex');
  if (checksum !== actual)
    throw new ModelFileError(
      path,
      'corrupt',
      `${name} is corrupt: its graph does not match the SHA-256 in its metadata (${ONNX_CHECKSUM_KEY})`,
    );
  let metadata: OnnxModelMetadata;
  try {
    metadata = JSON.parse(meta.get(ONNX_MODEL_KEY) ?? '') as OnnxModelMetadata;
  } catch (e) {
    throw new ModelFileError(path, 'corrupt', `${name} has unreadable ${ONNX_MODEL_KEY} metadata`, {
      cause: e,
    });
  }
  const shape = metadata?.input?.shape;
  if (!(Array.isArray(shape) && shape.length === 3 && metadata.output?.classes > 0))
    throw new ModelFileError(
      path,
      'corrupt',
      `${name}: its ${ONNX_MODEL_KEY} metadata lacks the input shape or classes`,
    );
  const opset = model.opsetImport?.find((o) => !o.domain)?.version;
  return {
    path,
    bytes,
    irVersion: model.irVersion ?? 0,
    opset: opset ?? 0,
    metadata,
  };
}

/** Reads and checks an ONNX file DQA-TS exported (see `checkOnnxBytes`). */
export async function readOnnxFile(path: string): Promise<OnnxFile> {
  return checkOnnxBytes(await readModelBytes(path, 'ONNX model'), path);
}
