import { ArgumentError, suggest } from '@dqa/core';
import type { ImageShape } from './spec.js';

/** An architecture option has an impossible value or is unknown; names the model and the option. */
export class ModelOptionError extends ArgumentError {
  constructor(
    readonly model: string,
    readonly option: string,
    message: string,
  ) {
    super(`model '${model}': ${message}`);
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Reads an architecture's options (a config's `model.options` or a typed options object) strictly:
 * an unknown key is an error with a "did you mean" hint, a bad value an error naming the option
 * and what was expected. `undefined` values count as absent.
 */
export class OptionReader {
  private readonly raw: Readonly<Record<string, unknown>>;

  constructor(
    readonly model: string,
    options: unknown,
    readonly known: readonly string[],
  ) {
    if (options === undefined || options === null) this.raw = {};
    else if (typeof options !== 'object' || Array.isArray(options)) {
      throw new ModelOptionError(model, '', `options must be an object, got ${show(options)}`);
    } else this.raw = options as Record<string, unknown>;
    for (const key of Object.keys(this.raw)) {
      if (this.raw[key] === undefined || known.includes(key)) continue;
      const hint = suggest(key, known);
      throw new ModelOptionError(
        model,
        key,
        `unknown option '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; options: ${known.map((k) => `'${k}'`).join(', ')}`,
      );
    }
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  /** Throws `option '<key>' must be <expected>, got <value>`. */
  fail(key: string, expected: string): never {
    throw new ModelOptionError(
      this.model,
      key,
      `option '${key}' must be ${expected}, got ${show(this.raw[key])}`,
    );
  }

  /** An integer ≥ `min` (default 1). */
  integer(key: string, fallback: number, min = 1): number {
    if (!this.has(key)) return fallback;
    const v = this.raw[key];
    if (!isInt(v) || v < min) this.fail(key, `an integer ≥ ${min}`);
    return v;
  }

  /** A finite number satisfying `ok`. */
  number(key: string, fallback: number, ok: (v: number) => boolean, expected: string): number {
    if (!this.has(key)) return fallback;
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) this.fail(key, expected);
    return v;
  }

  choice<T extends string>(key: string, values: readonly T[], fallback: T): T {
    if (!this.has(key)) return fallback;
    const v = this.raw[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(key, values.map((c) => `'${c}'`).join(' or '));
    }
    return v as T;
  }

  /** A list of integers ≥ `min`; empty allowed where `allowEmpty`. */
  integerList(key: string, fallback: readonly number[], min = 1, allowEmpty = false): number[] {
    if (!this.has(key)) return [...fallback];
    const v = this.raw[key];
    if (
      !Array.isArray(v) ||
      (!allowEmpty && v.length === 0) ||
      !v.every((d) => isInt(d) && d >= min)
    ) {
      this.fail(key, `a ${allowEmpty ? '' : 'non-empty '}list of integers ≥ ${min}`);
    }
    return [...v];
  }

  /**
   * The input shape from `inputShape` ([h, w, c]) or `inputSize` (h = w, channels of the
   * fallback), at least `minSize` pixels high and wide; one of the two at most.
   */
  inputShape(fallback: ImageShape, minSize = 1, allowSize = true): ImageShape {
    if (this.has('inputShape') && allowSize && this.has('inputSize')) {
      throw new ModelOptionError(
        this.model,
        'inputSize',
        `give option 'inputShape' or 'inputSize', not both (got ${show(this.raw.inputShape)} and ${show(this.raw.inputSize)})`,
      );
    }
    if (allowSize && this.has('inputSize')) {
      const s = this.integer('inputSize', fallback[0], minSize);
      return [s, s, fallback[2]];
    }
    if (!this.has('inputShape')) return fallback;
    const v = this.raw.inputShape;
    if (
      !Array.isArray(v) ||
      v.length !== 3 ||
      !v.every((d) => isInt(d) && d >= 1) ||
      v[0] < minSize ||
      v[1] < minSize
    ) {
      this.fail(
        'inputShape',
        `[height, width, channels] of positive integers${minSize > 1 ? ` with height and width ≥ ${minSize}` : ''}`,
      );
    }
    return [v[0], v[1], v[2]];
  }
}
