import { InvalidArgumentError } from 'commander';

/**
 * Commander argument parsers. Each throws an `InvalidArgumentError` whose message says what was
 * expected; commander prefixes it with the option and the value, e.g.
 * `error: option '--steps <n>' argument '0' is invalid. expected an integer ≥ 1.`
 */

/** An integer in [min, max]. */
export function integerOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = /^[0-9]+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `expected an integer ≥ ${min}.`
          : `expected an integer from ${min} to ${max}.`,
      );
    }
    return n;
  };
}

/** A finite decimal number ≥ min. */
export function numberOption(min: number) {
  return (value: string): number => {
    const n = /^[0-9]+(\.[0-9]+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!(Number.isFinite(n) && n >= min))
      throw new InvalidArgumentError(`expected a number ≥ ${min}.`);
    return n;
  };
}

/** A parser that turns its own errors (e.g. an `ArgumentError` naming the unknown id) into usage errors. */
export function checkedOption<T>(parse: (value: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (e) {
      throw new InvalidArgumentError(`${e instanceof Error ? e.message : String(e)}.`);
    }
  };
}
