import { writeFileDurableSync } from './durable-write.js';

export { OutputFileError } from './output-error.js';

/**
 * Writes `data` to `path` atomically and durably: the bytes go to a temporary file in the same
 * folder, are fsynced, and the file is renamed over `path`, so a reader, a crash or Ctrl-C only
 * ever sees the old file or the whole new one. Creates the folder if needed. Throws
 * `OutputFileError` naming `path`.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  writeFileDurableSync(path, data);
}
