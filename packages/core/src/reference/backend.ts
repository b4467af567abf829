import type { Backend } from '../backend/backend.js';
import { createTapeBackend } from '../backend/tape-backend.js';
import { builtModuleUrl } from '../train/replica.js';
import { referenceKernels } from './kernels.js';

/**
 * The reference backend: plain TypeScript kernels under core's tape autodiff. Slow, exact and
 * dependency-free — the yardstick of the conformance suite and the backend of core's own tests.
 * Use @dqa/tfjs or @dqa/native-cpu to train real models.
 */
export function createReferenceBackend(): Backend {
  return createTapeBackend(referenceKernels, 'reference', {
    replica: {
      module: builtModuleUrl(import.meta.url),
      export: 'createReferenceBackend',
      args: null,
    },
    hostMemory: true,
  });
}
