import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  assertFloat32,
  assertRank4,
  input,
  type KernelArgs,
  type KernelScope,
  runHostKernel,
} from './kernel-util.js';

/** tfjs' padding attr: 'same', 'valid', one number for all sides, or explicit NHWC pairs. */
export type PadAttr = 'valid' | 'same' | number | backend_util.ExplicitPadding;
export type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/**
 * The attrs of tfjs' conv kernels (and their gradients) that fix a convolution's geometry.
 * `dilations` also where tfjs never passes it (Conv2DBackpropFilter, Conv2DBackpropInput): we
 * honour it there. `dataFormat` only where the kernel has one (not the depthwise gradients).
 */
export interface ConvAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: PadAttr;
  dimRoundingMode?: RoundingMode;
  dataFormat?: 'NHWC' | 'NCHW';
}

/**
 * The two inputs of a conv kernel (`a`, `b` as tfjs names them: x, filter, dy), float32 and
 * rank 4; throws naming the kernel otherwise.
 */
export function convInputs(
  args: KernelArgs,
  kernel: string,
  a: string,
  b: string,
): [TensorInfo, TensorInfo] {
  const ta = input(args, a, kernel);
  const tb = input(args, b, kernel);
  assertFloat32(kernel, ta, tb);
  assertRank4(kernel, a, ta.shape);
  assertRank4(kernel, b, tb.shape);
  return [ta, tb];
}

/**
 * One spatial axis of a convolution: input length `in`, output length `out`, filter taps `f`,
 * `stride`, `dilation`, and the padding before (`padBefore`, as tfjs computes it) and after.
 * `padAfter` is derived from the output length, so it is exact (it may be negative when the last
 * input rows are never read, or exceed the nominal pad under `dimRoundingMode: 'ceil'`).
 */
export interface ConvAxis {
  in: number;
  out: number;
  f: number;
  stride: number;
  dilation: number;
  padBefore: number;
  padAfter: number;
}

/** NHWC geometry of a 2-D convolution, as seen from the forward op. */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  outChannels: number;
  h: ConvAxis;
  w: ConvAxis;
}

function axis(
  inLen: number,
  outLen: number,
  f: number,
  stride: number,
  dilation: number,
  padBefore: number,
): ConvAxis {
  const padAfter = (outLen - 1) * stride + (f - 1) * dilation + 1 - inLen - padBefore;
  return { in: inLen, out: outLen, f, stride, dilation, padBefore, padAfter };
}

/**
 * Geometry of a conv (or depthwise conv) from tfjs' attrs, via tfjs' own `computeConv2DInfo`, so
 * 'same' (asymmetric at stride 2), 'valid', explicit pads and `dimRoundingMode` mean exactly what
 * they mean to the stock kernels. `xShape` is in `attrs.dataFormat` (NHWC for the depthwise
 * gradients, which have none, as the stock kernels read them); the result is NHWC.
 */
export function convGeometry(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: ConvAttrs,
  depthwise: boolean,
): ConvGeometry {
  const dataFormat = depthwise ? 'NHWC' : (attrs.dataFormat ?? 'NHWC');
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    dataFormat === 'NHWC' ? 'channelsLast' : 'channelsFirst',
  );
  return {
    batch: info.batchSize,
    inChannels: info.inChannels,
    outChannels: info.outChannels,
    h: axis(
      info.inHeight,
      info.outHeight,
      info.filterHeight,
      info.strideHeight,
      info.dilationHeight,
      info.padInfo.top,
    ),
    w: axis(
      info.inWidth,
      info.outWidth,
      info.filterWidth,
      info.strideWidth,
      info.dilationWidth,
      info.padInfo.left,
    ),
  };
}

/** Explicit NHWC padding attr for stock kernels. */
export function explicitPad(
  top: number,
  bottom: number,
  left: number,
  right: number,
): backend_util.ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Stock conv kernels take only non-negative pads; a negative pad means "skip those input rows".
 * Crops `x` (NHWC) accordingly and returns the pads that remain; `null` when nothing is left.
 */
export function cropNegativePads(
  scope: KernelScope,
  x: TensorInfo,
  pads: [number, number, number, number],
): { x: TensorInfo; pads: [number, number, number, number] } | null {
  const [top, bottom, left, right] = pads;
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return { x, pads };
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const t = Math.max(0, -top);
  const l = Math.max(0, -left);
  const hh = h - t - Math.max(0, -bottom);
  const ww = w - l - Math.max(0, -right);
  if (hh <= 0 || ww <= 0) return null;
  const cropped = scope.slice(x, [0, t, l, 0], [b, hh, ww, c]);
  return {
    x: cropped,
    pads: [Math.max(0, top), Math.max(0, bottom), Math.max(0, left), Math.max(0, right)],
  };
}

/**
 * One phase of a strided transposed convolution along one axis. The gradient w.r.t. the input of
 * a stride-s conv splits into s stride-1 convolutions of dy, one per residue r of (i + padBefore)
 * mod s, each with the filter taps whose offset kh·dilation ≡ r (mod s), taken in reverse order:
 * no zeros are inserted into dy, so no multiply is wasted.
 */
export interface Phase {
  /** First index, in the filter reversed along this axis, of this phase's taps. */
  start: number;
  /** Step between this phase's taps in the (reversed) filter. */
  step: number;
  /** Number of taps. */
  taps: number;
  /** Dilation of the phase's stride-1 convolution over dy. */
  dilation: number;
  padBefore: number;
  padAfter: number;
}

export interface PhasePlan {
  stride: number;
  /** Rows every phase computes (some fall outside the input and are cropped). */
  rows: number;
  /** Where the input begins in the interleaved phase outputs. */
  crop: number;
  /** `null`: no filter tap lands on this phase, its rows of dx are zero. */
  phases: (Phase | null)[];
}

/** Phase plan for the input gradient along one axis of a conv with geometry `a`. */
export function planInputGradient(a: ConvAxis): PhasePlan {
  const s = a.stride;
  const p = a.padBefore;
  const q0 = Math.floor(p / s);
  const q1 = Math.floor((a.in - 1 + p) / s);
  const rows = q1 - q0 + 1;
  const phases: (Phase | null)[] = [];
  for (let r = 0; r < s; r++) {
    const taps: number[] = [];
    for (let k = 0; k < a.f; k++) if ((k * a.dilation) % s === r) taps.push(k);
    if (taps.length === 0) {
      phases.push(null);
      continue;
    }
    const first = taps[0]!;
    const last = taps[taps.length - 1]!;
    const step = taps.length > 1 ? taps[1]! - first : 1;
    const eMax = (last * a.dilation - r) / s;
    // Consecutive taps kh, kh + step land step·dilation/s rows of dy apart (a single tap: any).
    const dilation = taps.length > 1 ? (step * a.dilation) / s : 1;
    const padBefore = eMax - q0;
    const padAfter = rows - 1 + (taps.length - 1) * dilation + 1 - a.out - padBefore;
    phases.push({
      start: a.f - 1 - last,
      step,
      taps: taps.length,
      dilation,
      padBefore,
      padAfter,
    });
  }
  return { stride: s, rows, crop: p - s * q0, phases };
}

/** Parameters of one stride-1 convolution of dy that computes one phase of dx. */
export interface PhaseConv {
  /** dy, cropped where the phase's pads were negative. */
  dy: TensorInfo;
  /** The phase's taps of the prepared (reversed) filter. */
  filter: TensorInfo;
  dilations: [number, number];
  pad: backend_util.ExplicitPadding;
}

/**
 * dx of a (depthwise) convolution from stride-1 convolutions of dy, one per phase, interleaved.
 * `reversedFilter` is the filter reversed along height and width, in whatever channel layout
 * `conv` expects; `conv` runs one phase and returns [batch, rowsH, rowsW, channels].
 */
export function inputGradientByPhases(
  scope: KernelScope,
  dy: TensorInfo,
  reversedFilter: TensorInfo,
  g: ConvGeometry,
  channels: number,
  conv: (p: PhaseConv) => TensorInfo,
): TensorInfo {
  const ph = planInputGradient(g.h);
  const pw = planInputGradient(g.w);
  const [fh, fw, f2, f3] = reversedFilter.shape as [number, number, number, number];
  const zeros = () => scope.zeros([g.batch, ph.rows, pw.rows, channels]);
  const rowsOut: TensorInfo[] = [];
  for (const a of ph.phases) {
    const colsOut: TensorInfo[] = [];
    for (const b of pw.phases) {
      if (a === null || b === null) {
        colsOut.push(zeros());
        continue;
      }
      const cropped = cropNegativePads(scope, dy, [
        a.padBefore,
        a.padAfter,
        b.padBefore,
        b.padAfter,
      ]);
      if (cropped === null) {
        colsOut.push(zeros());
        continue;
      }
      const [pt, pb, pl, pr] = cropped.pads;
      const whole = a.taps === fh && b.taps === fw;
      const filter = whole
        ? reversedFilter
        : scope.stridedSlice(
            reversedFilter,
            [a.start, b.start, 0, 0],
            [a.start + (a.taps - 1) * a.step + 1, b.start + (b.taps - 1) * b.step + 1, f2, f3],
            [a.step, b.step, 1, 1],
          );
      colsOut.push(
        conv({
          dy: cropped.x,
          filter,
          dilations: [a.dilation, b.dilation],
          pad: explicitPad(pt, pb, pl, pr),
        }),
      );
    }
    if (colsOut.length === 1) {
      rowsOut.push(colsOut[0]!);
    } else {
      const packed = scope.pack(colsOut, 3);
      rowsOut.push(scope.reshape(packed, [g.batch, ph.rows, pw.rows * pw.stride, channels]));
    }
  }
  let full: TensorInfo;
  if (rowsOut.length === 1) {
    full = rowsOut[0]!;
  } else {
    const packed = scope.pack(rowsOut, 2);
    full = scope.reshape(packed, [g.batch, ph.rows * ph.stride, pw.rows * pw.stride, channels]);
  }
  const [, fullH, fullW] = full.shape as [number, number, number, number];
  if (ph.crop === 0 && pw.crop === 0 && fullH === g.h.in && fullW === g.w.in) return full;
  return scope.slice(full, [0, ph.crop, pw.crop, 0], [g.batch, g.h.in, g.w.in, channels]);
}

/**
 * The filter [fh, fw, a, b] with its taps reversed in height and width and, if `swap`, its two
 * channel axes swapped ([fh, fw, b, a]): the forward filter of a conv's input gradient. One
 * pass in TypeScript (filters are small) instead of a Reverse and a Transpose kernel.
 */
export function reversedFilter(scope: KernelScope, filter: TensorInfo, swap: boolean): TensorInfo {
  const [fh, fw, a, b] = filter.shape as [number, number, number, number];
  const outShape = swap ? [fh, fw, b, a] : [fh, fw, a, b];
  return scope.track(
    runHostKernel(scope.backendName, scope.backend, [filter], outShape, ([src], dst) => {
      const w = src!;
      for (let i = 0; i < fh; i++) {
        for (let j = 0; j < fw; j++) {
          const from = ((fh - 1 - i) * fw + (fw - 1 - j)) * a * b;
          const to = (i * fw + j) * a * b;
          if (!swap) {
            for (let k = 0; k < a * b; k++) dst[to + k] = w[from + k]!;
            continue;
          }
          for (let c = 0; c < a; c++) {
            for (let o = 0; o < b; o++) dst[to + o * a + c] = w[from + c * b + o]!;
          }
        }
      }
    }),
  );
}
