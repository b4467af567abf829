import { ArgumentError } from '../errors.js';

/** How a rising temperature moves from T0 up to T(B) over the run. */
export type RisingTemperatureShape = 'linear' | 'exponential';

export interface RisingTemperatureSchedule {
  shape: RisingTemperatureShape;
  /** T(0), Quantization Networks' 1. */
  t0: number;
  /** T(B); must be above t0. */
  tEnd: number;
  /** B, the number of training batches of the whole run. */
  steps: number;
}

/**
 * A temperature that rises from T0 to T(B) (Quantization Networks sharpen their sigmoids towards
 * unit steps; DQA's `temperature` cools instead): linear, T0 + (T(B) − T0)·b/B, or exponential,
 * T0·(T(B)/T0)^(b/B). A pure function of the step; steps outside [0, B] are clamped, and
 * `risingTemperature(B, s)` is exactly T(B).
 */
export function risingTemperature(step: number, s: RisingTemperatureSchedule): number {
  const where = 'risingTemperature';
  if (!(s.t0 > 0 && Number.isFinite(s.t0)))
    throw new ArgumentError(`${where}: t0 must be positive, got ${s.t0}`);
  if (!(s.tEnd > s.t0 && Number.isFinite(s.tEnd)))
    throw new ArgumentError(
      `${where}: tEnd (${s.tEnd}) must be finite and above t0 (${s.t0}): the temperature rises`,
    );
  if (!(Number.isInteger(s.steps) && s.steps > 0))
    throw new ArgumentError(`${where}: steps must be a positive integer, got ${s.steps}`);
  if (!Number.isFinite(step)) throw new ArgumentError(`${where}: step must be finite, got ${step}`);
  const b = Math.min(Math.max(step, 0), s.steps);
  if (b === s.steps) return s.tEnd;
  const f = b / s.steps;
  switch (s.shape) {
    case 'linear':
      return s.t0 + (s.tEnd - s.t0) * f;
    case 'exponential':
      return s.t0 * (s.tEnd / s.t0) ** f;
    default:
      throw new ArgumentError(
        `${where}: shape must be 'linear' or 'exponential', got '${String(s.shape)}'`,
      );
  }
}
