import { describe, expect, it } from 'vitest';
import {
  intTypes,
  intTypesForOpset,
  packBits,
  packInts,
  unpackBits,
  unpackInts,
} from '../src/index.js';

describe('integer packing', () => {
  it("packs 2-bit values four a byte, first in the lowest bits (ONNX's INT2/UINT2)", () => {
    // x0 | x1 << 2 | x2 << 4 | x3 << 6
    expect(Array.from(packInts([1, 2, 3, 0, 3], 'uint2'))).toEqual([1 | (2 << 2) | (3 << 4), 3]);
    // Two's complement: −2 → 0b10, −1 → 0b11.
    expect(Array.from(packInts([-2, -1, 0, 1], 'int2'))).toEqual([
      0b10 | (0b11 << 2) | (0 << 4) | (1 << 6),
    ]);
  });

  it("packs 4-bit values two a byte, the first in the low nibble (ONNX's INT4/UINT4)", () => {
    expect(Array.from(packInts([1, 15, 7], 'uint4'))).toEqual([0xf1, 0x07]);
    expect(Array.from(packInts([-8, 7, -1], 'int4'))).toEqual([0x78, 0x0f]);
    expect(Array.from(packInts([-128, 127, -1], 'int8'))).toEqual([0x80, 0x7f, 0xff]);
  });

  it('unpacks what it packs, for every type', () => {
    for (const t of Object.values(intTypes)) {
      const values = Array.from({ length: 37 }, (_, i) => t.min + ((i * 7) % (t.max - t.min + 1)));
      const raw = packInts(values, t.type);
      expect(raw.length).toBe(Math.ceil((37 * t.bits) / 8));
      expect(Array.from(unpackInts(raw, 37, t.type))).toEqual(values);
    }
  });

  it('refuses a value outside the type', () => {
    expect(() => packInts([2], 'int2')).toThrow(/value 0 is 2, outside int2's \[-2, 1\]/);
    expect(() => packInts([0.5], 'uint4')).toThrow(/outside uint4/);
  });

  it('packs any width from 1 to 8 bits as a little-endian bit stream (1-bit codes eight a byte)', () => {
    expect(Array.from(packBits([1, 0, 1, 1, 0, 0, 0, 1, 1], 1))).toEqual([0b10001101, 0b1]);
    for (let bits = 1; bits <= 8; bits++) {
      const codes = Uint8Array.from({ length: 53 }, (_, i) => (i * 37 + 11) % 2 ** bits);
      const packed = packBits(codes, bits);
      expect(packed.length).toBe(Math.ceil((53 * bits) / 8));
      expect(Array.from(unpackBits(packed, 53, bits))).toEqual(Array.from(codes));
    }
    expect(() => unpackBits(new Uint8Array(1), 5, 2)).toThrow(/need 2 bytes, got 1/);
    expect(() => packBits([4], 2)).toThrow(/code 0 is 4, outside \[0, 3\]/);
  });

  it("offers each opset's DequantizeLinear types: 2-bit from 25, 4-bit from 21", () => {
    const names = (o: number) => intTypesForOpset(o).map((t) => t.type);
    expect(names(25)).toEqual(['int2', 'uint2', 'int4', 'uint4', 'int8', 'uint8']);
    expect(names(21)).toEqual(['int4', 'uint4', 'int8', 'uint8']);
    expect(names(13)).toEqual(['int8', 'uint8']);
  });
});
