import type { Backend, Tensor } from '../backend/backend.js';
import { DqaError, UnsupportedBitsError } from '../errors.js';

/** What a quantizer can be applied to. */
export type QuantTarget = 'weights' | 'activations';

/** One scale for the whole tensor (the paper's default), or one per output channel. */
export type Granularity = 'tensor' | 'channel';

/** Accepted bitwidths: an inclusive integer range or an explicit list. */
export type BitsSpec =
  | { readonly min: number; readonly max: number }
  | { readonly values: readonly number[] };

/** A learnable parameter a plugin needs per layer (PACT's clip level α). */
export interface QuantizerParameter {
  readonly name: string;
  readonly description: string;
  /** Initial value for a given bitwidth. */
  init(bits: number): number;
  /**
   * Smallest value the parameter may take. Training projects it back onto `≥ min` after every
   * optimizer update (projected SGD), so a step that overshoots cannot leave the quantizer's
   * domain (PACT's clip level must stay positive). Absent: unbounded.
   */
  readonly min?: number;
}

/** Options of the plain reference implementation. */
export interface ReferenceOptions {
  /** Default `'tensor'`. `'channel'` needs `shape`. */
  granularity?: Granularity;
  /** Shape of `x` (row-major), needed for per-channel quantization. */
  shape?: readonly number[];
  /** Channel axis for per-channel quantization; default the last axis (HWIO / [in, out] layouts). */
  channelAxis?: number;
  /** Values of learnable parameters (e.g. `{ alpha: 6 }` for PACT); calibrated from x when absent. */
  params?: Readonly<Record<string, number>>;
}

/** Context of the backend forward pass. */
export interface QuantizeContext {
  bits: number;
  granularity: Granularity;
  /** Channel axis, non-negative, for `'channel'` granularity. */
  channelAxis: number;
  /** Learnable parameters (variables created from `plugin.parameters`), by name. */
  params: Readonly<Record<string, Tensor>>;
}

export interface ReferenceGrad {
  /** d loss / d x given d loss / d output. */
  dx: Float32Array;
  /** d loss / d parameter for each learnable parameter (summed over the tensor). */
  params?: Record<string, number>;
}

/**
 * A quantizer plugin: one file holds its forward pass with its gradient rule (written against
 * `Backend` ops, so every backend runs it), its plain `Float32Array` reference, and the reference
 * of its gradient rule. Calibration (min/max, SAWB's α*, E|x|, TWN's δ and β) is computed from the
 * tensor being quantized, at every call.
 */
export interface QuantizerPlugin {
  /** Registry id, kebab-case (`minmax`, `sawb`, …). */
  readonly id: string;
  readonly description: string;
  /** Where it comes from, e.g. "DQA paper eq. 10, 13". */
  readonly source?: string;
  readonly bits: BitsSpec;
  readonly targets: readonly QuantTarget[];
  readonly granularities: readonly Granularity[];
  /** True for quantizers whose output is the input (FP): relaxations treat them as "32 bit". */
  readonly identity?: boolean;
  readonly parameters?: readonly QuantizerParameter[];
  /** Quantizes `x` on a backend; its gradient is the plugin's rule (STE, PACT, …). */
  forward(b: Backend, x: Tensor, ctx: QuantizeContext): Tensor;
  /** Plain reference: quantizes the whole tensor with calibration from `x` itself. */
  reference(x: Float32Array, bits: number, options?: ReferenceOptions): Float32Array;
  /** Plain reference of the gradient rule. */
  referenceGrad(
    x: Float32Array,
    bits: number,
    dy: Float32Array,
    options?: ReferenceOptions,
  ): ReferenceGrad;
  /** The values the output can take for this `x` (one ascending set per channel group). */
  levels(x: Float32Array, bits: number, options?: ReferenceOptions): Float32Array[];
}

/** "bits 1–16" / "bits 1" / "bits 2, 4 or 8". */
export function describeBits(spec: BitsSpec): string {
  if ('values' in spec) {
    const v = spec.values;
    if (v.length === 1) return `bits ${v[0]} only`;
    return `bits ${v.slice(0, -1).join(', ')} or ${v[v.length - 1]}`;
  }
  return `bits ${spec.min}–${spec.max} (integers)`;
}

export function acceptsBits(spec: BitsSpec, bits: number): boolean {
  if (!Number.isInteger(bits)) return false;
  if ('values' in spec) return spec.values.includes(bits);
  return bits >= spec.min && bits <= spec.max;
}

/** Throws `UNSUPPORTED_BITS` if `plugin` does not accept `bits`. */
export function checkBits(plugin: QuantizerPlugin, bits: number): void {
  if (!acceptsBits(plugin.bits, bits))
    throw new UnsupportedBitsError(plugin.id, bits, describeBits(plugin.bits));
}

const ID = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Checks a plugin's declaration; throws `INVALID_PLUGIN` saying what is wrong. */
export function validateQuantizer(p: QuantizerPlugin): void {
  const bad = (why: string): never => {
    throw new DqaError('INVALID_PLUGIN', `quantizer plugin '${String(p?.id)}': ${why}`);
  };
  if (typeof p !== 'object' || p === null) bad('is not an object');
  if (typeof p.id !== 'string' || !ID.test(p.id))
    bad('id must be kebab-case (e.g. "my-quantizer")');
  for (const fn of ['forward', 'reference', 'referenceGrad', 'levels'] as const) {
    if (typeof p[fn] !== 'function') bad(`is missing the function '${fn}'`);
  }
  const b = p.bits as BitsSpec | undefined;
  if (!b) bad('declares no accepted bits');
  else if ('values' in b) {
    if (!b.values.length || b.values.some((v) => !Number.isInteger(v) || v < 1))
      bad('bits.values must be positive integers');
  } else if (
    !(Number.isInteger(b.min) && Number.isInteger(b.max) && b.min >= 1 && b.max >= b.min)
  ) {
    bad('bits must be { min, max } with 1 ≤ min ≤ max');
  }
  if (!p.targets?.length) bad("declares no targets ('weights' and/or 'activations')");
  if (!p.granularities?.length) bad("declares no granularities ('tensor' and/or 'channel')");
  for (const q of p.parameters ?? []) {
    if (q.min !== undefined && !Number.isFinite(q.min))
      bad(`parameter '${q.name}': min must be a finite number, got ${q.min}`);
  }
}

/** Identity helper that type-checks and validates a plugin declaration. */
export function defineQuantizer<P extends QuantizerPlugin>(plugin: P): P {
  validateQuantizer(plugin);
  return plugin;
}
