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

const NAME = 'Conv2DBackpropFilter';

function inputs(c: ConvCase, seed: number): { x: HostTensor; dy: HostTensor } {
  const r = random(seed);
  const x = tensor(r, c.xShape);
  const dy = tensor(
    r,
    outShape(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, c.dimRoundingMode),
  );
  return { x, dy };
}

const attrs = (c: ConvCase) => ({
  strides: c.strides,
  pad: c.pad,
  dataFormat: 'NHWC',
  dimRoundingMode: c.dimRoundingMode,
  filterShape: c.filterShape,
  dilations: c.dilations,
});

/** dW by plain loops: tfjs' kernels have no dilated conv2d gradient to compare with. */
function reference(c: ConvCase, x: HostTensor, dy: HostTensor): HostTensor {
  const info = convInfo(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, c.dimRoundingMode);
  const dw = new Float64Array(c.filterShape.reduce((a, b) => a * b, 1));
  forEachTap(info, false, (xi, wi, yi) => {
    dw[wi] += x.values[xi]! * dy.values[yi]!;
  });
  return { shape: c.filterShape, values: Float32Array.from(dw) };
}

const grid: ConvCase[] = [
  ...convGrid([5], { dilated: false }),
  {
    name: 'wide channels x[1,6,7,8] 3x3→16 s1 same',
    xShape: [1, 6, 7, 8],
    filterShape: [3, 3, 8, 16],
    strides: 1,
    dilations: 1,
    pad: 'same',
  } satisfies ConvCase,
];
// First layers (kh·kw·in ≤ out): wasm takes the patches-GEMM route instead of the Conv2D one.
const firstLayers: ConvCase[] = [
  { xShape: [2, 9, 8, 1], filterShape: [3, 3, 1, 16], strides: 1, dilations: 1, pad: 'same' },
  { xShape: [2, 9, 8, 1], filterShape: [5, 5, 1, 32], strides: 2, dilations: 1, pad: EXPLICIT },
  { xShape: [2, 9, 8, 3], filterShape: [3, 3, 3, 27], strides: 2, dilations: 1, pad: 'valid' },
].map((c) => ({ name: `first layer x[${c.xShape}] ${c.filterShape}`, ...c }) as ConvCase);
grid.push(...firstLayers);
const dilated = [
  ...convGrid([4], { dilated: true }).filter((c) => c.dilations === 2),
  {
    name: 'first layer, dilated',
    xShape: [2, 9, 8, 1],
    filterShape: [3, 3, 1, 9],
    strides: 1,
    dilations: 2,
    pad: 'valid',
  } satisfies ConvCase,
];

describe(`${NAME}: ours on wasm and cpu equal tfjs' stock cpu kernel`, () => {
  beforeAll(setUpKernels);

  it.each(grid.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => {
    const { x, dy } = inputs(c, 100 + i);
    const expected = runKernelOn('cpu', stock(NAME), { x, dy }, attrs(c));
    expectClose(runKernelOn('wasm', NAME, { x, dy }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { x, dy }, attrs(c)), expected);
  });

  it('NCHW, stride 2, asymmetric explicit pads', () => {
    const r = random(7);
    const x = tensor(r, [2, 3, 9, 8]);
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
      filterShape: [3, 3, 3, 4],
    };
    const expected = runKernelOn('cpu', stock(NAME), { x, dy }, a);
    expectClose(runKernelOn('wasm', NAME, { x, dy }, a), expected);
    expectClose(runKernelOn('cpu', NAME, { x, dy }, a), expected);
  });
});

describe(`${NAME} with dilations (our extension of tfjs' attrs): equals plain loops`, () => {
  beforeAll(setUpKernels);

  it.each(dilated.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => {
    const { x, dy } = inputs(c, 200 + i);
    const expected = reference(c, x, dy);
    expectClose(runKernelOn('wasm', NAME, { x, dy }, attrs(c)), expected);
    expectClose(runKernelOn('cpu', NAME, { x, dy }, attrs(c)), expected);
  });

  it('the loop reference agrees with the stock kernel where both apply', () => {
    const c = grid.find((g) => g.pad === EXPLICIT && g.strides === 2 && g.filterShape[0] === 3)!;
    const { x, dy } = inputs(c, 300);
    expectClose(reference(c, x, dy), runKernelOn('cpu', stock(NAME), { x, dy }, attrs(c)));
  });
});
