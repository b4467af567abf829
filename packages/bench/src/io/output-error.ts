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
