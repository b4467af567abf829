import type { Kernels } from '../backend/kernels.js';
import * as conv from './conv.js';
import * as ew from './elementwise.js';
import * as linalg from './linalg.js';
import { reduce } from './reduce.js';

/**
 * The reference kernels: plain TypeScript over `Float32Array`, written for clarity rather than
 * speed. They define what every other backend must compute (the conformance suite compares
 * against them) and run the reference backend used by tests.
 */
export const referenceKernels: Kernels<Float32Array> = {
  name: 'reference',
  upload: (values) => Float32Array.from(values),
  download: (data) => data.slice(),
  release: () => {},
  fill: (size, value) => new Float32Array(size).fill(value),
  binary: ew.binary,
  unary: (op, x) => ew.unary(op, x),
  clip: (x, _size, lo, hi) => ew.clip(x, lo, hi),
  where: ew.where,
  reduce,
  transpose: linalg.transpose,
  matMul: linalg.matMul,
  conv2d: conv.conv2d,
  conv2dBackpropInput: conv.conv2dBackpropInput,
  conv2dBackpropFilter: conv.conv2dBackpropFilter,
  depthwiseConv2d: conv.depthwiseConv2d,
  depthwiseConv2dBackpropInput: conv.depthwiseConv2dBackpropInput,
  depthwiseConv2dBackpropFilter: conv.depthwiseConv2dBackpropFilter,
  maxPool: conv.maxPool,
  maxPoolBackprop: conv.maxPoolBackprop,
  avgPool: conv.avgPool,
  avgPoolBackprop: conv.avgPoolBackprop,
};
