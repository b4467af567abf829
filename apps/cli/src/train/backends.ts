import { availableParallelism } from 'node:os';
import { type Backend, createReferenceBackend, Registry } from '@dqa/core';
import { createNativeCpuBackend, nativeCpuAvailable } from '@dqa/native-cpu';
import { createTfjsBackend } from '@dqa/tfjs';

/** `training.threads`: a count, or `auto`. */
export type ThreadsSetting = number | 'auto';

/** A backend as `dqa train --backend` made it, with the threads the Trainer runs on it. */
export interface CliBackendChoice {
  backend: Backend;
  spec: CliBackend;
  /** Data-parallel threads of the Trainer (1 where the engine has its own thread pool). */
  threads: number;
  /** One line for the user: which engine runs and why (for `auto`, what it passed over). */
  note: string;
}

/** A compute backend `dqa train --backend` can create. */
export interface CliBackend {
  readonly id: string;
  readonly description: string;
  /**
   * Creates the backend for a `threads` setting: engines with their own thread pool (native-cpu,
   * tfjs-node) take it as their compute threads and train on one Trainer thread; single-threaded
   * engines (wasm, cpu) run `threads` data-parallel workers (`auto`: one per core).
   */
  create(threads: ThreadsSetting): Promise<CliBackendChoice>;
}

const cores = () => Math.max(1, availableParallelism());

const tfjs = (
  id: string,
  engine: 'auto' | 'wasm' | 'cpu' | 'tensorflow',
  description: string,
): CliBackend => ({
  id,
  description,
  async create(threads) {
    const backend = await createTfjsBackend({ engine });
    const own = backend.name === 'tfjs-tensorflow';
    const n = threads === 'auto' ? (own ? 1 : cores()) : threads;
    const note = own
      ? `${backend.name} (native TensorFlow, its own thread pool)`
      : `${backend.name} × ${n} data-parallel thread${n > 1 ? 's' : ''}`;
    return { backend, spec: this, threads: n, note };
  },
});

const nativeCpu: CliBackend = {
  id: 'native-cpu',
  description:
    '@dqa/native-cpu: oneDNN and OpenMP C++ kernels (fastest on CPU; needs libdnnl-dev when installed)',
  async create(threads) {
    const backend = createNativeCpuBackend(threads === 'auto' ? {} : { threads });
    const info = backend.describe();
    return {
      backend,
      spec: this,
      threads: 1,
      note: `native-cpu (oneDNN ${info.dnnlVersion}, ${info.threads} compute thread${info.threads > 1 ? 's' : ''})`,
    };
  },
};

/**
 * `auto`: the fastest engine present — native-cpu, else tfjs-node, else tfjs wasm — and the
 * note says which it took and what it passed over.
 */
const auto: CliBackend = {
  id: 'auto',
  description:
    'the fastest engine present: native-cpu (oneDNN), else tfjs-node, else TensorFlow.js wasm with one worker per core',
  async create(threads) {
    const native = nativeCpuAvailable();
    if (native.available) {
      const choice = await nativeCpu.create(threads);
      return { ...choice, spec: this, note: `${choice.note}, chosen by --backend auto` };
    }
    // tfjs' own `auto` takes tfjs-node where it loads, else wasm, and says why.
    const choice = await tfjs('auto', 'auto', '').create(threads);
    const why = (choice.backend as { info?: { reason?: string } }).info?.reason;
    return {
      ...choice,
      spec: this,
      note: `${choice.note}, chosen by --backend auto (native-cpu unavailable: ${native.reason}${why ? `; ${why}` : ''})`,
    };
  },
};

/** Backends of `dqa train`; later backend packages (native-cuda) register here. */
export const cliBackends = new Registry<CliBackend>('backend')
  .register(auto)
  .register(nativeCpu)
  .register(
    tfjs('wasm', 'wasm', 'TensorFlow.js WebAssembly (SIMD), one data-parallel worker per core'),
  )
  .register(tfjs('cpu', 'cpu', "TensorFlow.js' plain JavaScript backend with DQA-TS' fast kernels"))
  .register(tfjs('tensorflow', 'tensorflow', '@tensorflow/tfjs-node (needs libtensorflow)'))
  .register({
    id: 'reference',
    description: "@dqa/core's exact reference kernels (slow; for checking)",
    async create(threads) {
      const backend = createReferenceBackend();
      const n = threads === 'auto' ? 1 : threads;
      return {
        backend,
        spec: this,
        threads: n,
        note: `reference × ${n} thread${n > 1 ? 's' : ''}`,
      };
    },
  });

/** Creates backend `id` for a `threads` setting; an unknown id is an error listing the known ones. */
export async function createCliBackend(
  id: string,
  threads: ThreadsSetting = 'auto',
): Promise<CliBackendChoice> {
  return cliBackends.get(id).create(threads);
}
