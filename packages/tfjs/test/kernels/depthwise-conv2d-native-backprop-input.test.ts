import { beforeAll, describe, it } from 'vitest';
import { type ConvCase, convGrid } from './conv-cases.js';
import {
  convInfo,
  expectClose,
  forEachTap,
  type HostTensor,
  outShape,
  random,
  runKernelOn,
  setUpKernels,
  stock,
  tensor,
} from './helpers.js';

const NAME = 'DepthwiseConv2dNativeBackpropInput';

// Multipliers 1 and 2.
const all = convGrid([1, 2], { dilated: true });
const grid: ConvCase[] = [
  ...all.filter((c) => c.dilations === 1),
  {
    name: 'wide channels x[2,7,6,12] 3x3×1 s2 same',
    xShape: [2, 7, 6, 12],
    filterShape: [3, 3, 12, 1],
    strides: 2,
    dilations: 1,
    pad: 'same',
  },
];
const dilated = all.filter((c) => c.dilations === 2);

function inputs(c: ConvCase, seed: number): { dy: HostTensor; filter: HostTensor } {
  const r = random(seed);
  const filter = tensor(r, c.filterShape);
  const dy = tensor(
    r,
    outShape(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, c.dimRoundingMode, true),
  );
  return { dy, filter };
}

const attrs = (c: ConvCase) => ({
  strides: c.strides,
  dilations: c.dilations,
  pad: c.pad,
  dimRoundingMode: c.dimRoundingMode,
  inputShape: c.xShape,
});

/** dx by plain loops (tfjs' cpu kernel ignores dilations; tfjs' gradient never passes any). */
function reference(c: ConvCase, dy: HostTensor, filter: HostTensor): HostTensor {
  const info = convInfo(
    c.xShape,
    c.filterShape,
    c.strides,
    c.dilations,
    c.pad,
    c.dimRoundingMode,
    true,
  );
  const dx = new Float64Array(c.xShape.reduce((a, b) => a * b, 1));
  forEachTap(info, true, (xi, wi, yi) => {
    dx[xi] += dy.values[yi]! * filter.values[wi]!;
  });
  return { shape: c.xShape, values: Float32Array.from(dx) };
}

describe(`${NAME}: ours on wasm and cpu equal tfjs' stock cpu kernel`, () => {
  beforeAll(setUpKernels);

  it.each(grid.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => {
    const { dy, filter } = inputs(c, 100 + i);
    const expected = runKernelOn('cpu', stock(NAME), { dy, filter }, attrs(c));
    expectClose(runKernelOn('wasm', NAME, { dy, filter }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { dy, filter }, attrs(c)), expected);
  });
});

describe(`${NAME} with dilation 2: equals plain loops`, () => {
  beforeAll(setUpKernels);

  it.each(dilated.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => {
    const { dy, filter } = inputs(c, 200 + i);
    const expected = reference(c, dy, filter);
    expectClose(runKernelOn('wasm', NAME, { dy, filter }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { dy, filter }, attrs(c)), expected);
  });

  it('the loop reference agrees with the stock kernel where both apply', () => {
    const c = grid.find(
      (g) => g.strides === 2 && g.filterShape[0] === 3 && g.filterShape[3] === 2,
    )!;
    const { dy, filter } = inputs(c, 300);
    expectClose(
      reference(c, dy, filter),
      runKernelOn('cpu', stock(NAME), { dy, filter }, attrs(c)),
    );
  });
});
