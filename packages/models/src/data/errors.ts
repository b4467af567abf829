import { DqaError } from '@dqa/core';

/** What went wrong with a data set's files, finer than the error code. */
export type DatasetErrorReason =
  /** A file (or the data set's folder) does not exist. */
  | 'missing'
  /** A file is shorter than its header or record size says it must be. */
  | 'truncated'
  /** A file is longer than expected, or not a whole number of records. */
  | 'wrong-size'
  /** A magic number, header field, dimension, label or JSON structure is not what was expected. */
  | 'bad-format'
  /** The file exists but could not be read (permissions, I/O error). */
  | 'unreadable'
  /** The data set is read from the user's disk and no `root` folder was given. */
  | 'no-root';

/**
 * A data set file is missing, truncated or malformed: code `DATA_FILE`, with `reason` saying
 * precisely what failed. The message names the file and what was expected (the files a folder
 * must hold and where to get them, byte sizes, header values).
 */
export class DatasetError extends DqaError {
  readonly reason: DatasetErrorReason;
  /** The file (or folder) concerned. */
  readonly file: string | undefined;

  constructor(
    reason: DatasetErrorReason,
    file: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('DATA_FILE', message, options);
    this.reason = reason;
    this.file = file;
  }
}
