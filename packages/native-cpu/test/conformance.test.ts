import { describeBackendConformance } from '@dqa/core/conformance';
import { quantizers } from '@dqa/quantizers';
import { createNativeCpuBackend } from '../src/index.js';
import { describeNative } from './native.js';

// Core's conformance suite: every op and gradient against the reference kernels and finite
// differences, memory scopes, custom gradients, every quantizer plugin and the relaxations.
describeNative('native-cpu conformance', () => {
  describeBackendConformance({
    name: 'native-cpu',
    create: () => createNativeCpuBackend(),
    quantizers,
  });
});
