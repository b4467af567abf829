/**
 * Every error DQA-TS throws on purpose is a `DqaError` with a stable `code`, so callers can branch
 * on the kind of failure, and a message that names the offending input and what was expected.
 */
export type DqaErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_PARSE'
  | 'CONFIG_FILE'
  | 'DATA_FILE'
  | 'RUN_FILE'
  | 'MODEL_FILE'
  | 'OUTPUT_FILE'
  | 'SHAPE_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'NON_FINITE_INPUT'
  | 'UNSUPPORTED_BITS'
  | 'UNKNOWN_PLUGIN'
  | 'DUPLICATE_PLUGIN'
  | 'INVALID_PLUGIN'
  | 'BACKEND_CAPABILITY'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_STATE'
  | 'DISPOSED_TENSOR'
  | 'GRADIENT';

export class DqaError extends Error {
  readonly code: DqaErrorCode;

  constructor(code: DqaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A tensor shape does not fit an operation. The message names the op and both shapes. */
export class ShapeError extends DqaError {
  constructor(message: string) {
    super('SHAPE_MISMATCH', message);
  }
}

/** An argument has an impossible value (negative size, bits out of range, empty list, …). */
export class ArgumentError extends DqaError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** A tensor handed to a quantizer holds NaN or ±Infinity: quantizing it would hide the bug. */
export class NonFiniteInputError extends DqaError {
  readonly index: number;
  readonly value: number;

  constructor(what: string, index: number, value: number) {
    super(
      'NON_FINITE_INPUT',
      `${what}: element ${index} is ${value}; quantizers need finite inputs (check for a diverged loss or an uninitialised tensor)`,
    );
    this.index = index;
    this.value = value;
  }
}

/** A quantizer was asked for a bitwidth it does not implement. */
export class UnsupportedBitsError extends DqaError {
  constructor(quantizer: string, bits: number, accepted: string) {
    super('UNSUPPORTED_BITS', `quantizer '${quantizer}' accepts ${accepted}, got bits = ${bits}`);
  }
}

/** A backend lacks an optional capability that was asked for. */
export class BackendCapabilityError extends DqaError {
  constructor(backend: string, capability: string) {
    super('BACKEND_CAPABILITY', `backend '${backend}' has no ${capability}`);
  }
}

/** Throws a `NonFiniteInputError` naming the first NaN/±Infinity element of `x`. */
export function assertFinite(x: ArrayLike<number>, what: string): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) throw new NonFiniteInputError(what, i, v);
  }
}
