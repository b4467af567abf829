#!/usr/bin/env node
/**
 * Builds the native addon (build/Release/dqa_native_cpu.node) with node-gyp where oneDNN 2.x, a
 * C++ compiler with OpenMP, make and python3 are present. Where one is missing it prints one line
 * saying what and how to install it, and exits 0: `pnpm install` and `pnpm build` never fail for
 * the addon's sake, and `createNativeCpuBackend()` then reports the same. With
 * DQA_REQUIRE_NATIVE=1 (CI) a missing prerequisite or a failed compile is an error.
 *
 *   node scripts/build-addon.mjs            build if a source is newer than the addon
 *   node scripts/build-addon.mjs --force    rebuild
 *   node scripts/build-addon.mjs --install  the package's install hook: builds for users who
 *                                           install the package; in the DQA-TS workspace
 *                                           `pnpm build` builds it instead
 *
 * Environment: CXX (compiler, default g++), DNNLROOT (a oneDNN outside the system paths),
 * DQA_NATIVE_MARCH (-march of the addon's own loops, default native), DQA_REQUIRE_NATIVE.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'build', 'Release', 'dqa_native_cpu.node');
const required = process.env.DQA_REQUIRE_NATIVE === '1';
const force = process.argv.includes('--force');
const installHook = process.argv.includes('--install');
const APT = 'apt-get install libdnnl-dev g++ make python3';
const REBUILD = 'pnpm --filter @dqa/native-cpu build';

/** Ends without an addon: one line, exit 0 — or exit 1 under DQA_REQUIRE_NATIVE=1. */
function unavailable(what, detail = '') {
  if (detail) console.error(detail);
  if (required) {
    console.error(
      `@dqa/native-cpu: ${what}; DQA_REQUIRE_NATIVE=1, so this fails the build (install: ${APT}).`,
    );
    process.exit(1);
  }
  console.warn(
    `@dqa/native-cpu: native addon not built: ${what}. Install with \`${APT}\`, then run \`${REBUILD}\` (the package still installs; createNativeCpuBackend() explains the same).`,
  );
  process.exit(0);
}

function run(cmd, args, options = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...options });
}

function works(cmd, args = ['--version']) {
  const r = run(cmd, args);
  return r.status === 0;
}

if (
  installHook &&
  existsSync(join(root, '..', '..', 'pnpm-workspace.yaml')) &&
  existsSync(join(root, '..', 'core', 'package.json'))
) {
  // In the DQA-TS workspace, `pnpm build` (turbo) builds the addon with the rest.
  process.exit(0);
}

// Up to date: the addon is newer than every source.
function newestSource() {
  let newest = statSync(join(root, 'binding.gyp')).mtimeMs;
  for (const f of readdirSync(join(root, 'native')))
    newest = Math.max(newest, statSync(join(root, 'native', f)).mtimeMs);
  return newest;
}
const upToDate = () => existsSync(target) && statSync(target).mtimeMs > newestSource();
if (!force && upToDate()) process.exit(0);

// One build at a time in build/ (turbo, an install hook and a developer may start one together).
const lock = join(root, 'build', '.dqa-build-lock');
mkdirSync(join(root, 'build'), { recursive: true });
for (let waited = 0; ; waited += 1) {
  try {
    mkdirSync(lock);
    break;
  } catch {
    const stale = existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 15 * 60_000;
    if (stale) rmSync(lock, { recursive: true, force: true });
    else {
      if (waited === 0) console.log('@dqa/native-cpu: waiting for another build of the addon…');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
}
process.on('exit', () => rmSync(lock, { recursive: true, force: true }));
if (!force && upToDate()) process.exit(0);

// Prerequisites.
const cxx = process.env.CXX || 'g++';
if (!works(cxx)) unavailable(`no C++ compiler (\`${cxx} --version\` failed)`);
if (!works('make')) unavailable('`make` is missing');
const python = process.env.PYTHON || process.env.npm_config_python || 'python3';
if (!works(python))
  unavailable(`python3 is missing (node-gyp needs it; \`${python} --version\` failed)`);

const dnnlRoot = process.env.DNNLROOT || process.env.DNNL_ROOT || '';
const includeDirs = [
  ...(dnnlRoot ? [join(dnnlRoot, 'include')] : []),
  ...(process.env.CPLUS_INCLUDE_PATH ?? '').split(delimiter),
  ...(process.env.CPATH ?? '').split(delimiter),
  '/usr/local/include',
  '/usr/include',
].filter(Boolean);
const dnnlInclude = includeDirs.find((d) => existsSync(join(d, 'oneapi', 'dnnl', 'dnnl.hpp')));
if (!dnnlInclude) unavailable('oneDNN headers not found (oneapi/dnnl/dnnl.hpp)');
const versionHeader = join(dnnlInclude, 'oneapi', 'dnnl', 'dnnl_version.h');
const major = /#define\s+DNNL_VERSION_MAJOR\s+(\d+)/.exec(
  existsSync(versionHeader) ? readFileSync(versionHeader, 'utf8') : '',
)?.[1];
if (major !== '2') {
  unavailable(
    `oneDNN ${major ?? '(unknown version)'} found in ${dnnlInclude}; the addon is written for the oneDNN 2.x API (Debian bookworm's libdnnl-dev 2.6)`,
  );
}

// Compiler, OpenMP and libdnnl link together (a tiny program).
{
  const dir = mkdtempSync(join(tmpdir(), 'dqa-native-check-'));
  try {
    const src = join(dir, 'check.cc');
    writeFileSync(
      src,
      '#include <oneapi/dnnl/dnnl.h>\n#include <omp.h>\nint main() { return dnnl_version()->major == 2 && omp_get_max_threads() > 0 ? 0 : 1; }\n',
    );
    const args = [
      src,
      '-o',
      join(dir, 'check'),
      '-fopenmp',
      `-I${dnnlInclude}`,
      ...(dnnlRoot ? [`-L${join(dnnlRoot, 'lib')}`] : []),
      '-ldnnl',
    ];
    const r = run(cxx, args);
    if (r.status !== 0) {
      unavailable(
        `\`${cxx}\` cannot compile and link a program with OpenMP and oneDNN (-fopenmp -ldnnl)`,
        (r.stderr ?? '').split('\n').slice(0, 8).join('\n'),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Node's headers: the system's (Debian's nodejs-dev), else those next to this node binary;
// node-gyp would otherwise download them.
const nodedirs = ['/usr', dirname(dirname(process.execPath))];
const nodedir = nodedirs.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));

function nodeGyp() {
  try {
    return [process.execPath, createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
    return works('node-gyp') ? ['node-gyp'] : null;
  }
}
const gyp = nodeGyp();
if (!gyp) unavailable('node-gyp is missing (npm i -g node-gyp)');

const gypDefines = [
  `-Ddqa_march=${process.env.DQA_NATIVE_MARCH || 'native'}`,
  ...(dnnlRoot ? [`-Ddnnl_root=${dnnlRoot}`] : []),
];
const common = [...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const started = Date.now();
console.log(
  `@dqa/native-cpu: building the addon (oneDNN in ${dnnlInclude}, node headers ${nodedir ?? 'from node-gyp'})…`,
);
const configure = run(gyp[0], [...gyp.slice(1), 'configure', ...common, '--', ...gypDefines], {
  cwd: root,
});
if (configure.status !== 0)
  unavailable(
    'node-gyp configure failed',
    `${configure.stdout}\n${configure.stderr}`.trim().split('\n').slice(-25).join('\n'),
  );
const build = run(
  gyp[0],
  [...gyp.slice(1), 'build', ...common, `--jobs=${Math.max(1, availableParallelism())}`],
  { cwd: root },
);
if (build.status !== 0 || !existsSync(target)) {
  unavailable(
    'compiling the addon failed (compiler output above)',
    `${build.stdout}\n${build.stderr}`.trim().split('\n').slice(-40).join('\n'),
  );
}
console.log(`@dqa/native-cpu: built ${target} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
