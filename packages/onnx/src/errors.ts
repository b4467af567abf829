import { readFile } from 'node:fs/promises';
import { DqaError } from '@dqa/core';

/** What is wrong with a model file. */
export type ModelFileProblem =
  | 'missing'
  | 'unreadable'
  | 'truncated'
  | 'corrupt'
  | 'unsupported-version'
  | 'invalid';

/**
 * An exported model file (ONNX or packed) is missing, unreadable, cut short, corrupt, from a newer
 * DQA-TS, or not something DQA-TS exported. The message names the file and says what was wrong.
 */
export class ModelFileError extends DqaError {
  readonly path: string;
  readonly problem: ModelFileProblem;

  constructor(
    path: string,
    problem: ModelFileProblem,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('MODEL_FILE', message, options.cause === undefined ? {} : { cause: options.cause });
    this.path = path;
    this.problem = problem;
  }
}

/** Reads a model file; a missing or unreadable one is a `ModelFileError` naming it. */
export async function readModelBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ModelFileError(path, 'missing', `${what} ${path} does not exist`, { cause: e });
    if (code === 'EISDIR')
      throw new ModelFileError(path, 'unreadable', `${what} ${path} is a folder, not a file`, {
        cause: e,
      });
    throw new ModelFileError(
      path,
      'unreadable',
      `cannot read ${what} ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
