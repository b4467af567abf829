import { type ConvCase, conv2dCases, describeConvGradient } from './conv-cases.js';
import { EXPLICIT } from './helpers.js';

// First layers (kh·kw·in ≤ out): wasm takes the patches-GEMM route instead of the Conv2D one.
const firstLayers: ConvCase[] = [
  { xShape: [2, 9, 8, 1], filterShape: [3, 3, 1, 16], strides: 1, dilations: 1, pad: 'same' },
  { xShape: [2, 9, 8, 1], filterShape: [5, 5, 1, 32], strides: 2, dilations: 1, pad: EXPLICIT },
  { xShape: [2, 9, 8, 3], filterShape: [3, 3, 3, 27], strides: 2, dilations: 1, pad: 'valid' },
].map((c) => ({ name: `first layer x[${c.xShape}] ${c.filterShape}`, ...c }) as ConvCase);

describeConvGradient(
  { kernel: 'Conv2DBackpropFilter', of: 'filter', depthwise: false },
  conv2dCases({
    grid: [
      {
        name: 'wide channels x[1,6,7,8] 3x3→16 s1 same',
        xShape: [1, 6, 7, 8],
        filterShape: [3, 3, 8, 16],
        strides: 1,
        dilations: 1,
        pad: 'same',
      },
      ...firstLayers,
    ],
    dilated: [
      {
        name: 'first layer, dilated',
        xShape: [2, 9, 8, 1],
        filterShape: [3, 3, 1, 9],
        strides: 1,
        dilations: 2,
        pad: 'valid',
      },
    ],
  }),
);
