import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { OutputFileError } from './output-error.js';

/**
 * `mkdir -p`, synchronous and bounded: each level is tried once (Node 20's recursive mkdir spins
 * forever where mkdir answers ENOENT under an existing parent, as in /proc).
 */
export function ensureDirSync(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (statSync(dir).isDirectory()) return;
      throw Object.assign(new Error(`${dir} is a file, not a folder`), { code: 'ENOTDIR' });
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    ensureDirSync(parent);
    try {
      mkdirSync(dir);
    } catch (again) {
      if (!((again as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()))
        throw again;
    }
  }
}

/** The temporary name a durable write uses next to `path` (dot-prefixed, ends in `.tmp`). */
export function temporaryName(path: string): string {
  const full = resolve(path);
  return join(
    dirname(full),
    `.${basename(full)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
}

/** fsync of a folder, so a rename inside it survives a power cut (not possible on every OS). */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open folders; the rename is still atomic, only its durability is weaker.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `data` to `path` so that a reader, a crash or Ctrl-C only ever sees the old file or the
 * whole new one: temporary file in the same folder, fsync, rename over `path`, fsync the folder.
 * Synchronous, so that when it returns the bytes are on disk. Creates the folder if needed.
 * Throws `OutputFileError` naming `path`.
 */
export function writeFileDurableSync(path: string, data: string | Uint8Array): void {
  const full = resolve(path);
  const tmp = temporaryName(full);
  let fd: number | undefined;
  try {
    ensureDirSync(dirname(full));
    fd = openSync(tmp, 'wx');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, full);
    syncDir(dirname(full));
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {}
    }
    try {
      unlinkSync(tmp);
    } catch {}
    throw new OutputFileError(path, e);
  }
}
