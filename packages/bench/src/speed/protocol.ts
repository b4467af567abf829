import type { SpeedModelId, SpeedVariantId } from './spec.js';

/**
 * What an engine process (the tfjs worker, `python/speed.py`, a later backend's runner) writes on
 * stdout: one JSON object per line. Lines that are not such objects (an engine's own chatter) are
 * ignored. The parent computes medians; children report raw step times.
 */
export type SpeedMessage =
  /** First line: which engine runs, and its version. */
  | { type: 'hello'; engine: string; version: string; details?: string }
  /** After each step. `phase` warm-up or timed; `step` counts from 1 within the phase. */
  | {
      type: 'progress';
      model: SpeedModelId;
      variant: SpeedVariantId;
      phase: 'warmup' | 'timed';
      step: number;
      steps: number;
      ms: number;
    }
  /** A finished cell: the timed steps' durations in milliseconds. */
  | {
      type: 'cell';
      model: SpeedModelId;
      variant: SpeedVariantId;
      batch: number;
      warmup: number;
      stepsMs: number[];
      /** Trainable parameters of the float model. */
      params?: number;
      /** Loss of the last step (a sanity check: finite). */
      loss?: number;
    }
  /** A cell that could not run (the others still run). */
  | { type: 'cell-error'; model: SpeedModelId; variant: SpeedVariantId; error: string }
  /** The engine is not installed here: nothing ran. `hint`: how to install it. */
  | { type: 'unavailable'; reason: string; hint?: string };

const TYPES = new Set(['hello', 'progress', 'cell', 'cell-error', 'unavailable']);

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/** Checks the fields a message type needs; returns the reason it is malformed, or null. */
function malformed(m: Record<string, unknown>): string | null {
  switch (m.type) {
    case 'hello':
      return isString(m.engine) && isString(m.version) ? null : 'needs engine and version';
    case 'progress':
      return isString(m.model) &&
        isString(m.variant) &&
        (m.phase === 'warmup' || m.phase === 'timed') &&
        isFiniteNumber(m.step) &&
        isFiniteNumber(m.steps)
        ? null
        : 'needs model, variant, phase, step, steps';
    case 'cell':
      return isString(m.model) &&
        isString(m.variant) &&
        isFiniteNumber(m.batch) &&
        Array.isArray(m.stepsMs) &&
        m.stepsMs.every((v) => isFiniteNumber(v) && v >= 0)
        ? null
        : 'needs model, variant, batch and stepsMs (non-negative numbers)';
    case 'cell-error':
      return isString(m.model) && isString(m.variant) && isString(m.error)
        ? null
        : 'needs model, variant, error';
    case 'unavailable':
      return isString(m.reason) && (m.hint === undefined || isString(m.hint))
        ? null
        : 'needs reason (and hint, if any, a string)';
    default:
      return 'unknown type';
  }
}

/**
 * Parses one stdout line. Returns the message, `null` for a line that is not a protocol message
 * (text, or JSON without a known `type`), or `{ malformed }` for a protocol message missing fields.
 */
export function parseSpeedMessage(line: string): SpeedMessage | { malformed: string } | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const m = value as Record<string, unknown>;
  if (!(isString(m.type) && TYPES.has(m.type))) return null;
  const why = malformed(m);
  if (why) return { malformed: `malformed '${m.type}' message (${why}): ${text.slice(0, 200)}` };
  return m as unknown as SpeedMessage;
}
