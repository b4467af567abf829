import { ArgumentError } from '../errors.js';

/** How T moves from T0 to T(B) over the run. */
export type TemperatureShape = 'exponential' | 'linear' | 'cosine';

export interface TemperatureSchedule {
  /** T(0), the paper's 100. */
  t0: number;
  /** T(B), the paper's 0.03; must be below t0. */
  tEnd: number;
  /** B, the number of training batches of the whole run. */
  steps: number;
}

function check(s: TemperatureSchedule, where: string): void {
  if (!(s.t0 > 0 && Number.isFinite(s.t0)))
    throw new ArgumentError(`${where}: t0 must be positive, got ${s.t0}`);
  if (!(s.tEnd > 0)) throw new ArgumentError(`${where}: tEnd must be positive, got ${s.tEnd}`);
  if (!(s.tEnd < s.t0))
    throw new ArgumentError(
      `${where}: tEnd (${s.tEnd}) must be below t0 (${s.t0}): DQA cools down`,
    );
  if (!(Number.isInteger(s.steps) && s.steps > 0)) {
    throw new ArgumentError(`${where}: steps must be a positive integer, got ${s.steps}`);
  }
}

function progress(step: number, steps: number, where: string): number {
  if (!Number.isFinite(step)) throw new ArgumentError(`${where}: step must be finite, got ${step}`);
  return Math.min(Math.max(step, 0), steps);
}

/** Algorithm 1's decay rate ψ = exp(log(T(B)/T(0)) / B) < 1. */
export function temperatureDecay(s: TemperatureSchedule): number {
  check(s, 'temperatureDecay');
  return Math.exp(Math.log(s.tEnd / s.t0) / s.steps);
}

/**
 * Eq. 5: T(b) = T(0)·ψ^b with ψ from Algorithm 1, so `temperature(0, s)` is T0 and
 * `temperature(s.steps, s)` is T(B). Steps outside [0, B] are clamped.
 */
export function temperature(step: number, s: { t0: number; tEnd: number; steps: number }): number {
  check(s, 'temperature');
  const b = progress(step, s.steps, 'temperature');
  if (b === s.steps) return s.tEnd;
  // T0·ψ^b computed as T0·(T(B)/T0)^(b/B), which is the same number without accumulating ψ.
  return s.t0 * (s.tEnd / s.t0) ** (b / s.steps);
}

/** Linear cooling from T0 to T(B). */
export function temperatureLinear(step: number, s: TemperatureSchedule): number {
  check(s, 'temperatureLinear');
  const b = progress(step, s.steps, 'temperatureLinear');
  return s.t0 + (s.tEnd - s.t0) * (b / s.steps);
}

/** Cosine cooling from T0 to T(B). */
export function temperatureCosine(step: number, s: TemperatureSchedule): number {
  check(s, 'temperatureCosine');
  const b = progress(step, s.steps, 'temperatureCosine');
  return s.tEnd + ((s.t0 - s.tEnd) * (1 + Math.cos((Math.PI * b) / s.steps))) / 2;
}

/** The temperature at `step` for the chosen shape. */
export function temperatureAt(
  step: number,
  s: TemperatureSchedule & { shape?: TemperatureShape },
): number {
  switch (s.shape ?? 'exponential') {
    case 'exponential':
      return temperature(step, s);
    case 'linear':
      return temperatureLinear(step, s);
    case 'cosine':
      return temperatureCosine(step, s);
  }
}
