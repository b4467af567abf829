import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  broadcastShapes,
  type Conv2DGeometry,
  type Conv2DOptions,
  conv2dGeometry,
  createReferenceBackend,
  pool2dGeometry,
  Random,
  reference,
  ShapeError,
  sizeOf,
} from '../src/index.js';
import { thrown } from './helpers.js';

const f32 = (v: readonly number[]) => Float32Array.from(v);
const iota = (n: number, from = 0) => f32(Array.from({ length: n }, (_, i) => from + i));

/** The padding/output part of a geometry, for compact assertions. */
function pads(g: Conv2DGeometry) {
  return {
    out: [g.outHeight, g.outWidth],
    pad: [g.padTop, g.padBottom, g.padLeft, g.padRight],
  };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe('conv2d by hand', () => {
  // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 2], [3, 4]] (HWIO with C = O = 1).
  const x = iota(9, 1);
  const w = f32([1, 2, 3, 4]);

  it("'valid': 2×2 output of Σ x[i+fy, j+fx]·w[fy, fx]", () => {
    const g = conv2dGeometry([1, 3, 3, 1], [2, 2, 1, 1], { padding: 'valid' }, false);
    expect(pads(g)).toEqual({ out: [2, 2], pad: [0, 0, 0, 0] });
    // 1·1 + 2·2 + 4·3 + 5·4 = 37, 2 + 6 + 15 + 24 = 47, 4 + 10 + 21 + 32 = 67, 5 + 12 + 24 + 36 = 77.
    expect(Array.from(reference.conv2d(x, w, g))).toEqual([37, 47, 67, 77]);
  });

  it("'same': 3×3 output, the one padding row/column going after (bottom/right)", () => {
    const g = conv2dGeometry([1, 3, 3, 1], [2, 2, 1, 1], { padding: 'same' }, false);
    expect(pads(g)).toEqual({ out: [3, 3], pad: [0, 1, 0, 1] });
    // Last column: 3·1 + 6·3 = 21, 6 + 27 = 33, 9; last row: 7 + 16 = 23, 8 + 18 = 26.
    expect(Array.from(reference.conv2d(x, w, g))).toEqual([37, 47, 21, 67, 77, 33, 23, 26, 9]);
    // The backend’s default padding is 'same'.
    const b = createReferenceBackend();
    expect(
      Array.from(b.readSync(b.conv2d(b.tensor(x, [1, 3, 3, 1]), b.tensor(w, [2, 2, 1, 1])))),
    ).toEqual([37, 47, 21, 67, 77, 33, 23, 26, 9]);
  });

  it("stride 2 'same' on a 4×4 input (TensorFlow: out = ceil(in/stride), extra pad after)", () => {
    const g = conv2dGeometry([1, 4, 4, 1], [3, 3, 1, 1], { strides: 2, padding: 'same' }, false);
    // out = ceil(4/2) = 2; total = (2 − 1)·2 + 3 − 4 = 1 → top 0, bottom 1.
    expect(pads(g)).toEqual({ out: [2, 2], pad: [0, 1, 0, 1] });
    expect([g.strideHeight, g.strideWidth]).toEqual([2, 2]);
    // x = 0…15, 3×3 ones: rows/cols 0–2 → 45; cols 2–3 → 39; rows 2–3 → 66; both → 50.
    const out = reference.conv2d(iota(16), new Float32Array(9).fill(1), g);
    expect(Array.from(out)).toEqual([45, 39, 66, 50]);
  });

  it("'same' geometry for other sizes", () => {
    const same = (inSize: number, k: number, s: number, d = 1) =>
      pads(
        conv2dGeometry(
          [1, inSize, inSize, 1],
          [k, k, 1, 1],
          { strides: s, padding: 'same', dilations: d },
          false,
        ),
      );
    // total = (out − 1)·s + (k − 1)·d + 1 − in, top = floor(total/2).
    expect(same(4, 3, 1)).toEqual({ out: [4, 4], pad: [1, 1, 1, 1] });
    expect(same(5, 4, 1)).toEqual({ out: [5, 5], pad: [1, 2, 1, 2] });
    expect(same(5, 3, 2)).toEqual({ out: [3, 3], pad: [1, 1, 1, 1] });
    expect(same(6, 1, 3)).toEqual({ out: [2, 2], pad: [0, 0, 0, 0] });
    expect(same(2, 1, 3)).toEqual({ out: [1, 1], pad: [0, 0, 0, 0] });
    expect(same(5, 3, 1, 2)).toEqual({ out: [5, 5], pad: [2, 2, 2, 2] });
  });

  it("'valid' and explicit padding geometry, non-square strides", () => {
    const v = conv2dGeometry(
      [2, 7, 6, 3],
      [3, 3, 3, 8],
      { strides: [2, 1], padding: 'valid' },
      false,
    );
    // floor((7 − 3)/2) + 1 = 3, floor((6 − 3)/1) + 1 = 4.
    expect(pads(v)).toEqual({ out: [3, 4], pad: [0, 0, 0, 0] });
    expect([v.batch, v.inChannels, v.outChannels, v.multiplier]).toEqual([2, 3, 8, 1]);
    const e = conv2dGeometry(
      [1, 3, 3, 1],
      [2, 2, 1, 1],
      {
        padding: [
          [1, 2],
          [0, 1],
        ],
      },
      false,
    );
    // h: 3 + 3 − 2 + 1 = 5, w: 3 + 1 − 2 + 1 = 3.
    expect(pads(e)).toEqual({ out: [5, 3], pad: [1, 2, 0, 1] });
    // Explicit padding [[1, 2], [0, 1]] pads a zero row on top, two below, a column on the right.
    const out = reference.conv2d(x, w, e);
    // Row 0 sees the zero row and x's first row: w[1,·]·x[0, j..j+1] = 3·1 + 4·2 = 11, 3·2 + 4·3 = 18, 3·3 = 9.
    expect(Array.from(out.slice(0, 3))).toEqual([11, 18, 9]);
    // Rows 1 and 2 are the 'same' results; row 3 is x's last row times w[0,·]; row 4 only padding.
    expect(Array.from(out.slice(3, 9))).toEqual([37, 47, 21, 67, 77, 33]);
    expect(Array.from(out.slice(9, 12))).toEqual([23, 26, 9]);
    expect(Array.from(out.slice(12))).toEqual([0, 0, 0]);
  });

  it('dilation 2: taps two pixels apart', () => {
    // x[r, c] = 5r + c on 5×5; 2×2 ones with dilation 2 sees x[i,j] + x[i,j+2] + x[i+2,j] + x[i+2,j+2].
    const g = conv2dGeometry([1, 5, 5, 1], [2, 2, 1, 1], { padding: 'valid', dilations: 2 }, false);
    expect(pads(g)).toEqual({ out: [3, 3], pad: [0, 0, 0, 0] });
    expect([g.dilationHeight, g.dilationWidth]).toEqual([2, 2]);
    const out = reference.conv2d(iota(25), f32([1, 1, 1, 1]), g);
    // = 4(5i + j) + 2 + 10 + 12 = 20i + 4j + 24.
    const want: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want.push(20 * i + 4 * j + 24);
    expect(Array.from(out)).toEqual(want);
  });

  it('several input and output channels', () => {
    // 1×1×1×2 input [2, 3], 1×1×2×3 filter [[1, 0, −1], [10, 20, 30]] → [2 + 30, 60, −2 + 90].
    const g = conv2dGeometry([1, 1, 1, 2], [1, 1, 2, 3], { padding: 'valid' }, false);
    expect(Array.from(reference.conv2d(f32([2, 3]), f32([1, 0, -1, 10, 20, 30]), g))).toEqual([
      32, 60, 88,
    ]);
  });
});

describe('depthwiseConv2d by hand', () => {
  it('channel multiplier 2: output channel c·M + m uses filter[·, ·, c, m]', () => {
    // x 1×2×2×2: pixels (0,0) = [1, 2], (0,1) = [3, 4], (1,0) = [5, 6], (1,1) = [7, 8].
    const x = iota(8, 1);
    // Per pixel p: [w(c0,m0), w(c0,m1), w(c1,m0), w(c1,m1)].
    const w = f32([1, 1, 2, 0, 1, 0, 2, 1, 1, 0, 2, 1, 1, -1, 2, 0]);
    const g = conv2dGeometry([1, 2, 2, 2], [2, 2, 2, 2], { padding: 'valid' }, true);
    expect(pads(g)).toEqual({ out: [1, 1], pad: [0, 0, 0, 0] });
    expect([g.outChannels, g.multiplier]).toEqual([4, 2]);
    // c0·m0: 1 + 3 + 5 + 7 = 16; c0·m1: 1 − 7 = −6; c1·m0: 2·(2 + 4 + 6 + 8) = 40; c1·m1: 4 + 6 = 10.
    expect(Array.from(reference.depthwiseConv2d(x, w, g))).toEqual([16, -6, 40, 10]);
  });

  it("'same' depthwise with multiplier 1 keeps channels apart", () => {
    // Two channels, 1×2 filter [1, 1] on channel 0 and [1, −1] on channel 1, input 1×1×3×2.
    const x = f32([1, 10, 2, 20, 3, 30]);
    const w = f32([1, 1, 1, -1]);
    const g = conv2dGeometry([1, 1, 3, 2], [1, 2, 2, 1], { padding: 'same' }, true);
    expect(pads(g)).toEqual({ out: [1, 3], pad: [0, 0, 0, 1] });
    // ch0: 1+2, 2+3, 3; ch1: 10−20, 20−30, 30.
    expect(Array.from(reference.depthwiseConv2d(x, w, g))).toEqual([3, -10, 5, -10, 3, 30]);
  });
});

describe('pooling by hand', () => {
  const x4 = f32([1, 5, 2, 0, 3, 4, 8, 7, -1, -2, 6, 6, -3, -9, 6, 1]);

  it('maxPool 2×2 stride 2 and its backprop to the first maximum', () => {
    const g = pool2dGeometry([1, 4, 4, 1], { filterSize: 2 }, 'maxPool');
    expect(pads(g)).toEqual({ out: [2, 2], pad: [0, 0, 0, 0] });
    expect([g.strideHeight, g.strideWidth]).toEqual([2, 2]);
    expect(Array.from(reference.maxPool(x4, g))).toEqual([5, 8, -1, 6]);
    // Maxima at indices 1, 6, 8 and (tie 6, 6, 6) the first one, 10.
    const dx = reference.maxPoolBackprop(f32([1, 2, 3, 4]), x4, g);
    const want = new Array(16).fill(0);
    want[1] = 1;
    want[6] = 2;
    want[8] = 3;
    want[10] = 4;
    expect(Array.from(dx)).toEqual(want);
  });

  it('avgPool 2×2 stride 2 and its backprop', () => {
    const g = pool2dGeometry([1, 4, 4, 1], { filterSize: 2 }, 'avgPool');
    const x = iota(16);
    expect(Array.from(reference.avgPool(x, g))).toEqual([2.5, 4.5, 10.5, 12.5]);
    const dx = reference.avgPoolBackprop(f32([4, 8, 12, 16]), g);
    expect(Array.from(dx)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  it("avgPool with 'same' padding divides by the in-bounds count only", () => {
    const g = pool2dGeometry(
      [1, 3, 3, 1],
      { filterSize: 3, strides: 1, padding: 'same' },
      'avgPool',
    );
    expect(pads(g)).toEqual({ out: [3, 3], pad: [1, 1, 1, 1] });
    // Corners average 4 values, edges 6, the centre 9: (1+2+4+5)/4 = 3, (1+…+6)/6 = 3.5, 45/9 = 5.
    expect(Array.from(reference.avgPool(iota(9, 1), g))).toEqual([
      3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7,
    ]);
    // Uneven 'same': 2×2 stride 2 on 3×3 pads one row/column after only.
    const u = pool2dGeometry([1, 3, 3, 1], { filterSize: 2, padding: 'same' }, 'avgPool');
    expect(pads(u)).toEqual({ out: [2, 2], pad: [0, 1, 0, 1] });
    // (1+2+4+5)/4 = 3, (3+6)/2 = 4.5, (7+8)/2 = 7.5, 9.
    expect(Array.from(reference.avgPool(iota(9, 1), u))).toEqual([3, 4.5, 7.5, 9]);
  });

  it("maxPool with 'same' padding ignores the padding (negative inputs stay negative)", () => {
    const g = pool2dGeometry(
      [1, 3, 3, 1],
      { filterSize: 3, strides: 1, padding: 'same' },
      'maxPool',
    );
    const neg = iota(9, 1).map((v) => -v);
    expect(Array.from(reference.maxPool(neg, g))).toEqual([-1, -1, -2, -1, -1, -2, -4, -4, -5]);
  });

  it('pools each channel separately', () => {
    // 1×2×2×2, channel 0 = 1, 2, 3, 4 and channel 1 = −1, −2, −3, −4.
    const x = f32([1, -1, 2, -2, 3, -3, 4, -4]);
    const g = pool2dGeometry([1, 2, 2, 2], { filterSize: 2 }, 'maxPool');
    expect(Array.from(reference.maxPool(x, g))).toEqual([4, -1]);
    expect(Array.from(reference.avgPool(x, g))).toEqual([2.5, -2.5]);
  });

  it("the backend's pooling defaults to 'valid' with strides = filter size", () => {
    const b = createReferenceBackend();
    const t = b.tensor(x4, [1, 4, 4, 1]);
    const y = b.maxPool(t, { filterSize: 2 });
    expect(y.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(b.readSync(y))).toEqual([5, 8, -1, 6]);
    expect(b.avgPool(t, { filterSize: 3 }).shape).toEqual([1, 1, 1, 1]);
  });
});

describe('backward kernels are the transposes of the forward ones', () => {
  const rng = new Random(1234);
  const cases: [string, number[], number[], Conv2DOptions][] = [
    ['same, stride 1', [2, 5, 5, 3], [3, 3, 3, 4], { padding: 'same' }],
    ['same, stride 2', [1, 6, 7, 2], [3, 3, 2, 3], { padding: 'same', strides: 2 }],
    ['valid, stride [2, 1]', [2, 7, 6, 2], [3, 2, 2, 2], { padding: 'valid', strides: [2, 1] }],
    ['same, dilation 2', [1, 6, 6, 2], [3, 3, 2, 2], { padding: 'same', dilations: 2 }],
    [
      'explicit padding',
      [1, 4, 5, 1],
      [2, 3, 1, 2],
      {
        padding: [
          [1, 0],
          [2, 1],
        ],
      },
    ],
  ];

  it.each(cases)(
    'conv2d, %s: ⟨conv(x, w), dy⟩ = ⟨x, ∂x(dy, w)⟩ = ⟨w, ∂w(x, dy)⟩',
    (_n, xs, ws, o) => {
      const g = conv2dGeometry(xs, ws, o, false);
      const x = rng.normalArray(sizeOf(xs));
      const w = rng.normalArray(sizeOf(ws));
      const dy = rng.normalArray(g.batch * g.outHeight * g.outWidth * g.outChannels);
      const y = reference.conv2d(x, w, g);
      const dx = reference.conv2dBackpropInput(dy, w, g);
      const dw = reference.conv2dBackpropFilter(x, dy, g);
      expect(dx.length).toBe(x.length);
      expect(dw.length).toBe(w.length);
      const lhs = dot(y, dy);
      expect(Math.abs(lhs)).toBeGreaterThan(1e-3);
      expect(dot(x, dx)).toBeCloseTo(lhs, 3);
      expect(dot(w, dw)).toBeCloseTo(lhs, 3);
    },
  );

  it.each(cases)('depthwiseConv2d, %s', (_n, xs, ws, o) => {
    // Same spatial setup; the filter's last axis is the multiplier.
    const fs = [ws[0]!, ws[1]!, xs[3]!, 2];
    const g = conv2dGeometry(xs, fs, o, true);
    const x = rng.normalArray(sizeOf(xs));
    const w = rng.normalArray(sizeOf(fs));
    const dy = rng.normalArray(g.batch * g.outHeight * g.outWidth * g.outChannels);
    const lhs = dot(reference.depthwiseConv2d(x, w, g), dy);
    expect(dot(x, reference.depthwiseConv2dBackpropInput(dy, w, g))).toBeCloseTo(lhs, 3);
    expect(dot(w, reference.depthwiseConv2dBackpropFilter(x, dy, g))).toBeCloseTo(lhs, 3);
  });

  it('avgPool: ⟨avgPool(x), dy⟩ = ⟨x, avgPoolBackprop(dy)⟩', () => {
    for (const padding of ['same', 'valid'] as const) {
      const g = pool2dGeometry([2, 5, 5, 3], { filterSize: 3, strides: 2, padding }, 'avgPool');
      const x = rng.normalArray(2 * 5 * 5 * 3);
      const dy = rng.normalArray(2 * g.outHeight * g.outWidth * 3);
      expect(dot(x, reference.avgPoolBackprop(dy, g))).toBeCloseTo(
        dot(reference.avgPool(x, g), dy),
        4,
      );
    }
  });

  it('matMul: ⟨A·B, dY⟩ = ⟨A, dY·Bᵀ⟩ = ⟨B, Aᵀ·dY⟩', () => {
    const A = rng.normalArray(3 * 4);
    const B = rng.normalArray(4 * 2);
    const dY = rng.normalArray(3 * 2);
    const lhs = dot(reference.matMul(A, [3, 4], B, [4, 2], false, false), dY);
    expect(dot(A, reference.matMul(dY, [3, 2], B, [4, 2], false, true))).toBeCloseTo(lhs, 4);
    expect(dot(B, reference.matMul(A, [3, 4], dY, [3, 2], true, false))).toBeCloseTo(lhs, 4);
  });
});

describe('linear algebra and shapes', () => {
  // A = [[1, 2, 3], [4, 5, 6]], B = [[7, 8], [9, 10], [11, 12]].
  const A = iota(6, 1);
  const B = iota(6, 7);
  const AB = [58, 64, 139, 154];

  it('matMul with and without transposes', () => {
    expect(Array.from(reference.matMul(A, [2, 3], B, [3, 2], false, false))).toEqual(AB);
    // Aᵀ stored as [3, 2] and Bᵀ stored as [2, 3] give the same product.
    const At = f32([1, 4, 2, 5, 3, 6]);
    const Bt = f32([7, 9, 11, 8, 10, 12]);
    expect(Array.from(reference.matMul(At, [3, 2], B, [3, 2], true, false))).toEqual(AB);
    expect(Array.from(reference.matMul(A, [2, 3], Bt, [2, 3], false, true))).toEqual(AB);
    expect(Array.from(reference.matMul(At, [3, 2], Bt, [2, 3], true, true))).toEqual(AB);
    // B·A is 3×3: first row [7·1 + 8·4, 7·2 + 8·5, 7·3 + 8·6].
    expect(Array.from(reference.matMul(B, [3, 2], A, [2, 3], false, false).slice(0, 3))).toEqual([
      39, 54, 69,
    ]);
  });

  it('the backend checks matMul shapes', () => {
    const b = createReferenceBackend();
    const e = thrown(() => b.matMul(b.tensor(A, [2, 3]), b.tensor(A, [2, 3])));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/inner dimensions differ: \[2, 3\] · \[2, 3\] \(3 vs 2\)/);
    expect(
      Array.from(b.readSync(b.matMul(b.tensor(A, [2, 3]), b.tensor(A, [2, 3]), false, true))),
    ).toEqual([14, 32, 32, 77]);
    expect(thrown(() => b.matMul(b.tensor(A, [6]), b.tensor(A, [6]))).message).toMatch(
      /both operands must be rank 2, got \[6\] and \[6\]/,
    );
  });

  it('transpose', () => {
    expect(Array.from(reference.transpose(A, [2, 3], [1, 0]))).toEqual([1, 4, 2, 5, 3, 6]);
    // shape [2, 3, 4], perm [2, 0, 1] → out[k, i, j] = x[i, j, k] = 12i + 4j + k.
    const out = reference.transpose(iota(24), [2, 3, 4], [2, 0, 1]);
    const want: number[] = [];
    for (let k = 0; k < 4; k++)
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(12 * i + 4 * j + k);
    expect(Array.from(out)).toEqual(want);
    // The identity permutation copies.
    expect(Array.from(reference.transpose(A, [2, 3], [0, 1]))).toEqual(Array.from(A));
    const b = createReferenceBackend();
    const t = b.transpose(b.tensor(iota(24), [2, 3, 4]));
    expect(t.shape).toEqual([4, 3, 2]);
    expect(() => b.transpose(b.tensor(A, [2, 3]), [0, 0])).toThrow(
      /\[0, 0\] is not a permutation of 2 axes/,
    );
  });

  it('reduce over axes', () => {
    const x = iota(24); // x[i, j, k] = 12i + 4j + k, shape [2, 3, 4]
    const shape = [2, 3, 4];
    // Σ_j = 36i + 12 + 3k.
    expect(Array.from(reference.reduce('sum', x, shape, [1]))).toEqual([
      12, 15, 18, 21, 48, 51, 54, 57,
    ]);
    // Σ_i Σ_k = 60 + 32j.
    expect(Array.from(reference.reduce('sum', x, shape, [0, 2]))).toEqual([60, 92, 124]);
    expect(Array.from(reference.reduce('sum', x, shape, [0, 1, 2]))).toEqual([276]);
    expect(Array.from(reference.reduce('max', x, shape, [0, 1, 2]))).toEqual([23]);
    // min over k = 12i + 4j.
    expect(Array.from(reference.reduce('min', x, shape, [2]))).toEqual([0, 4, 8, 12, 16, 20]);
    // max over i = 12 + 4j + k.
    expect(Array.from(reference.reduce('max', x, shape, [0]))).toEqual(
      Array.from({ length: 12 }, (_, n) => 12 + n),
    );
    // No axes: a copy.
    expect(Array.from(reference.reduce('sum', f32([1, 2]), [2], []))).toEqual([1, 2]);
    // NaN propagates to its slot only.
    const withNaN = reference.reduce('max', f32([1, Number.NaN, 3, 4]), [2, 2], [1]);
    expect(Number.isNaN(withNaN[0]!)).toBe(true);
    expect(withNaN[1]).toBe(4);
  });

  it('the backend’s reductions handle negative axes and keepDims', () => {
    const b = createReferenceBackend();
    const t = b.tensor(iota(24), [2, 3, 4]);
    const s = b.sum(t, -1, true);
    expect(s.shape).toEqual([2, 3, 1]);
    expect(Array.from(b.readSync(s))).toEqual([6, 22, 38, 54, 70, 86]);
    expect(Array.from(b.readSync(b.mean(t, [0, -1])))).toEqual([7.5, 11.5, 15.5]);
    expect(() => b.sum(t, 3)).toThrow(/sum: axis 3 is out of range for a tensor of rank 3/);
  });

  it('broadcasting binary ops (NumPy rules)', () => {
    // a[i, 0, k] = 10i + k (shape [2, 1, 3]); b[j, 0] = 100(j + 1) (shape [4, 1]).
    const a = f32([0, 1, 2, 10, 11, 12]);
    const bv = f32([100, 200, 300, 400]);
    const shape = broadcastShapes([2, 1, 3], [4, 1], 'add');
    expect(shape).toEqual([2, 4, 3]);
    const out = reference.binary('add', a, [2, 1, 3], bv, [4, 1], shape);
    const want: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) want.push(10 * i + k + 100 * (j + 1));
    expect(Array.from(out)).toEqual(want);
    // Scalar on either side.
    expect(Array.from(reference.binary('sub', f32([5, 6]), [2], f32([1]), [], [2]))).toEqual([
      4, 5,
    ]);
    expect(Array.from(reference.binary('div', f32([12]), [], f32([3, 4]), [2], [2]))).toEqual([
      4, 3,
    ]);
    expect(
      Array.from(reference.binary('greater', f32([1, 2, 3]), [3], f32([2]), [1], [3])),
    ).toEqual([0, 0, 1]);
    expect(Array.from(reference.binary('pow', f32([2, 3]), [2], f32([3]), [], [2]))).toEqual([
      8, 27,
    ]);
  });

  it('broadcastShapes names the op and both shapes', () => {
    expect(broadcastShapes([], [3, 2], 'mul')).toEqual([3, 2]);
    expect(broadcastShapes([5, 1, 2], [1, 4, 1], 'mul')).toEqual([5, 4, 2]);
    const e = thrown(() => broadcastShapes([2, 3], [4, 3], 'add'));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toBe(
      'add: shapes [2, 3] and [4, 3] cannot be broadcast (dimension 0 is 2 vs 4)',
    );
  });

  it('where, clip and unary ops', () => {
    expect(
      Array.from(reference.where(f32([1, 0, 2]), [3], f32([10, 20, 30]), [3], f32([-1]), [], [3])),
    ).toEqual([10, -1, 30]);
    expect(Array.from(reference.clip(f32([-2, 0.5, 3]), 0, 1))).toEqual([0, 0.5, 1]);
    expect(Array.from(reference.unary('step', f32([-1, 0, 2])))).toEqual([0, 0, 1]);
    expect(Array.from(reference.unary('sign', f32([-3, 0, 2])))).toEqual([-1, 0, 1]);
    expect(Array.from(reference.unary('floor', f32([-1.5, 1.5, 2])))).toEqual([-2, 1, 2]);
    expect(Array.from(reference.unary('relu', f32([-1, 0, 2])))).toEqual([0, 0, 2]);
  });
});

describe('geometry errors', () => {
  it('a channel mismatch names both shapes', () => {
    const e = thrown(() => conv2dGeometry([1, 5, 5, 3], [3, 3, 2, 4], undefined, false));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toBe(
      'conv2d: filter [3, 3, 2, 4] expects 2 input channels but the input [1, 5, 5, 3] has 3',
    );
    expect(
      thrown(() => conv2dGeometry([1, 5, 5, 3], [3, 3, 1, 2], undefined, true)).message,
    ).toMatch(
      /^depthwiseConv2d: filter \[3, 3, 1, 2\] expects 1 input channels but the input \[1, 5, 5, 3\]/,
    );
  });

  it('rank ≠ 4 is named', () => {
    expect(thrown(() => conv2dGeometry([5, 5, 3], [3, 3, 3, 4], undefined, false)).message).toBe(
      'conv2d: input must be rank 4 [n, h, w, c], got [5, 5, 3]',
    );
    expect(thrown(() => conv2dGeometry([1, 5, 5, 3], [3, 3, 3], undefined, false)).message).toBe(
      'conv2d: filter must be rank 4 [fh, fw, inC, outC], got [3, 3, 3]',
    );
    expect(thrown(() => conv2dGeometry([1, 5, 5, 3], [3, 3, 3], undefined, true)).message).toMatch(
      /\[fh, fw, c, multiplier\]/,
    );
    expect(thrown(() => pool2dGeometry([4, 4], { filterSize: 2 }, 'maxPool')).message).toBe(
      'maxPool: input must be rank 4 [n, h, w, c], got [4, 4]',
    );
  });

  it('a filter that does not fit, bad strides, dilations and paddings', () => {
    expect(
      thrown(() => conv2dGeometry([1, 2, 2, 1], [3, 3, 1, 1], { padding: 'valid' }, false)).message,
    ).toMatch(
      /conv2d: filter \[3, 3, 1, 1\] with dilation \[1, 1\] does not fit input \[1, 2, 2, 1\]/,
    );
    expect(
      thrown(() =>
        conv2dGeometry([1, 4, 4, 1], [2, 2, 1, 1], { padding: 'valid', dilations: 4 }, false),
      ).code,
    ).toBe('SHAPE_MISMATCH');
    const s = thrown(() => conv2dGeometry([1, 4, 4, 1], [2, 2, 1, 1], { strides: 0 }, false));
    expect(s).toBeInstanceOf(ArgumentError);
    expect(s.message).toBe('conv2d: strides must be positive integers, got [0, 0]');
    expect(
      thrown(() => conv2dGeometry([1, 4, 4, 1], [2, 2, 1, 1], { dilations: [1, 1.5] }, false))
        .message,
    ).toMatch(/dilations must be positive integers, got \[1, 1.5\]/);
    expect(
      thrown(() =>
        conv2dGeometry(
          [1, 4, 4, 1],
          [2, 2, 1, 1],
          {
            padding: [
              [-1, 0],
              [0, 0],
            ],
          },
          false,
        ),
      ).code,
    ).toBe('INVALID_ARGUMENT');
    expect(
      thrown(() => conv2dGeometry([1, 4, 4, 1], [2, 2, 1, 1], { padding: 'full' as never }, false))
        .message,
    ).toMatch(/padding must be 'same', 'valid' or \[\[top, bottom\], \[left, right\]\]/);
    expect(thrown(() => pool2dGeometry([1, 4, 4, 1], { filterSize: 0 }, 'avgPool')).message).toBe(
      'avgPool: filterSize must be positive integers, got [0, 0]',
    );
    expect(
      thrown(() => pool2dGeometry([1, 2, 2, 1], { filterSize: 3 }, 'maxPool')).message,
    ).toMatch(/maxPool: window \[3, 3\] does not fit input \[1, 2, 2, 1\]/);
  });

  it('the backend reports the geometry errors of its ops', () => {
    const b = createReferenceBackend();
    const x = b.tensor(new Float32Array(75), [1, 5, 5, 3]);
    const w = b.tensor(new Float32Array(72), [3, 3, 2, 4]);
    expect(() => b.conv2d(x, w)).toThrow(
      'conv2d: filter [3, 3, 2, 4] expects 2 input channels but the input [1, 5, 5, 3] has 3',
    );
  });
});
