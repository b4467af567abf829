import { randomBytes } from 'node:crypto';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DqaError } from '@dqa/core';

/** A study or plot could not be written. The message names the file and the system's reason. */
export class OutputFileError extends DqaError {
  readonly path: string;

  constructor(path: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const why =
      (errno && REASONS[errno]) ?? (cause instanceof Error ? cause.message : String(cause));
    super('OUTPUT_FILE', `cannot write ${path}: ${why}`, { cause });
    this.path = path;
  }
}

const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'no such file or folder, and its folder cannot be created there',
  ENOTDIR: 'a parent of it is a file, not a folder',
  EISDIR: 'is a folder',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
};

/**
 * `mkdir -p`, bounded: each level is tried once. (Node 20's `mkdir(dir, { recursive: true })` spins
 * forever where mkdir answers ENOENT under an existing parent, as in /proc.)
 */
async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return;
      throw Object.assign(new Error(`${dir} is a file, not a folder`), { code: 'ENOTDIR' });
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    await ensureDir(parent);
    await mkdir(dir).catch(async (again: NodeJS.ErrnoException) => {
      if (!(again.code === 'EEXIST' && (await stat(dir)).isDirectory())) throw again;
    });
  }
}

/**
 * Writes `data` to `path` atomically: the bytes go to a temporary file in the same folder, which
 * is then renamed over `path`, so a reader never sees a half-written file (a rename within one
 * file system is atomic). Creates the folder if needed. Throws `OutputFileError` naming `path`.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const full = resolve(path);
  const dir = dirname(full);
  const tmp = join(dir, `.${basename(full)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await ensureDir(dir);
    await writeFile(tmp, data);
    await rename(tmp, full);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new OutputFileError(path, e);
  }
}
