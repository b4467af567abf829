import { createHash } from 'node:crypto';
import type { ModelSpec, ParameterRole } from '@dqa/models';
import { chooseEncoding, type EncodingKind } from './encoding.js';
import { ModelFileError, readModelBytes } from './errors.js';
import {
  type ActivationQuantization,
  type ExportedInput,
  type ExportedLayer,
  type ExportedModel,
  type ExportedTensor,
  validateExportedModel,
  type WeightQuantizerInfo,
} from './exported-model.js';
import { intTypesForOpset, packBits, unpackBits } from './int-pack.js';
import { float32Bytes, readFloat32 } from './layout.js';
import { indexBits } from './levels.js';

/**
 * The packed format (`.dqa`): DQA-TS' own compact file of an exported model, read back bit for bit.
 *
 * ```text
 * offset   size  content
 *      0      8  magic "DQAPACK\n"
 *      8      4  format version, uint32 little-endian (1)
 *     12      4  header length H in bytes, uint32 little-endian
 *     16      H  header: UTF-8 JSON, padded with spaces to a multiple of 4
 *   16+H      D  data: each tensor at its header `offset` (a multiple of 4 from 16 + H)
 *  end-32    32  SHA-256 of every byte before it
 * ```
 *
 * The header holds the model spec, the input contract (shape, normalisation), class names, source,
 * and per layer its quantizers and tensors. A quantized kernel is stored as level indices packed
 * `bits` to a bit stream (least significant bit first: 1-bit codes eight a byte, 2-bit four) plus
 * each group's exact levels in the header, and, where the levels are uniform, their scale and
 * offset (level k = offset + code_k · scale) for readers that want integers; every other tensor as
 * float32 little-endian. The checksum at the end covers header and data, so a file cut short or
 * changed anywhere is refused.
 */
export const packedFormatVersion = 1;
const MAGIC = 'DQAPACK\n';
const PREAMBLE = 16;
const CHECKSUM = 32;

interface PackedTensorHeader {
  role: ParameterRole;
  shape: number[];
  kind: 'float' | 'levels';
  /** Byte offset from the start of the data, and length. */
  offset: number;
  bytes: number;
  /** `levels` only: the group axis (null: one group), bits per code, each group's levels. */
  axis?: number | null;
  bits?: number;
  levels?: number[][];
  /** `levels` only, when uniform: how levels follow from integer codes. */
  uniform?: { encoding: EncodingKind; codes: number[][]; scales: number[]; offsets: number[] };
}

interface PackedLayerHeader {
  name: string;
  op: ExportedLayer['op'];
  weightQuantizer?: WeightQuantizerInfo;
  activation?: ActivationQuantization;
  tensors: PackedTensorHeader[];
}

interface PackedHeader {
  spec: ModelSpec;
  input: ExportedInput;
  classNames?: string[];
  source?: Record<string, string | number>;
  layers: PackedLayerHeader[];
  /** Data bytes. */
  bytes: number;
}

const align4 = (n: number) => (n + 3) & ~3;
const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

/** The packed bytes of an exported model. */
export function encodePacked(model: ExportedModel): Uint8Array {
  validateExportedModel(model, 'encodePacked');
  const chunks: { offset: number; data: Uint8Array }[] = [];
  let offset = 0;
  const put = (data: Uint8Array) => {
    const at = offset;
    chunks.push({ offset: at, data });
    offset = align4(at + data.length);
    return { offset: at, bytes: data.length };
  };
  const uniformTypes = intTypesForOpset(25);
  const layers: PackedLayerHeader[] = model.layers.map((l) => ({
    name: l.name,
    op: l.op,
    ...(l.weightQuantizer ? { weightQuantizer: l.weightQuantizer } : {}),
    ...(l.activation ? { activation: l.activation } : {}),
    tensors: (Object.entries(l.tensors) as [ParameterRole, ExportedTensor][]).map(([role, t]) => {
      if (t.kind === 'float')
        return { role, shape: [...t.shape], kind: 'float', ...put(float32Bytes(t.values)) };
      const bits = indexBits(Math.max(...t.levels.map((g) => g.length)));
      const enc = chooseEncoding(t.levels, uniformTypes);
      return {
        role,
        shape: [...t.shape],
        kind: 'levels',
        ...put(packBits(t.indices, bits)),
        axis: t.axis,
        bits,
        levels: t.levels.map((g) => Array.from(g)),
        ...(enc && enc.kind !== 'table'
          ? {
              uniform: {
                encoding: enc.kind,
                codes: enc.codes.map((c) => Array.from(c)),
                scales: Array.from(enc.scales),
                offsets: Array.from(enc.offsets),
              },
            }
          : {}),
      };
    }),
  }));
  const header: PackedHeader = {
    spec: model.spec,
    input: model.input,
    ...(model.classNames ? { classNames: [...model.classNames] } : {}),
    ...(model.source ? { source: { ...model.source } } : {}),
    layers,
    bytes: offset,
  };
  let json = JSON.stringify(header);
  json += ' '.repeat(align4(Buffer.byteLength(json)) - Buffer.byteLength(json));
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(PREAMBLE + headerBytes.length + offset + CHECKSUM);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, packedFormatVersion, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, PREAMBLE);
  const dataStart = PREAMBLE + headerBytes.length;
  for (const c of chunks) out.set(c.data, dataStart + c.offset);
  out.set(sha256(out.subarray(0, out.length - CHECKSUM)), out.length - CHECKSUM);
  return out;
}

/** Whether `bytes` start like a packed model (its magic). */
export function isPacked(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, MAGIC.length)).toString('latin1') === MAGIC;
}

/**
 * The exported model in packed bytes. Errors are `ModelFileError`s naming `path`: not a packed
 * model, truncated, corrupt (checksum, sizes, header), or a newer format version.
 */
export function decodePacked(bytes: Uint8Array, path = '(bytes)'): ExportedModel {
  const name = `packed model ${path}`;
  const truncated = (m: string): never => {
    throw new ModelFileError(path, 'truncated', `${name} is truncated: ${m}`);
  };
  const corrupt = (m: string): never => {
    throw new ModelFileError(path, 'corrupt', `${name} is corrupt: ${m}`);
  };
  if (bytes.length < MAGIC.length && MAGIC.startsWith(Buffer.from(bytes).toString('latin1')))
    truncated(`${bytes.length} bytes, fewer than its ${PREAMBLE}-byte preamble`);
  if (!isPacked(bytes))
    throw new ModelFileError(
      path,
      'invalid',
      `${path} is not a DQA-TS packed model: it does not start with "DQAPACK"`,
    );
  if (bytes.length < PREAMBLE)
    truncated(`${bytes.length} bytes, fewer than its ${PREAMBLE}-byte preamble`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== packedFormatVersion) {
    if (version > packedFormatVersion && version < 1000)
      throw new ModelFileError(
        path,
        'unsupported-version',
        `${name} has format version ${version}; this DQA-TS reads version ${packedFormatVersion} (it was written by a newer DQA-TS)`,
      );
    corrupt(`format version ${version} is not one DQA-TS ever wrote`);
  }
  const headerLength = view.getUint32(12, true);
  const dataStart = PREAMBLE + headerLength;
  if (dataStart + CHECKSUM > bytes.length)
    truncated(`its header alone needs ${dataStart + CHECKSUM} bytes, the file has ${bytes.length}`);
  let header: PackedHeader;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(PREAMBLE, dataStart)).toString('utf8'));
  } catch {
    return corrupt('its header is not valid JSON');
  }
  if (
    !(
      header &&
      typeof header === 'object' &&
      Number.isSafeInteger(header.bytes) &&
      header.bytes >= 0
    )
  )
    corrupt('its header has no data length');
  const expected = dataStart + header.bytes + CHECKSUM;
  if (bytes.length < expected)
    truncated(`${bytes.length} of the ${expected} bytes its header announces`);
  if (bytes.length > expected)
    corrupt(`${bytes.length} bytes where its header announces ${expected}`);
  const stored = bytes.subarray(expected - CHECKSUM);
  if (!Buffer.from(stored).equals(Buffer.from(sha256(bytes.subarray(0, expected - CHECKSUM)))))
    corrupt('its SHA-256 checksum does not match its contents');

  const data = bytes.subarray(dataStart, dataStart + header.bytes);
  try {
    if (!Array.isArray(header.layers)) throw new Error('its header has no layers');
    const layers: ExportedLayer[] = header.layers.map((l) => {
      const tensors: Partial<Record<ParameterRole, ExportedTensor>> = {};
      for (const t of l.tensors) {
        const count = t.shape.reduce((a, d) => a * d, 1);
        if (!(t.offset >= 0 && t.offset + t.bytes <= data.length))
          throw new Error(`layer '${l.name}' ${t.role} lies outside the data`);
        const raw = data.subarray(t.offset, t.offset + t.bytes);
        if (t.kind === 'float') {
          if (t.bytes !== 4 * count)
            throw new Error(`layer '${l.name}' ${t.role} has ${t.bytes} bytes for ${count} floats`);
          tensors[t.role] = { kind: 'float', shape: t.shape, values: readFloat32(raw, 0, count) };
        } else {
          const levels = (t.levels ?? []).map((g) => Float32Array.from(g));
          tensors[t.role] = {
            kind: 'levels',
            shape: t.shape,
            axis: t.axis ?? null,
            indices: unpackBits(raw, count, t.bits!),
            levels,
          };
        }
      }
      return {
        name: l.name,
        op: l.op,
        tensors,
        ...(l.weightQuantizer ? { weightQuantizer: l.weightQuantizer } : {}),
        ...(l.activation ? { activation: l.activation } : {}),
      };
    });
    const model: ExportedModel = {
      spec: header.spec,
      input: header.input,
      ...(header.classNames ? { classNames: header.classNames } : {}),
      ...(header.source ? { source: header.source } : {}),
      layers,
    };
    validateExportedModel(model, name);
    return model;
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    const message = (e as Error).message.replace(`${name}: `, '');
    throw new ModelFileError(path, 'corrupt', `${name} is corrupt: ${message}`, { cause: e });
  }
}

/** Reads and checks a packed model file (see `decodePacked`). */
export async function readPacked(path: string): Promise<ExportedModel> {
  return decodePacked(await readModelBytes(path, 'packed model'), path);
}
