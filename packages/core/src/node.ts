export {
  DataParallel,
  type DataParallelOptions,
  type ParallelStep,
} from './node/data-parallel.js';

import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { type ConfigRegistries, parseConfigText } from './config/parse.js';
import type { DqaConfig } from './config/schema.js';
import { DqaError } from './errors.js';

/**
 * Node-only helpers of @dqa/core (the main entry stays browser-safe).
 */

/**
 * Reads a `.json`, `.yaml` or `.yml` configuration file and validates it. A missing or unreadable
 * file is a `CONFIG_FILE` error naming the path; syntax and validation errors name the file too.
 */
export async function loadConfigFile(
  path: string,
  registries: ConfigRegistries,
): Promise<DqaConfig> {
  const full = resolve(path);
  const ext = extname(full).toLowerCase();
  if (!['.json', '.yaml', '.yml'].includes(ext)) {
    throw new DqaError(
      'CONFIG_FILE',
      `${path}: configuration files must end in .json, .yaml or .yml`,
    );
  }
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : (e as Error).message;
    throw new DqaError('CONFIG_FILE', `cannot read configuration ${full}: ${why}`, { cause: e });
  }
  return parseConfigText(text, registries, {
    format: ext === '.json' ? 'json' : 'yaml',
    source: path,
  });
}
