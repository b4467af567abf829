import { createReferenceBackend } from '@dqa/core';
import { describeBackendConformance } from '@dqa/core/conformance';
import { quantizers } from '../src/index.js';

// Every built-in plugin's backend forward pass and gradient rule against its own reference,
// on core's reference backend (each compute backend runs the same suite against itself).
describeBackendConformance({
  name: 'reference with @dqa/quantizers',
  create: createReferenceBackend,
  quantizers,
});
