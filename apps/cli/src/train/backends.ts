import { availableParallelism } from 'node:os';
import { type Backend, createReferenceBackend, Registry } from '@dqa/core';
import { createTfjsBackend } from '@dqa/tfjs';

/** A compute backend `dqa train --backend` can create. */
export interface CliBackend {
  readonly id: string;
  readonly description: string;
  create(): Promise<Backend>;
  /**
   * Threads for `threads: auto`: one data-parallel thread per core where the engine computes on
   * one thread, 1 where it has its own thread pool.
   */
  autoThreads(b: Backend): number;
}

const cores = () => Math.max(1, availableParallelism());

const tfjs = (
  id: string,
  engine: 'auto' | 'wasm' | 'cpu' | 'tensorflow',
  description: string,
): CliBackend => ({
  id,
  description,
  create: () => createTfjsBackend({ engine }),
  autoThreads: (b) => (b.name === 'tfjs-tensorflow' ? 1 : cores()),
});

/** Backends of `dqa train`; later backend packages (native-cpu, native-cuda) register here. */
export const cliBackends = new Registry<CliBackend>('backend')
  .register(
    tfjs(
      'auto',
      'auto',
      'tfjs-node (native TensorFlow) when installed, else tfjs wasm with one worker per core',
    ),
  )
  .register(
    tfjs('wasm', 'wasm', 'TensorFlow.js WebAssembly (SIMD), one data-parallel worker per core'),
  )
  .register(tfjs('cpu', 'cpu', "TensorFlow.js' plain JavaScript backend with DQA-TS' fast kernels"))
  .register(tfjs('tensorflow', 'tensorflow', '@tensorflow/tfjs-node (needs libtensorflow)'))
  .register({
    id: 'reference',
    description: "@dqa/core's exact reference kernels (slow; for checking)",
    create: async () => createReferenceBackend(),
    autoThreads: () => 1,
  });

/** Creates backend `id`; an unknown id is an error listing the known ones. */
export async function createCliBackend(
  id: string,
): Promise<{ backend: Backend; spec: CliBackend }> {
  const spec = cliBackends.get(id);
  return { backend: await spec.create(), spec };
}
