import { describeBackendConformance } from '@dqa/core/conformance';
import { quantizers } from '@dqa/quantizers';
import { expect, it } from 'vitest';
import { createTfjsBackend } from '../src/index.js';

// tfjs-node is an optional peer: where it loads, the same suite runs on it; where it does not,
// one test says so by name (and checks the error users get) rather than skipping silently.
const specifier = '@tensorflow/tfjs-node';
const tfjsNodeLoads = await import(/* @vite-ignore */ specifier).then(
  () => true,
  () => false,
);

if (tfjsNodeLoads) {
  describeBackendConformance({
    name: 'tfjs-tensorflow',
    create: () => createTfjsBackend({ engine: 'tensorflow' }),
    quantizers,
  });
} else {
  it('tfjs-node does not load here: the tfjs-tensorflow suite did not run (install @tensorflow/tfjs-node to run it)', async () => {
    await expect(createTfjsBackend({ engine: 'tensorflow' })).rejects.toThrow(
      /engine 'tensorflow' needs @tensorflow\/tfjs-node/,
    );
  });
}
