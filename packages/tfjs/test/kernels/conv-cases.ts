import { EXPLICIT, type Pad } from './helpers.js';

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
