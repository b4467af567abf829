import { depthwiseCases, describeConvGradient } from './conv-cases.js';

describeConvGradient(
  { kernel: 'DepthwiseConv2dNativeBackpropInput', of: 'input', depthwise: true },
  depthwiseCases(),
);
