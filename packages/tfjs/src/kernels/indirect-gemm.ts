import type { ConvGeometry } from './conv-util.js';

/** Output columns per packed panel of the filter, and per register tile. */
const NR = 8;
/** Output rows (pixels) per register tile. */
const MR = 4;

/**
 * Packs the [K, N] row-major matrix `b` into panels of NR columns, [⌈N/NR⌉][K][NR], zero-padded,
 * so that the inner loop of the tile below reads the filter contiguously.
 */
function packPanels(b: ArrayLike<number>, k: number, n: number): Float32Array {
  const panels = Math.ceil(n / NR);
  const packed = new Float32Array(panels * k * NR);
  for (let p = 0; p < panels; p++) {
    const cols = Math.min(NR, n - p * NR);
    let o = p * k * NR;
    for (let r = 0; r < k; r++, o += NR) {
      const src = r * n + p * NR;
      for (let j = 0; j < cols; j++) packed[o + j] = b[src + j]!;
    }
  }
  return packed;
}

/**
 * NHWC convolution as an indirect GEMM (the scheme of XNNPACK's igemm): for a tile of MR output
 * pixels, an indirection table gives, per filter tap, where each pixel's input row starts (or a
 * row of zeros, for padding); the MR×NR tile of outputs then accumulates in registers over all
 * taps and input channels, against the filter packed in NR-column panels, and is stored once.
 * Plain TypeScript: ~4.5 GFLOP/s in V8, against ~1 GFLOP/s for tfjs' cpu Conv2D.
 *
 *   out[b, oh, ow, n] = Σ_{kh, kw, c} x[b, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, c] · w[kh, kw, c, n]
 */
// biome-ignore format: the 4×8 register tile reads best one row of the tile per line
export function conv2dInto(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  out: Float32Array,
  g: ConvGeometry,
): void {
  const { batch, inChannels: K, outChannels: N } = g;
  const { in: H, out: OH, f: FH, stride: sh, dilation: dh, padBefore: pt } = g.h;
  const { in: W, out: OW, f: FW, stride: sw, dilation: dw, padBefore: pl } = g.w;
  const T = FH * FW;
  const xSize = batch * H * W * K;
  // x followed by K zeros: padding taps point at the zeros instead of branching in the loop.
  const xz = new Float32Array(xSize + K);
  if (x instanceof Float32Array) xz.set(x.subarray(0, xSize));
  else for (let i = 0; i < xSize; i++) xz[i] = x[i]!;
  const zero = xSize;
  const packed = packPanels(w, T * K, N);
  const panelSize = T * K * NR;
  const panels = Math.ceil(N / NR);
  const M = batch * OH * OW;
  const ind = new Int32Array(T * MR);
  const tile = new Float64Array(MR * NR);
  for (let m0 = 0; m0 < M; m0 += MR) {
    const rows = Math.min(MR, M - m0);
    for (let r = 0; r < MR; r++) {
      const m = m0 + r;
      if (r >= rows) {
        for (let t = 0; t < T; t++) ind[t * MR + r] = zero;
        continue;
      }
      const b = Math.floor(m / (OH * OW));
      const rem = m - b * OH * OW;
      const oh = Math.floor(rem / OW);
      const ow = rem - oh * OW;
      for (let kh = 0; kh < FH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        const rowOk = ih >= 0 && ih < H;
        for (let kw = 0; kw < FW; kw++) {
          const iw = ow * sw + kw * dw - pl;
          ind[(kh * FW + kw) * MR + r] =
            rowOk && iw >= 0 && iw < W ? ((b * H + ih) * W + iw) * K : zero;
        }
      }
    }
    for (let p = 0; p < panels; p++) {
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s04 = 0, s05 = 0, s06 = 0, s07 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0, s14 = 0, s15 = 0, s16 = 0, s17 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s24 = 0, s25 = 0, s26 = 0, s27 = 0;
      let s30 = 0, s31 = 0, s32 = 0, s33 = 0, s34 = 0, s35 = 0, s36 = 0, s37 = 0;
      let bp = p * panelSize;
      for (let t = 0; t < T; t++) {
        const a0 = ind[t * MR]!;
        const a1 = ind[t * MR + 1]!;
        const a2 = ind[t * MR + 2]!;
        const a3 = ind[t * MR + 3]!;
        for (let k = 0; k < K; k++, bp += NR) {
          const b0 = packed[bp]!, b1 = packed[bp + 1]!, b2 = packed[bp + 2]!, b3 = packed[bp + 3]!;
          const b4 = packed[bp + 4]!, b5 = packed[bp + 5]!, b6 = packed[bp + 6]!, b7 = packed[bp + 7]!;
          let v = xz[a0 + k]!;
          s00 += v * b0; s01 += v * b1; s02 += v * b2; s03 += v * b3;
          s04 += v * b4; s05 += v * b5; s06 += v * b6; s07 += v * b7;
          v = xz[a1 + k]!;
          s10 += v * b0; s11 += v * b1; s12 += v * b2; s13 += v * b3;
          s14 += v * b4; s15 += v * b5; s16 += v * b6; s17 += v * b7;
          v = xz[a2 + k]!;
          s20 += v * b0; s21 += v * b1; s22 += v * b2; s23 += v * b3;
          s24 += v * b4; s25 += v * b5; s26 += v * b6; s27 += v * b7;
          v = xz[a3 + k]!;
          s30 += v * b0; s31 += v * b1; s32 += v * b2; s33 += v * b3;
          s34 += v * b4; s35 += v * b5; s36 += v * b6; s37 += v * b7;
        }
      }
      const n0 = p * NR;
      const cols = Math.min(NR, N - n0);
      if (rows === MR && cols === NR) {
        let o = m0 * N + n0;
        out[o] = s00; out[o + 1] = s01; out[o + 2] = s02; out[o + 3] = s03;
        out[o + 4] = s04; out[o + 5] = s05; out[o + 6] = s06; out[o + 7] = s07;
        o += N;
        out[o] = s10; out[o + 1] = s11; out[o + 2] = s12; out[o + 3] = s13;
        out[o + 4] = s14; out[o + 5] = s15; out[o + 6] = s16; out[o + 7] = s17;
        o += N;
        out[o] = s20; out[o + 1] = s21; out[o + 2] = s22; out[o + 3] = s23;
        out[o + 4] = s24; out[o + 5] = s25; out[o + 6] = s26; out[o + 7] = s27;
        o += N;
        out[o] = s30; out[o + 1] = s31; out[o + 2] = s32; out[o + 3] = s33;
        out[o + 4] = s34; out[o + 5] = s35; out[o + 6] = s36; out[o + 7] = s37;
      } else {
        tile[0] = s00; tile[1] = s01; tile[2] = s02; tile[3] = s03;
        tile[4] = s04; tile[5] = s05; tile[6] = s06; tile[7] = s07;
        tile[8] = s10; tile[9] = s11; tile[10] = s12; tile[11] = s13;
        tile[12] = s14; tile[13] = s15; tile[14] = s16; tile[15] = s17;
        tile[16] = s20; tile[17] = s21; tile[18] = s22; tile[19] = s23;
        tile[20] = s24; tile[21] = s25; tile[22] = s26; tile[23] = s27;
        tile[24] = s30; tile[25] = s31; tile[26] = s32; tile[27] = s33;
        tile[28] = s34; tile[29] = s35; tile[30] = s36; tile[31] = s37;
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < cols; j++) out[(m0 + r) * N + n0 + j] = tile[r * NR + j]!;
        }
      }
    }
  }
}
