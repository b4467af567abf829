import type { Backend, Tensor } from '@dqa/core';
import {
  ArgumentError,
  formatShape,
  type QuantizeContext,
  type ReferenceOptions,
  ShapeError,
  sizeOf,
} from '@dqa/core';

/**
 * Calibration groups: the whole tensor (the paper's default) or one group per output channel.
 * Shared by every plugin so per-channel quantization means the same thing everywhere.
 */
export interface Groups {
  count: number;
  /** Group of flat element i. */
  of(i: number): number;
}

/** Groups of a plain array under the reference options; throws naming the plugin on bad shapes. */
export function referenceGroups(
  length: number,
  options: ReferenceOptions | undefined,
  plugin: string,
): Groups {
  if ((options?.granularity ?? 'tensor') === 'tensor') return { count: 1, of: () => 0 };
  const shape = options?.shape;
  if (!shape) throw new ArgumentError(`${plugin}: per-channel quantization needs options.shape`);
  if (sizeOf(shape) !== length) {
    throw new ShapeError(
      `${plugin}: shape ${formatShape(shape)} has ${sizeOf(shape)} elements but x has ${length}`,
    );
  }
  const rank = shape.length;
  const axis =
    (options?.channelAxis ?? -1) < 0 ? (options?.channelAxis ?? -1) + rank : options!.channelAxis!;
  if (!(axis >= 0 && axis < rank)) {
    throw new ArgumentError(
      `${plugin}: channel axis ${options?.channelAxis} is out of range for shape ${formatShape(shape)}`,
    );
  }
  const count = shape[axis]!;
  const stride = sizeOf(shape.slice(axis + 1));
  return { count, of: (i) => Math.floor(i / stride) % count };
}

/** Splits x into its groups' values (in element order). */
export function splitGroups(x: Float32Array, g: Groups): Float32Array[] {
  const sizes = new Int32Array(g.count);
  for (let i = 0; i < x.length; i++) sizes[g.of(i)]!++;
  const out = Array.from(sizes, (n) => new Float32Array(n));
  const fill = new Int32Array(g.count);
  for (let i = 0; i < x.length; i++) {
    const k = g.of(i);
    out[k]![fill[k]!++] = x[i]!;
  }
  return out;
}

/** Per-group statistics of a plain array. */
export function groupStats(
  x: Float32Array,
  g: Groups,
): { min: Float64Array; max: Float64Array; meanAbs: Float64Array; count: Float64Array } {
  const min = new Float64Array(g.count).fill(Number.POSITIVE_INFINITY);
  const max = new Float64Array(g.count).fill(Number.NEGATIVE_INFINITY);
  const sumAbs = new Float64Array(g.count);
  const count = new Float64Array(g.count);
  for (let i = 0; i < x.length; i++) {
    const k = g.of(i);
    const v = x[i]!;
    if (v < min[k]!) min[k] = v;
    if (v > max[k]!) max[k] = v;
    sumAbs[k]! += Math.abs(v);
    count[k]!++;
  }
  const meanAbs = sumAbs.map((s, k) => (count[k]! > 0 ? s / count[k]! : 0));
  return { min, max, meanAbs, count };
}

/** Axes a backend reduction runs over: all of them per tensor, all but the channel per channel. */
export function calibrationAxes(x: Tensor, ctx: QuantizeContext): number[] {
  const all = x.shape.map((_, i) => i);
  return ctx.granularity === 'channel' ? all.filter((a) => a !== ctx.channelAxis) : all;
}

/** A backend reduction for calibration, kept broadcastable against x. */
export function calibrationReduce(
  b: Backend,
  x: Tensor,
  ctx: QuantizeContext,
  op: 'min' | 'max' | 'mean',
): Tensor {
  const axes = calibrationAxes(x, ctx);
  return b[op](x, axes, true);
}

/** Broadcast shape of a per-group constant: scalar per tensor, [1, …, C, …, 1] per channel. */
export function groupShape(x: Tensor, ctx: QuantizeContext): number[] {
  if (ctx.granularity !== 'channel') return [];
  return x.shape.map((d, i) => (i === ctx.channelAxis ? d : 1));
}
