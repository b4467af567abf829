import { ArgumentError } from '@dqa/core';

/** The integer element types DQA-TS writes weight codes in. */
export type IntType = 'int2' | 'uint2' | 'int4' | 'uint4' | 'int8' | 'uint8';

export interface IntTypeInfo {
  readonly type: IntType;
  readonly bits: 2 | 4 | 8;
  readonly signed: boolean;
  readonly min: number;
  readonly max: number;
  /** `TensorProto.DataType` of the ONNX specification. */
  readonly onnxType: number;
  /** The first ONNX opset whose DequantizeLinear takes it. */
  readonly minOpset: number;
}

/** ONNX `TensorProto.DataType` values (onnx.proto) that DQA-TS uses. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  UINT4: 21,
  INT4: 22,
  UINT2: 25,
  INT2: 26,
} as const;

export const intTypes: Readonly<Record<IntType, IntTypeInfo>> = {
  int2: {
    type: 'int2',
    bits: 2,
    signed: true,
    min: -2,
    max: 1,
    onnxType: OnnxDataType.INT2,
    minOpset: 25,
  },
  uint2: {
    type: 'uint2',
    bits: 2,
    signed: false,
    min: 0,
    max: 3,
    onnxType: OnnxDataType.UINT2,
    minOpset: 25,
  },
  int4: {
    type: 'int4',
    bits: 4,
    signed: true,
    min: -8,
    max: 7,
    onnxType: OnnxDataType.INT4,
    minOpset: 21,
  },
  uint4: {
    type: 'uint4',
    bits: 4,
    signed: false,
    min: 0,
    max: 15,
    onnxType: OnnxDataType.UINT4,
    minOpset: 21,
  },
  int8: {
    type: 'int8',
    bits: 8,
    signed: true,
    min: -128,
    max: 127,
    onnxType: OnnxDataType.INT8,
    minOpset: 10,
  },
  uint8: {
    type: 'uint8',
    bits: 8,
    signed: false,
    min: 0,
    max: 255,
    onnxType: OnnxDataType.UINT8,
    minOpset: 10,
  },
};

/** The integer types an opset's DequantizeLinear takes, narrowest first. */
export function intTypesForOpset(opset: number): IntTypeInfo[] {
  return Object.values(intTypes)
    .filter((t) => t.minOpset <= opset)
    .sort((a, b) => a.bits - b.bits);
}

/**
 * Packs unsigned codes (each in [0, 2^bits)) into a little-endian bit stream: code i occupies bits
 * i·bits … i·bits + bits − 1, least significant first. For 2 and 4 bits this is exactly ONNX's
 * packing of INT2/UINT2 (x0 | x1 << 2 | x2 << 4 | x3 << 6) and INT4/UINT4 (first element in the low
 * nibble); for 1 bit, eight codes a byte.
 */
export function packBits(codes: ArrayLike<number>, bits: number): Uint8Array {
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8))
    throw new ArgumentError(`packBits: bits must be an integer in 1–8, got ${bits}`);
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  const limit = 1 << bits;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (!(Number.isInteger(c) && c >= 0 && c < limit))
      throw new ArgumentError(`packBits: code ${i} is ${c}, outside [0, ${limit - 1}]`);
    const bit = i * bits;
    const byte = bit >>> 3;
    const shift = bit & 7;
    out[byte]! |= (c << shift) & 0xff;
    if (shift + bits > 8) out[byte + 1]! |= c >>> (8 - shift);
  }
  return out;
}

/** The inverse of `packBits`: `count` codes of `bits` bits each. */
export function unpackBits(bytes: Uint8Array, count: number, bits: number): Uint8Array {
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8))
    throw new ArgumentError(`unpackBits: bits must be an integer in 1–8, got ${bits}`);
  const need = Math.ceil((count * bits) / 8);
  if (bytes.length < need)
    throw new ArgumentError(
      `unpackBits: ${count} codes of ${bits} bits need ${need} bytes, got ${bytes.length}`,
    );
  const out = new Uint8Array(count);
  const mask = (1 << bits) - 1;
  for (let i = 0; i < count; i++) {
    const bit = i * bits;
    const byte = bit >>> 3;
    const shift = bit & 7;
    let v = bytes[byte]! >>> shift;
    if (shift + bits > 8) v |= bytes[byte + 1]! << (8 - shift);
    out[i] = v & mask;
  }
  return out;
}

/** Bytes that `count` elements of `type` take in an ONNX tensor's raw_data. */
export function packedByteLength(count: number, type: IntType): number {
  return Math.ceil((count * intTypes[type].bits) / 8);
}

/** An ONNX raw_data for integer `values` of `type` (two's complement, packed below 8 bits). */
export function packInts(values: ArrayLike<number>, type: IntType): Uint8Array {
  const t = intTypes[type];
  const mask = (1 << t.bits) - 1;
  const codes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(Number.isInteger(v) && v >= t.min && v <= t.max))
      throw new ArgumentError(
        `packInts: value ${i} is ${v}, outside ${type}'s [${t.min}, ${t.max}]`,
      );
    codes[i] = v & mask;
  }
  return t.bits === 8 ? codes : packBits(codes, t.bits);
}

/** The inverse of `packInts`. */
export function unpackInts(raw: Uint8Array, count: number, type: IntType): Int32Array {
  const t = intTypes[type];
  const codes = t.bits === 8 ? raw.subarray(0, count) : unpackBits(raw, count, t.bits);
  const out = new Int32Array(count);
  const half = 1 << (t.bits - 1);
  for (let i = 0; i < count; i++) {
    const c = codes[i]!;
    out[i] = t.signed && c >= half ? c - 2 * half : c;
  }
  return out;
}
