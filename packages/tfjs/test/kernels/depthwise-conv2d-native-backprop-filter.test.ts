import { depthwiseCases, describeConvGradient } from './conv-cases.js';

describeConvGradient(
  { kernel: 'DepthwiseConv2dNativeBackpropFilter', of: 'filter', depthwise: true },
  depthwiseCases(),
);
