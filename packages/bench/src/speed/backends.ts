import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registry } from '@dqa/core';
import type { ChildCommand } from './child.js';
import type { SpeedRequest } from './spec.js';

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
  /** `reference`: the PyTorch run that ratios are taken against. */
  readonly role: 'dqa' | 'reference';
  /** The process that measures `request`. */
  command(request: SpeedRequest, ctx: SpeedLaunchContext): ChildCommand;
  /** What to tell the user when the engine is not installed. */
  installHint?(ctx: SpeedLaunchContext): string;
}

/** This package's folder (src/speed/… when run from source, dist/… when built). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      if (name === '@dqa/bench') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('@dqa/bench: cannot find its own package.json');
    dir = parent;
  }
}

export const benchRoot = packageRoot();

/** `packages/bench/scripts/install-torch.sh`. */
export const installTorchScript = join(benchRoot, 'scripts', 'install-torch.sh');

export const defaultLaunchContext: SpeedLaunchContext = {
  python: '/usr/bin/python3',
  pythonScript: join(benchRoot, 'python', 'speed.py'),
};

/**
 * The tfjs worker. Built: `node dist/speed-worker.js`. From the TypeScript sources (tests, no
 * build): `node --conditions=@dqa/source --import tsx src/speed/worker.ts`, so workspace packages
 * resolve to their sources as they do under vitest.
 */
function tfjsWorkerCommand(request: SpeedRequest): ChildCommand {
  const built = join(benchRoot, 'dist', 'speed-worker.js');
  if (!fileURLToPath(import.meta.url).endsWith('.ts'))
    return { command: process.execPath, args: [built, JSON.stringify(request)] };
  const tsx = createRequire(join(benchRoot, 'package.json')).resolve('tsx');
  return {
    command: process.execPath,
    args: [
      '--conditions=@dqa/source',
      '--import',
      pathToFileURL(tsx).href,
      join(benchRoot, 'src', 'speed', 'worker.ts'),
      JSON.stringify(request),
    ],
  };
}

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

/** Every backend `dqa bench speed` knows, in column order. */
export const speedBackends = new Registry<SpeedBackend>('speed backend')
  .register(tfjsBackend('wasm', 'tfjs wasm'))
  .register(tfjsTrainerBackend)
  .register(tfjsBackend('cpu', 'tfjs cpu'))
  .register(tfjsBackend('tensorflow', 'tfjs-node'))
  .register(pytorchBackend);
