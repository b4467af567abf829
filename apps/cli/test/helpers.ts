import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { main } from '../src/index.js';

/** Runs `dqa …args` in-process, capturing both streams. */
export async function run(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runInterrupted(() => false, ...args);
}

/**
 * Runs `dqa …args` in-process like `run`, and sends SIGINT to this process (what Ctrl-C does)
 * once, when `when` is true of a chunk written to stderr.
 */
export async function runInterrupted(
  when: (stderrChunk: string) => boolean,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let sent = false;
  const code = await main(['node', 'dqa', ...args], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
      if (!sent && when(s)) {
        sent = true;
        process.emit('SIGINT');
      }
    },
  });
  return { code, stdout, stderr };
}

/** A temporary folder for the calling test file, removed after it; read `.path` inside tests. */
export function tempDir(prefix: string): { path: string } {
  const dir = { path: '' };
  beforeAll(async () => {
    dir.path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(dir.path, { recursive: true, force: true });
  });
  return dir;
}
