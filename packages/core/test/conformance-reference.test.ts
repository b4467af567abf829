import { describeBackendConformance } from '../src/conformance/index.js';
import { createReferenceBackend } from '../src/index.js';

// The reference backend runs the same suite every backend runs; its forward ops are the
// reference itself, so here the suite mainly checks the tape autodiff, memory and relaxations.
describeBackendConformance({ name: 'reference', create: createReferenceBackend });
