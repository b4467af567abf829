import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCheckpoint, readRun, runFiles } from '@dqa/bench';
import { DqaError, parseConfig } from '@dqa/core';
import { quantizers } from '@dqa/quantizers';

/**
 * A finished or stopped run folder as `dqa eval` and `dqa export` read it: its validated
 * configuration and its last checkpoint. A folder without a checkpoint is a RUN_FILE error that
 * says there is nothing to `what` (evaluate, export).
 */
export async function openRunDir(dirArg: string, what: string) {
  const dir = resolve(dirArg);
  const run = await readRun(dir);
  const config = parseConfig(run.config, { quantizers });
  const last = join(dir, runFiles.lastCheckpoint);
  if (!existsSync(last)) {
    throw new DqaError(
      'RUN_FILE',
      `${dir} has no checkpoint (${runFiles.lastCheckpoint} is missing): nothing to ${what}`,
    );
  }
  return { dir, run, config, last, checkpoint: await readCheckpoint(last) };
}
