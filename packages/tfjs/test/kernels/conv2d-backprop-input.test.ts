import { it } from 'vitest';
import {
  type ConvGradient,
  conv2dCases,
  describeConvGradient,
  expectEqualsLoops,
} from './conv-cases.js';
import { EXPLICIT } from './helpers.js';

const KERNEL: ConvGradient = { kernel: 'Conv2DBackpropInput', of: 'input', depthwise: false };

describeConvGradient(
  KERNEL,
  conv2dCases({
    grid: [
      {
        name: 'wide channels x[1,6,7,16] 3x3→8 s2 same',
        xShape: [1, 6, 7, 16],
        filterShape: [3, 3, 16, 8],
        strides: 2,
        dilations: 1,
        pad: 'same',
      },
      {
        name: 'stride 3 over a 2x2 filter (phases without taps)',
        xShape: [2, 10, 11, 3],
        filterShape: [2, 2, 3, 4],
        strides: 3,
        dilations: 1,
        pad: 'valid',
      },
    ],
    moreLoops: () => {
      it('dilation 2 with stride 2 together', () => {
        const c = {
          name: '',
          xShape: [2, 11, 10, 3],
          filterShape: [3, 3, 3, 4],
          strides: 2,
          dilations: 2,
          pad: EXPLICIT,
        };
        expectEqualsLoops(KERNEL, c, 250);
      });
    },
  }),
);
