import { describeBackendConformance } from '@dqa/core/conformance';
import { quantizers } from '@dqa/quantizers';
import { createTfjsBackend } from '../src/index.js';

// One file per engine: tfjs has one active backend per process (vitest runs files apart).
describeBackendConformance({
  name: 'tfjs-wasm',
  create: () => createTfjsBackend({ engine: 'wasm' }),
  quantizers,
});
