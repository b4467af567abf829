import {
  cast,
  conv2d,
  setBackend,
  slice,
  tensor4d as tfTensor4d,
  transpose,
} from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConvCase, convGrid } from './conv-cases.js';
import { expectEqualsStock, itEqualsStock, random, setUpKernels, tensor } from './helpers.js';

// Ours replaces Conv2D and FusedConv2D on cpu only (wasm's run on XNNPACK).
const grid: ConvCase[] = [
  ...convGrid([5], { dilated: true }),
  {
    name: 'wide channels x[2,5,6,19] 3x3→21 s1 same',
    xShape: [2, 5, 6, 19],
    filterShape: [3, 3, 19, 21],
    strides: 1,
    dilations: 1,
    pad: 'same',
  },
];

describe("Conv2D: ours on cpu equals tfjs' stock cpu kernel", () => {
  beforeAll(setUpKernels);

  itEqualsStock({
    kernel: 'Conv2D',
    backends: ['cpu'],
    cases: grid,
    name: (c) => c.name,
    call: (c, i) => {
      const r = random(100 + i);
      const x = tensor(r, c.xShape);
      const filter = tensor(r, c.filterShape);
      const attrs = {
        strides: c.strides,
        dilations: c.dilations,
        pad: c.pad,
        dimRoundingMode: c.dimRoundingMode,
        dataFormat: 'NHWC',
      };
      return { inputs: { x, filter }, attrs };
    },
  });

  it('NCHW', () => {
    const r = random(7);
    const x = tensor(r, [2, 3, 9, 8]);
    const filter = tensor(r, [3, 3, 3, 4]);
    const attrs = { strides: 2, dilations: 1, pad: 'same', dataFormat: 'NCHW' };
    expectEqualsStock('Conv2D', ['cpu'], { inputs: { x, filter }, attrs });
  });
});

describe('cpu kernels on float32 tensors cast from int32', () => {
  beforeAll(setUpKernels);

  // tfjs' cpu Cast from int32 to float32 keeps the Int32Array under the float32 dtype.
  it('Conv2D, Transpose and Slice read them, and return float32 arrays', async () => {
    await setBackend('cpu');
    const x = cast(tfTensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1], 'int32'), 'float32');
    const w = tfTensor4d([1, 0, 0, 1], [2, 2, 1, 1]);
    expect(Array.from(conv2d(x, w, 1, 'valid').dataSync())).toEqual([6, 8, 12, 14]);
    const t = transpose(x, [0, 2, 1, 3]);
    expect(t.dataSync()).toBeInstanceOf(Float32Array);
    expect(Array.from(t.dataSync())).toEqual([1, 4, 7, 2, 5, 8, 3, 6, 9]);
    expect(slice(x, [0, 1, 1, 0], [1, 2, 2, 1]).dataSync()).toBeInstanceOf(Float32Array);
  });
});

describe("FusedConv2D: ours on cpu equals tfjs' stock cpu kernel", () => {
  beforeAll(setUpKernels);

  const cases = [
    { dataFormat: 'NHWC', activation: 'relu', bias: true },
    { dataFormat: 'NHWC', activation: 'linear', bias: false },
    { dataFormat: 'NHWC', activation: 'relu6', bias: true },
    { dataFormat: 'NHWC', activation: 'leakyrelu', bias: true, leakyreluAlpha: 0.1 },
    { dataFormat: 'NHWC', activation: 'prelu', bias: true },
    { dataFormat: 'NCHW', activation: 'relu', bias: true },
    { dataFormat: 'NCHW', activation: 'prelu', bias: false },
  ] as const;

  itEqualsStock({
    kernel: 'FusedConv2D',
    backends: ['cpu'],
    cases,
    name: (c) => JSON.stringify(c),
    call: (c, i) => {
      const r = random(300 + i);
      const nchw = c.dataFormat === 'NCHW';
      const x = tensor(r, nchw ? [2, 3, 9, 8] : [2, 9, 8, 3]);
      const filter = tensor(r, [3, 3, 3, 4]);
      const inputs = {
        x,
        filter,
        ...(c.bias ? { bias: tensor(r, [4]) } : {}),
        ...(c.activation === 'prelu' ? { preluActivationWeights: tensor(r, [4]) } : {}),
      };
      const attrs = {
        strides: 2,
        dilations: 1,
        pad: 'same',
        dataFormat: c.dataFormat,
        activation: c.activation,
        leakyreluAlpha: 'leakyreluAlpha' in c ? c.leakyreluAlpha : undefined,
      };
      return { inputs, attrs };
    },
  });
});
