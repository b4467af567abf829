import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { benchRoot } from './paths.js';
import type { SpeedRequest } from './spec.js';

/**
 * The plain oneDNN C++ training step (`native/onednn-step.cc`): the limit column of
 * `dqa bench speed`. It is compiled on first use with the system's C++ compiler against the
 * system's oneDNN (Debian/Ubuntu: `libdnnl-dev`), into this package's cache folder, and
 * recompiled only when the source, the compiler or the flags change.
 */

/** `packages/bench/native/onednn-step.cc`. */
export const onednnStepSource = join(benchRoot, 'native', 'onednn-step.cc');

/** Where the compiled program is kept: `node_modules/.cache/@dqa/bench` of this package. */
export const onednnCacheDir = join(benchRoot, 'node_modules', '.cache', '@dqa', 'bench');

/** What to install when the compiler or oneDNN is missing. */
export const onednnInstallHint =
  'install a C++ compiler and oneDNN, e.g. on Debian/Ubuntu: sudo apt-get install g++ libdnnl-dev ' +
  '(elsewhere: oneDNN 2.x from https://github.com/oneapi-src/oneDNN, with CPATH/LIBRARY_PATH pointing at it)';

/** Compiler flags; part of the cache key. */
export const onednnCompileFlags = ['-std=c++17', '-O3', '-fopenmp'] as const;
const LINK_FLAGS = ['-ldnnl'] as const;

export interface OnednnBuildOptions {
  /** C++ compiler (default `$CXX`, else `g++`). */
  cxx?: string;
  /** The program's source (default `onednnStepSource`). */
  source?: string;
  /** Folder for the binary (default `onednnCacheDir`). */
  cacheDir?: string;
}

export type OnednnBuild =
  /** `compiled`: built by this call; false when an up-to-date binary was already there. */
  | { ok: true; path: string; compiled: boolean }
  /**
   * `missing`: the compiler or oneDNN is not installed (say so, with `hint`); otherwise the
   * compilation failed for another reason (`reason` holds the compiler's last lines).
   */
  | { ok: false; missing: boolean; reason: string; hint: string };

/** The last `n` non-empty lines of `text`. */
const lastLines = (text: string, n: number) =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .slice(-n)
    .join('\n');

/** `<cxx> --version`'s first line, or null when the compiler cannot be started. */
function compilerVersion(cxx: string): { version: string } | { error: NodeJS.ErrnoException } {
  const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  if (r.error) return { error: r.error as NodeJS.ErrnoException };
  return { version: (r.stdout ?? '').split('\n')[0] ?? '' };
}

/**
 * Compiles the oneDNN step unless an up-to-date binary is in the cache (the binary's name holds a
 * hash of the source, the compiler's version and the flags). Synchronous: a speed backend's
 * command is. Never throws for a missing compiler or oneDNN: the result says what is missing.
 */
export function buildOnednnStep(options: OnednnBuildOptions = {}): OnednnBuild {
  const cxx = options.cxx ?? process.env.CXX ?? 'g++';
  const source = options.source ?? onednnStepSource;
  const cacheDir = options.cacheDir ?? onednnCacheDir;
  const compiler = compilerVersion(cxx);
  if ('error' in compiler) {
    const notFound = compiler.error.code === 'ENOENT';
    return {
      ok: false,
      missing: notFound,
      reason: notFound
        ? `the C++ compiler '${cxx}' is not installed (set CXX to use another)`
        : `cannot start the C++ compiler '${cxx}': ${compiler.error.message}`,
      hint: onednnInstallHint,
    };
  }
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (e) {
    return {
      ok: false,
      missing: false,
      reason: `cannot read the oneDNN step's source ${source}: ${(e as Error).message}`,
      hint: 'reinstall @dqa/bench: its native/ folder is missing',
    };
  }
  const key = createHash('sha256')
    .update(text)
    .update(`\0${cxx}\0${compiler.version}\0${[...onednnCompileFlags, ...LINK_FLAGS].join(' ')}`)
    .digest('hex')
    .slice(0, 16);
  const path = join(cacheDir, `onednn-step-${key}`);
  if (existsSync(path)) return { ok: true, path, compiled: false };

  mkdirSync(cacheDir, { recursive: true });
  // Compile to a private name, then rename: a concurrent build (a test and a bench) never sees a
  // half-written binary.
  const tmp = `${path}.${process.pid}.tmp`;
  const r = spawnSync(cxx, [...onednnCompileFlags, source, '-o', tmp, ...LINK_FLAGS], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const log = `${r.stderr ?? ''}\n${r.stdout ?? ''}`;
    const noHeader = /oneapi\/dnnl\/dnnl\.hpp: No such file/.test(log);
    const noLibrary = /cannot find -ldnnl/.test(log);
    const noOpenMp = /omp\.h: No such file|cannot find -lgomp/.test(log);
    if (noHeader || noLibrary || noOpenMp) {
      const what = noHeader
        ? "oneDNN's headers (oneapi/dnnl/dnnl.hpp) are not installed"
        : noLibrary
          ? "oneDNN's library (libdnnl) is not installed"
          : `OpenMP is not available to ${cxx}`;
      return { ok: false, missing: true, reason: what, hint: onednnInstallHint };
    }
    return {
      ok: false,
      missing: false,
      reason: `compiling ${source} with ${cxx} failed${r.error ? `: ${r.error.message}` : ` (exit code ${r.status})`}:\n${lastLines(log, 12)}`,
      hint: onednnInstallHint,
    };
  }
  renameSync(tmp, path);
  // Older builds of the program (other sources or compilers) are of no further use.
  for (const f of readdirSync(cacheDir)) {
    if (f.startsWith('onednn-step-') && join(cacheDir, f) !== path && !f.endsWith('.tmp'))
      rmSync(join(cacheDir, f), { force: true });
  }
  return { ok: true, path, compiled: true };
}

/** The program's command-line flags for what `request` asks (its FP cells). */
export function onednnStepArgs(request: SpeedRequest): string[] {
  return [
    '--models',
    request.models.join(','),
    '--variants',
    request.variants.join(','),
    '--batch',
    request.models.map((m) => `${m}=${request.batch[m]}`).join(','),
    '--warmup',
    String(request.warmup),
    '--steps',
    String(request.steps),
    '--time-budget',
    String(request.timeBudgetS),
    '--min-steps',
    String(request.minSteps),
    '--lr',
    String(request.learningRate),
    '--momentum',
    String(request.momentum),
    '--threads',
    String(request.threads),
  ];
}
