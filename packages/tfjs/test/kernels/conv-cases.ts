import { backend_util } from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import {
  EXPLICIT,
  expectClose,
  expectEqualsStock,
  expectOursClose,
  type HostTensor,
  itEqualsStock,
  type KernelCall,
  type Pad,
  random,
  runKernelOn,
  setUpKernels,
  stock,
  tensor,
} from './helpers.js';

/** One convolution geometry of the grid the conv gradient kernels are checked on. */
export interface ConvCase {
  name: string;
  xShape: number[];
  /** [fh, fw, in, out] (conv) or [fh, fw, in, multiplier] (depthwise). */
  filterShape: number[];
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function label(c: Omit<ConvCase, 'name'>): string {
  const pad = typeof c.pad === 'object' ? 'explicit' : String(c.pad);
  const [fh, fw, , o] = c.filterShape;
  return [
    `x[${c.xShape}]`,
    `${fh}x${fw}→${o}`,
    `s${c.strides}`,
    `d${c.dilations}`,
    pad,
    c.dimRoundingMode ?? '',
  ]
    .join(' ')
    .trim();
}

const make = (c: Omit<ConvCase, 'name'>): ConvCase => ({ name: label(c), ...c });

/**
 * Filters 1×1, 3×3, 5×5 × strides 1, 2 × 'same', 'valid', asymmetric explicit pads, on an odd
 * 9×8 input (so 'same' at stride 2 pads asymmetrically in height), batch 2; then numeric pads
 * with `dimRoundingMode`, a rectangular filter with unequal strides, and wider channel counts.
 * `out` is the conv's output channels, or the depthwise multiplier.
 */
export function convGrid(out: number[], opts: { dilated: boolean }): ConvCase[] {
  const cases: ConvCase[] = [];
  for (const o of out) {
    for (const f of [1, 3, 5]) {
      for (const s of [1, 2]) {
        for (const pad of ['same', 'valid', EXPLICIT] as Pad[]) {
          cases.push(
            make({
              xShape: [2, 9, 8, 3],
              filterShape: [f, f, 3, o],
              strides: s,
              dilations: 1,
              pad,
            }),
          );
        }
      }
    }
    for (const mode of ['floor', 'ceil'] as const) {
      cases.push(
        make({
          xShape: [2, 8, 9, 3],
          filterShape: [3, 3, 3, o],
          strides: 2,
          dilations: 1,
          pad: 1,
          dimRoundingMode: mode,
        }),
      );
    }
    cases.push(
      make({
        xShape: [1, 10, 7, 3],
        filterShape: [3, 1, 3, o],
        strides: [2, 1],
        dilations: 1,
        pad: 'same',
      }),
    );
    if (opts.dilated) {
      for (const pad of ['same', 'valid', EXPLICIT] as Pad[]) {
        cases.push(
          make({ xShape: [2, 9, 8, 3], filterShape: [3, 3, 3, o], strides: 1, dilations: 2, pad }),
        );
      }
    }
  }
  return cases;
}

/**
 * Conv geometry as tfjs computes it (tfjs' own `computeConv2DInfo`, not the kernels'
 * `convGeometry`), for the plain-loop references and for making dy of the right shape.
 */
export function convInfo(c: ConvCase, depthwise: boolean): backend_util.Conv2DInfo {
  const rank4 = (shape: number[]) => shape as [number, number, number, number];
  const { strides, dilations, pad, dimRoundingMode } = c;
  return backend_util.computeConv2DInfo(
    rank4(c.xShape),
    rank4(c.filterShape),
    strides,
    dilations,
    pad,
    dimRoundingMode,
    depthwise,
  );
}

/**
 * Visits every (x element, filter element, y element) triple of an NHWC (depthwise) conv:
 * y[b, oh, ow, o] += x[b, ih, iw, c] · w[kh, kw, c, m]. The plain-loop reference for geometries
 * tfjs' stock cpu kernels do not cover (dilated conv2d gradients).
 */
export function forEachTap(
  info: backend_util.Conv2DInfo,
  depthwise: boolean,
  visit: (xi: number, wi: number, yi: number) => void,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } =
    info;
  const mult = depthwise ? outChannels / inChannels : outChannels;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - info.padInfo.top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - info.padInfo.left;
            if (iw < 0 || iw >= inWidth) continue;
            for (let c = 0; c < inChannels; c++) {
              const xi = ((b * inHeight + ih) * inWidth + iw) * inChannels + c;
              for (let m = 0; m < mult; m++) {
                const wi = ((kh * filterWidth + kw) * inChannels + c) * mult + m;
                const o = depthwise ? c * mult + m : m;
                const yi = ((b * outHeight + oh) * outWidth + ow) * outChannels + o;
                visit(xi, wi, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** A conv gradient kernel: which gradient it computes, of which convolution. */
export interface ConvGradient {
  kernel: string;
  /** `filter`: dW from inputs x and dy; `input`: dx from inputs dy and filter. */
  of: 'filter' | 'input';
  depthwise: boolean;
}

/**
 * The kernel's inputs for a case, from one seeded stream: x (dW) or the filter (dx) first, then
 * dy of the conv's output shape.
 */
function gradientInputs(k: ConvGradient, c: ConvCase, seed: number): Record<string, HostTensor> {
  const r = random(seed);
  const operand = tensor(r, k.of === 'filter' ? c.xShape : c.filterShape);
  const dy = tensor(r, convInfo(c, k.depthwise).outShape);
  return k.of === 'filter' ? { x: operand, dy } : { dy, filter: operand };
}

/** tfjs' attrs for the case (the depthwise gradients have no `dataFormat`), dilations included. */
function gradientAttrs(k: ConvGradient, c: ConvCase): object {
  return {
    strides: c.strides,
    dilations: c.dilations,
    pad: c.pad,
    dimRoundingMode: c.dimRoundingMode,
    ...(k.depthwise ? {} : { dataFormat: 'NHWC' }),
    ...(k.of === 'filter' ? { filterShape: c.filterShape } : { inputShape: c.xShape }),
  };
}

/** The kernel's call for a case, its inputs drawn from `seed`. */
export function gradientCall(k: ConvGradient, c: ConvCase, seed: number): KernelCall {
  return { inputs: gradientInputs(k, c, seed), attrs: gradientAttrs(k, c) };
}

/**
 * dW or dx by plain loops over every tap: tfjs' kernels have no dilated conv2d gradient to
 * compare with, and its depthwise ones ignore dilations (tfjs' gradient never passes any).
 */
export function gradientReference(k: ConvGradient, c: ConvCase, call: KernelCall): HostTensor {
  const { x, dy, filter } = call.inputs;
  const shape = k.of === 'filter' ? c.filterShape : c.xShape;
  const grad = new Float64Array(shape.reduce((a, b) => a * b, 1));
  forEachTap(convInfo(c, k.depthwise), k.depthwise, (xi, wi, yi) => {
    if (k.of === 'filter') grad[wi] += x!.values[xi]! * dy!.values[yi]!;
    else grad[xi] += dy!.values[yi]! * filter!.values[wi]!;
  });
  return { shape, values: Float32Array.from(grad) };
}

/**
 * NCHW, stride 2, asymmetric explicit pads: x [2, 3, 9, 8], filter [3, 3, 3, 4], dy [2, 4, 5, 4],
 * the inputs drawn from `seed` in the same order as `gradientCall`'s.
 */
function nchwCall(k: ConvGradient, seed: number): KernelCall {
  const xShape = [2, 3, 9, 8];
  const filterShape = [3, 3, 3, 4];
  const r = random(seed);
  const operand = tensor(r, k.of === 'filter' ? xShape : filterShape);
  const dy = tensor(r, [2, 4, 5, 4]);
  const attrs = {
    strides: 2,
    pad: [
      [0, 0],
      [0, 0],
      [1, 2],
      [2, 0],
    ],
    dataFormat: 'NCHW',
  };
  return k.of === 'filter'
    ? { inputs: { x: operand, dy }, attrs: { ...attrs, filterShape } }
    : { inputs: { dy, filter: operand }, attrs: { ...attrs, inputShape: xShape } };
}

/** Ours on wasm and cpu equal the plain-loop reference on a case, its inputs drawn from `seed`. */
export function expectEqualsLoops(k: ConvGradient, c: ConvCase, seed: number): void {
  const call = gradientCall(k, c, seed);
  expectOursClose(k.kernel, ['wasm', 'cpu'], call, gradientReference(k, c, call));
}

/** The cases a conv gradient kernel is checked on, and any tests of its own. */
export interface ConvGradientTests {
  /** Compared with tfjs' stock cpu kernel. */
  grid: ConvCase[];
  /** Compared with plain loops (geometries the stock kernel gets wrong or lacks). */
  dilated: ConvCase[];
  /** Names the loop describe: `${kernel} ${dilatedTitle}: equals plain loops`. */
  dilatedTitle: string;
  /** Picks the grid case on which the loop reference is checked against the stock kernel. */
  referenceCase: (c: ConvCase) => boolean;
  /** Also check NCHW against the stock kernel (the kernels that take a `dataFormat`). */
  nchw?: boolean;
  /** More tests for the loop describe. */
  moreLoops?: () => void;
}

/**
 * The conv2d gradients' cases: the grid without dilations (5 output channels) and then `own.grid`
 * against the stock kernel, NCHW too; the grid's dilation-2 cases (4 output channels) and then
 * `own.dilated` against plain loops (dilations are our extension of tfjs' attrs there).
 */
export function conv2dCases(own: {
  grid: ConvCase[];
  dilated?: ConvCase[];
  moreLoops?: () => void;
}): ConvGradientTests {
  return {
    grid: [...convGrid([5], { dilated: false }), ...own.grid],
    dilated: [
      ...convGrid([4], { dilated: true }).filter((c) => c.dilations === 2),
      ...(own.dilated ?? []),
    ],
    dilatedTitle: "with dilations (our extension of tfjs' attrs)",
    referenceCase: (g) => g.pad === EXPLICIT && g.strides === 2 && g.filterShape[0] === 3,
    nchw: true,
    moreLoops: own.moreLoops,
  };
}

/**
 * The depthwise gradients' cases, multipliers 1 and 2: the grid without dilations and a wide
 * channel count against the stock kernel, the grid's dilation-2 cases against plain loops.
 */
export function depthwiseCases(): ConvGradientTests {
  const all = convGrid([1, 2], { dilated: true });
  return {
    grid: [
      ...all.filter((c) => c.dilations === 1),
      {
        name: 'wide channels x[2,7,6,12] 3x3×1 s2 same',
        xShape: [2, 7, 6, 12],
        filterShape: [3, 3, 12, 1],
        strides: 2,
        dilations: 1,
        pad: 'same',
      },
    ],
    dilated: all.filter((c) => c.dilations === 2),
    dilatedTitle: 'with dilation 2',
    referenceCase: (g) => g.strides === 2 && g.filterShape[0] === 3 && g.filterShape[3] === 2,
  };
}

/**
 * The tests every conv gradient kernel gets: on wasm and cpu, ours equal tfjs' stock cpu kernel
 * over `grid` and plain loops over `dilated`, and the loops equal the stock kernel on one case.
 */
export function describeConvGradient(k: ConvGradient, t: ConvGradientTests): void {
  describe(`${k.kernel}: ours on wasm and cpu equal tfjs' stock cpu kernel`, () => {
    beforeAll(setUpKernels);

    itEqualsStock({
      kernel: k.kernel,
      backends: ['wasm', 'cpu'],
      cases: t.grid,
      name: (c) => c.name,
      call: (c, i) => gradientCall(k, c, 100 + i),
    });
    if (t.nchw) {
      it('NCHW, stride 2, asymmetric explicit pads', () => {
        expectEqualsStock(k.kernel, ['wasm', 'cpu'], nchwCall(k, 7));
      });
    }
  });

  describe(`${k.kernel} ${t.dilatedTitle}: equals plain loops`, () => {
    beforeAll(setUpKernels);

    t.dilated.forEach((c, i) => {
      it(c.name, () => expectEqualsLoops(k, c, 200 + i));
    });
    t.moreLoops?.();

    it('the loop reference agrees with the stock kernel where both apply', () => {
      const c = t.grid.find(t.referenceCase)!;
      const call = gradientCall(k, c, 300);
      expectClose(
        gradientReference(k, c, call),
        runKernelOn('cpu', stock(k.kernel), call.inputs, call.attrs),
      );
    });
  });
}
