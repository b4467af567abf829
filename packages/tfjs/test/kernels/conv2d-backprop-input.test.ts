import { beforeAll, describe, it } from 'vitest';
import { type ConvCase, convGrid } from './conv-cases.js';
import {
  convInfo,
  EXPLICIT,
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

const NAME = 'Conv2DBackpropInput';

function inputs(c: ConvCase, seed: number): { dy: HostTensor; filter: HostTensor } {
  const r = random(seed);
  const filter = tensor(r, c.filterShape);
  const dy = tensor(
    r,
    outShape(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, c.dimRoundingMode),
  );
  return { dy, filter };
}

const attrs = (c: ConvCase) => ({
  strides: c.strides,
  pad: c.pad,
  dataFormat: 'NHWC',
  dimRoundingMode: c.dimRoundingMode,
  inputShape: c.xShape,
  dilations: c.dilations,
});

/** dx by plain loops: tfjs' kernels have no dilated conv2d gradient to compare with. */
function reference(c: ConvCase, dy: HostTensor, filter: HostTensor): HostTensor {
  const info = convInfo(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, c.dimRoundingMode);
  const dx = new Float64Array(c.xShape.reduce((a, b) => a * b, 1));
  forEachTap(info, false, (xi, wi, yi) => {
    dx[xi] += dy.values[yi]! * filter.values[wi]!;
  });
  return { shape: c.xShape, values: Float32Array.from(dx) };
}

const grid = [
  ...convGrid([5], { dilated: false }),
  {
    name: 'wide channels x[1,6,7,16] 3x3→8 s2 same',
    xShape: [1, 6, 7, 16],
    filterShape: [3, 3, 16, 8],
    strides: 2,
    dilations: 1,
    pad: 'same',
  } satisfies ConvCase,
  {
    name: 'stride 3 over a 2x2 filter (phases without taps)',
    xShape: [2, 10, 11, 3],
    filterShape: [2, 2, 3, 4],
    strides: 3,
    dilations: 1,
    pad: 'valid',
  } satisfies ConvCase,
];
const dilated = convGrid([4], { dilated: true }).filter((c) => c.dilations === 2);

describe(`${NAME}: ours on wasm and cpu equal tfjs' stock cpu kernel`, () => {
  beforeAll(setUpKernels);

  it.each(grid.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => {
    const { dy, filter } = inputs(c, 100 + i);
    const expected = runKernelOn('cpu', stock(NAME), { dy, filter }, attrs(c));
    expectClose(runKernelOn('wasm', NAME, { dy, filter }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { dy, filter }, attrs(c)), expected);
  });

  it('NCHW, stride 2, asymmetric explicit pads', () => {
    const r = random(7);
    const filter = tensor(r, [3, 3, 3, 4]);
    const dy = tensor(r, [2, 4, 5, 4]);
    const a = {
      strides: 2,
      pad: [
        [0, 0],
        [0, 0],
        [1, 2],
        [2, 0],
      ],
      dataFormat: 'NCHW',
      inputShape: [2, 3, 9, 8],
    };
    const expected = runKernelOn('cpu', stock(NAME), { dy, filter }, a);
    expectClose(runKernelOn('wasm', NAME, { dy, filter }, a), expected);
    expectClose(runKernelOn('cpu', NAME, { dy, filter }, a), expected);
  });
});

describe(`${NAME} with dilations (our extension of tfjs' attrs): equals plain loops`, () => {
  beforeAll(setUpKernels);

  it.each(dilated.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => {
    const { dy, filter } = inputs(c, 200 + i);
    const expected = reference(c, dy, filter);
    expectClose(runKernelOn('wasm', NAME, { dy, filter }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { dy, filter }, attrs(c)), expected);
  });

  it('dilation 2 with stride 2 together', () => {
    const c: ConvCase = {
      name: '',
      xShape: [2, 11, 10, 3],
      filterShape: [3, 3, 3, 4],
      strides: 2,
      dilations: 2,
      pad: EXPLICIT,
    };
    const { dy, filter } = inputs(c, 250);
    const expected = reference(c, dy, filter);
    expectClose(runKernelOn('wasm', NAME, { dy, filter }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { dy, filter }, attrs(c)), expected);
  });

  it('the loop reference agrees with the stock kernel where both apply', () => {
    const c = grid.find((g) => g.pad === EXPLICIT && g.strides === 2 && g.filterShape[0] === 3)!;
    const { dy, filter } = inputs(c, 300);
    expectClose(
      reference(c, dy, filter),
      runKernelOn('cpu', stock(NAME), { dy, filter }, attrs(c)),
    );
  });
});
