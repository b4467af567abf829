import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DqaError, Registry } from '@dqa/core';
import type { ChildCommand } from './child.js';
import { buildOnednnStep, onednnInstallHint, onednnStepArgs } from './onednn.js';
import { benchRoot, runningFromSource } from './paths.js';
import type { SpeedRequest, SpeedVariantId } from './spec.js';

export { benchRoot } from './paths.js';

/** Where a backend's engine process finds what it needs, and how the user installs it. */
export interface SpeedLaunchContext {
  /** The Python interpreter for the PyTorch reference (default `/usr/bin/python3`). */
  python: string;
  /** The PyTorch script (default `python/speed.py` of this package). */
  pythonScript: string;
}

/**
 * A backend the speed benchmark can measure. Each runs in its own process (tfjs has one active
 * backend per process; PyTorch is another language) that speaks the JSON-lines protocol of
 * `protocol.ts`. Later backends (@dqa/native-cpu, …) register themselves here.
 */
export interface SpeedBackend {
  readonly id: string;
  /** Column title, e.g. `tfjs wasm`. */
  readonly label: string;
  /**
   * `reference`: the PyTorch run that ratios are taken against. `limit`: the plain oneDNN C++
   * float step, the fastest this machine trains the model (ratios are also taken against it).
   * `dqa`: a DQA-TS backend.
   */
  readonly role: 'dqa' | 'reference' | 'limit';
  /** The variants it can measure, when not all (the limit: FP only). */
  readonly variants?: readonly SpeedVariantId[];
  /**
   * The process that measures `request`. May throw a `DqaError` with code `BACKEND_UNAVAILABLE`
   * when the engine cannot run here (the run reports it as not installed, with `installHint`).
   */
  command(request: SpeedRequest, ctx: SpeedLaunchContext): ChildCommand;
  /** What to tell the user when the engine is not installed. */
  installHint?(ctx: SpeedLaunchContext): string;
}

/** `packages/bench/scripts/install-torch.sh`. */
export const installTorchScript = join(benchRoot, 'scripts', 'install-torch.sh');

export const defaultLaunchContext: SpeedLaunchContext = {
  python: '/usr/bin/python3',
  pythonScript: join(benchRoot, 'python', 'speed.py'),
};

/**
 * A Node worker of this package (`worker.ts`: tfjs; `native-worker.ts`: @dqa/native-cpu). Built:
 * `node dist/<name>.js`. From the TypeScript sources (tests, no build):
 * `node --conditions=@dqa/source --import tsx src/speed/<file>.ts`, so workspace packages
 * resolve to their sources as they do under vitest.
 */
function nodeWorkerCommand(
  built: 'speed-worker' | 'speed-native-worker',
  source: 'worker.ts' | 'native-worker.ts',
  request: SpeedRequest,
): ChildCommand {
  if (!runningFromSource)
    return {
      command: process.execPath,
      args: [join(benchRoot, 'dist', `${built}.js`), JSON.stringify(request)],
    };
  const tsx = createRequire(join(benchRoot, 'package.json')).resolve('tsx');
  return {
    command: process.execPath,
    args: [
      '--conditions=@dqa/source',
      '--import',
      pathToFileURL(tsx).href,
      join(benchRoot, 'src', 'speed', source),
      JSON.stringify(request),
    ],
  };
}

const tfjsWorkerCommand = (request: SpeedRequest) =>
  nodeWorkerCommand('speed-worker', 'worker.ts', request);

function tfjsBackend(engine: 'wasm' | 'cpu' | 'tensorflow', label: string): SpeedBackend {
  return {
    id: engine,
    label,
    role: 'dqa',
    // No installHint: @dqa/tfjs' own 'not installed' message for tfjs-node says how.
    command: (request) => tfjsWorkerCommand({ ...request, engine }),
  };
}

/**
 * tfjs wasm through @dqa/core's Trainer step with its data-parallel worker threads (one wasm
 * engine per thread, `--threads` of them): how `dqa train` trains on wasm.
 */
const tfjsTrainerBackend: SpeedBackend = {
  id: 'wasm-trainer',
  label: 'tfjs wasm, Trainer × threads',
  role: 'dqa',
  command: (request) => tfjsWorkerCommand({ ...request, engine: 'wasm', trainer: true }),
};

export const pytorchBackend: SpeedBackend = {
  id: 'pytorch',
  label: 'PyTorch',
  role: 'reference',
  command: (request, ctx) => ({
    command: ctx.python,
    args: [ctx.pythonScript, JSON.stringify({ ...request, engine: 'pytorch' })],
    env: { PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: String(request.threads) },
  }),
  installHint: (ctx) =>
    `PyTorch is not installed for ${ctx.python}; install Debian's python3-torch with: sudo sh ${installTorchScript}`,
};

/**
 * @dqa/native-cpu (oneDNN and OpenMP C++ kernels under core's tape autodiff) through the Trainer's
 * step, `threads` OpenMP threads. Its worker reports the addon's own install hint when it is not
 * built.
 */
export const nativeCpuBackend: SpeedBackend = {
  id: 'native-cpu',
  label: 'native-cpu',
  role: 'dqa',
  command: (request) =>
    nodeWorkerCommand('speed-native-worker', 'native-worker.ts', {
      ...request,
      engine: 'native-cpu',
    }),
  installHint: () =>
    'build @dqa/native-cpu: sudo apt-get install g++ libdnnl-dev, then pnpm --filter @dqa/native-cpu build',
};

/**
 * The plain oneDNN C++ float step (`native/onednn-step.cc`, compiled on first use): the same
 * models trained with nothing between the primitives, the limit a native backend can reach.
 */
export const onednnBackend: SpeedBackend = {
  id: 'onednn',
  label: 'oneDNN C++ FP',
  role: 'limit',
  variants: ['fp'],
  command: (request) => {
    const build = buildOnednnStep();
    if (!build.ok) {
      if (build.missing)
        throw new DqaError(
          'BACKEND_UNAVAILABLE',
          `the oneDNN C++ step cannot be built: ${build.reason}`,
        );
      throw new DqaError('BACKEND_STATE', build.reason);
    }
    return { command: build.path, args: onednnStepArgs(request) };
  },
  installHint: () => onednnInstallHint,
};

/** Every backend `dqa bench speed` knows, in column order. */
export const speedBackends = new Registry<SpeedBackend>('speed backend')
  .register(tfjsBackend('wasm', 'tfjs wasm'))
  .register(tfjsTrainerBackend)
  .register(tfjsBackend('cpu', 'tfjs cpu'))
  .register(tfjsBackend('tensorflow', 'tfjs-node'))
  .register(nativeCpuBackend)
  .register(onednnBackend)
  .register(pytorchBackend);
