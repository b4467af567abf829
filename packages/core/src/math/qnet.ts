import { ArgumentError } from '../errors.js';

/**
 * Quantization Networks (Yang et al., CVPR 2019): quantization as a sum of steps,
 * Q(x) = α·(Σ_{i=1..N} s_i·A(β·x − b_i) − o), with A the unit step at inference and the sigmoid
 * σ(T·u) during training, T rising so that the soft function approaches the hard one. Here the
 * steps come from a level set l_0 < … < l_N (Q_1's levels of the tensor): s_i = l_i − l_{i−1}
 * (heights), b_i = (l_{i−1} + l_i)/2 (the thresholds half-way between levels), o = −l_0, all in
 * units of the mean gap d = (l_N − l_0)/N so that T is dimensionless: at T = 1 each sigmoid is
 * about one level gap wide whatever the tensor's scale. With α = β = 1 the hard function is then
 * exactly the nearest-level quantizer of that set (ties go up, like `floor(v + 0.5)`); o = −l_0
 * is the paper's ½·Σ s_i for a symmetric set and 0 for a set starting at 0 (ReLU activations).
 */
export interface QnetSteps {
  /** d, the mean gap between adjacent levels, in the tensor's units (1 for a degenerate set). */
  scale: number;
  /** s_i = (l_i − l_{i−1}) / d. */
  heights: number[];
  /** b_i = (l_{i−1} + l_i) / (2d). */
  biases: number[];
  /** o = −l_0 / d. */
  offset: number;
}

/**
 * The steps of a level set (any order; duplicates give zero-height steps). One level, or all
 * levels equal (a constant tensor), gives no steps and Q = l_0; no levels (an empty tensor) Q = 0.
 */
export function qnetSteps(levels: ArrayLike<number>): QnetSteps {
  const l = Array.from(levels).sort((a, b) => a - b);
  for (const v of l)
    if (!Number.isFinite(v)) throw new ArgumentError(`qnetSteps: levels must be finite, got ${v}`);
  if (l.length === 0) return { scale: 1, heights: [], biases: [], offset: 0 };
  const N = l.length - 1;
  const span = l[N]! - l[0]!;
  if (!(span > 0)) return { scale: 1, heights: [], biases: [], offset: -l[0]! };
  const d = span / N;
  const heights: number[] = [];
  const biases: number[] = [];
  for (let i = 1; i <= N; i++) {
    heights.push((l[i]! - l[i - 1]!) / d);
    biases.push((l[i - 1]! + l[i]!) / (2 * d));
  }
  // `+ 0` turns −0 into 0 for a set starting at 0.
  return { scale: d, heights, biases, offset: -l[0]! / d + 0 };
}

/** σ(T·u), or the unit step (u ≥ 0 → 1) for T = ∞. Never overflows. */
export function qnetSigmoid(u: number, T: number): number {
  if (T === Number.POSITIVE_INFINITY) return u >= 0 ? 1 : 0;
  const z = T * u;
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/**
 * The end temperature at which soft and hard agree on the final model: every sigmoid is within ε
 * of its unit step wherever a value lies more than `band`·h from its threshold (h the smallest
 * step height in units of d): σ(T·band·h) = 1 − ε, i.e. T = ln((1 − ε)/ε)/(band·h). Only values
 * within that band of a threshold may still be soft.
 *
 * The band must be narrow, because trained weights crowd around thresholds: min-max levels of a
 * bell-shaped tensor put a threshold at its mode. Measured on the quick run (cnn-small,
 * Fashion-MNIST, 2-bit min-max): band = ½ (T(B) ≈ 13.8, agreement only half-way between
 * thresholds) left a 6.3-point gap between the soft and the hard model (90.8 % → 84.5 %); band =
 * 0.05 (T(B) ≈ 138 for ε = 10⁻³) closed it (88.6 % → 88.5 %).
 */
export function qnetAutoTemperature(epsilon: number, minHeight = 1, band = 0.05): number {
  if (!(epsilon > 0 && epsilon < 0.5))
    throw new ArgumentError(`qnetAutoTemperature: epsilon must be in (0, 0.5), got ${epsilon}`);
  if (!(minHeight > 0 && Number.isFinite(minHeight)))
    throw new ArgumentError(`qnetAutoTemperature: minHeight must be positive, got ${minHeight}`);
  if (!(band > 0 && band <= 0.5))
    throw new ArgumentError(`qnetAutoTemperature: band must be in (0, 0.5], got ${band}`);
  return Math.log((1 - epsilon) / epsilon) / (band * minHeight);
}

/** Q(x) = α·d·(Σ s_i σ(T(β·x/d − b_i)) − o) for one value; T = ∞ is the hard quantizer. */
export function qnetValue(
  x: number,
  steps: QnetSteps,
  alpha: number,
  beta: number,
  T: number,
): number {
  const z = (beta * x) / steps.scale;
  let sum = 0;
  for (let i = 0; i < steps.heights.length; i++)
    sum += steps.heights[i]! * qnetSigmoid(z - steps.biases[i]!, T);
  return alpha * steps.scale * (sum - steps.offset);
}

/**
 * ∂Q/∂x, ∂Q/∂α and ∂Q/∂β at x for finite T (the gradient flows through the sigmoids, no
 * straight-through estimator): with g = Σ s_i σ_i (1 − σ_i), ∂Q/∂x = α·β·T·g, ∂Q/∂β = α·T·x·g,
 * ∂Q/∂α = d·(Σ s_i σ_i − o). The calibration (d, b_i, s_i) is a constant, as in the plugins.
 */
export function qnetGrad(
  x: number,
  steps: QnetSteps,
  alpha: number,
  beta: number,
  T: number,
): { dx: number; dalpha: number; dbeta: number } {
  const z = (beta * x) / steps.scale;
  let sum = 0;
  let g = 0;
  for (let i = 0; i < steps.heights.length; i++) {
    const s = qnetSigmoid(z - steps.biases[i]!, T);
    sum += steps.heights[i]! * s;
    g += steps.heights[i]! * s * (1 - s);
  }
  return {
    dx: alpha * beta * T * g,
    dalpha: steps.scale * (sum - steps.offset),
    dbeta: alpha * T * x * g,
  };
}
