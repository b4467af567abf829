import {
  ArgumentError,
  acceptsBits,
  assertFinite,
  type Backend,
  DqaError,
  type FusedMixture,
  type FusedQuantizer,
  type FusedQuantizerSpec,
  type FusedQuantizers,
  formatShape,
  type QuantizerPlugin,
  type Tensor,
} from '@dqa/core';
import { bwn, fp, minmax, pact, sawb, twn } from '@dqa/quantizers';

/**
 * `Backend.fusedQuantizers` of native-cpu: every quantizer of @dqa/quantizers with its
 * calibration, PACT's gradient, and the K-way DQA / Binary-Relax mixture with the dot products of
 * its attention gradient, each one call into the addon's C++ kernels (native/quant.cc: OpenMP
 * over tiles, vectorised, the references' arithmetic, so values equal the plugins' `reference`).
 */

/** The addon's fused quantizer functions (native/quant_binding.cc). */
export interface QuantAddon {
  /**
   * Calibrates every quantizer of `specs` (5 numbers each: kind, bits, groups, stride, PACT's α
   * or NaN) from x into `calib`, then writes Q(x) (`weights` null, one quantizer) or
   * Σ_k weights[k]·Q_k(x) into `out`. False (nothing written) where x holds a NaN or ±∞.
   */
  quantForward(
    specs: Float64Array,
    weights: Float64Array | null,
    x: Float32Array,
    calib: Float64Array,
    out: Float32Array,
  ): boolean;
  /** dots[k] = Σ_i dy_i·Q_k(x)_i with the calibration `quantForward` left in `calib`. */
  quantDots(
    specs: Float64Array,
    calib: Float64Array,
    x: Float32Array,
    dy: Float32Array,
    dots: Float64Array,
  ): void;
  /** PACT's dx into `dx`; returns dL/dα. α NaN: calibrated, α = max(0, max x). */
  quantPactBackward(alpha: number, x: Float32Array, dy: Float32Array, dx: Float32Array): number;
}

/** The kernels' numbering (`quant::Kind` in native/quant.h). */
const Kind = { Identity: 0, MinMax: 1, Sawb: 2, Bwn: 3, Twn: 4, Pact: 5 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** Numbers per quantizer in the `specs` array of the addon. */
const SPEC_WIDTH = 5;

/** The plugins the kernels implement, recognised by their reference and gradient rule. */
const builtins: readonly [QuantizerPlugin, Kind][] = [
  [fp, Kind.Identity],
  [minmax, Kind.MinMax],
  [sawb, Kind.Sawb],
  [bwn, Kind.Bwn],
  [twn, Kind.Twn],
  [pact, Kind.Pact],
];

/** A spec the kernels implement, with its kernel number. */
interface Known extends FusedQuantizerSpec {
  kind: Kind;
}

/**
 * The kernel for a spec, or undefined: the plugin must be one of @dqa/quantizers' (the same
 * `reference` and `referenceGrad`, so a plugin spread from a built-in and given another id still
 * matches, one with the same id and other functions does not), with bits and a granularity that
 * plugin accepts.
 */
function known(spec: FusedQuantizerSpec): Known | undefined {
  for (const [plugin, kind] of builtins) {
    if (
      spec.plugin.reference !== plugin.reference ||
      spec.plugin.referenceGrad !== plugin.referenceGrad
    )
      continue;
    if (kind !== Kind.Identity && !acceptsBits(plugin.bits, spec.bits)) return undefined;
    if (!plugin.granularities.includes(spec.granularity)) return undefined;
    return { ...spec, kind };
  }
  return undefined;
}

/** Calibration groups of x for a spec: [groups, stride] (see `quant::Spec`). */
function grouping(s: Known, shape: readonly number[]): [number, number] {
  if (s.granularity !== 'channel') return [1, 1];
  const axis = s.channelAxis;
  if (!(Number.isInteger(axis) && axis >= 0 && axis < shape.length)) {
    throw new ArgumentError(
      `${s.plugin.id}: channel axis ${axis} is out of range for shape ${formatShape(shape)}`,
    );
  }
  let stride = 1;
  for (let d = axis + 1; d < shape.length; d++) stride *= shape[d]!;
  return [Math.max(shape[axis]!, 1), Math.max(stride, 1)];
}

/** The addon's `specs` array for x's shape, and the calibration array it needs. */
function encode(
  specs: readonly Known[],
  shape: readonly number[],
  pactAlpha: number,
): { specs: Float64Array; calib: Float64Array } {
  const out = new Float64Array(specs.length * SPEC_WIDTH);
  let calib = 0;
  specs.forEach((s, k) => {
    const [groups, stride] = grouping(s, shape);
    out.set([s.kind, s.bits, groups, stride, pactAlpha], k * SPEC_WIDTH);
    if (s.kind !== Kind.Identity) calib += 3 * groups;
  });
  return { specs: out, calib: new Float64Array(calib) };
}

/** PACT's α from its parameter (NaN: none, the kernel calibrates it), checked as the plugin does. */
function pactAlpha(b: Backend, params: Readonly<Record<string, Tensor>>): number {
  const t = params.alpha;
  if (!t) return Number.NaN;
  const alpha = b.readSync(t)[0]!;
  if (!(alpha > 0)) {
    throw new ArgumentError(`pact: the clip level alpha must be positive, got ${alpha}`);
  }
  return alpha;
}

/** Runs an addon call; a native failure becomes a DqaError naming the kernel (as in kernels.ts). */
function call<T>(kernel: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DqaError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    throw new DqaError('BACKEND_STATE', `native-cpu ${kernel}: ${message}`, { cause: e });
  }
}

/** The fused quantizer capability of a host-memory backend `b` over the addon's kernels. */
export function createFusedQuantizers(b: Backend, addon: QuantAddon): FusedQuantizers {
  // Kernel outputs go to scratch arrays reused by length (a network has a few weight sizes):
  // `b.tensor` copies them into the backend's own storage at once.
  const scratch = new Map<number, Float32Array>();
  const scratchOf = (n: number): Float32Array => {
    let a = scratch.get(n);
    if (!a) {
      if (scratch.size >= 32) scratch.clear();
      a = new Float32Array(n);
      scratch.set(n, a);
    }
    return a;
  };
  const forward = (
    specs: readonly Known[],
    x: Tensor,
    weights: readonly number[] | null,
    alpha = Number.NaN,
  ) => {
    const values = b.readSync(x);
    const e = encode(specs, x.shape, alpha);
    const out = scratchOf(values.length);
    const w = weights ? Float64Array.from(weights) : null;
    if (!call('quantForward', () => addon.quantForward(e.specs, w, values, e.calib, out))) {
      // Throws the plugins' own error, naming the first non-finite element.
      assertFinite(values, specs[0]!.plugin.id);
    }
    return { values, encoded: e, value: b.tensor(out, x.shape) };
  };

  return {
    quantizer(spec: FusedQuantizerSpec): FusedQuantizer | undefined {
      const s = known(spec);
      if (!s) return undefined;
      if (s.kind !== Kind.Pact) return { forward: (x) => forward([s], x, null).value };
      return {
        forward: (x, params) => forward([s], x, null, pactAlpha(b, params)).value,
        backward: (x, dy, params) => {
          const alpha = pactAlpha(b, params);
          const xv = b.readSync(x);
          const dx = scratchOf(xv.length);
          const dyv = b.readSync(dy);
          const dAlpha = call('quantPactBackward', () =>
            addon.quantPactBackward(alpha, xv, dyv, dx),
          );
          const grads: Record<string, Tensor> = {};
          if (params.alpha) grads.alpha = b.tensor([dAlpha], params.alpha.shape);
          return { dx: b.tensor(dx, x.shape), params: grads };
        },
      };
    },

    mixture(specs: readonly FusedQuantizerSpec[]): FusedMixture | undefined {
      const ks = specs.map(known);
      if (ks.length === 0 || !ks.every((s) => s !== undefined && s.kind !== Kind.Pact))
        return undefined;
      const all = ks as Known[];
      return {
        forward(x, weights) {
          if (weights.length !== all.length) {
            throw new ArgumentError(
              `fused mixture: ${weights.length} mixing weights for ${all.length} quantizers`,
            );
          }
          const { values, encoded, value } = forward(all, x, weights);
          return {
            value,
            dots(dy) {
              const dots = new Float64Array(all.length);
              const d = b.readSync(dy);
              call('quantDots', () =>
                addon.quantDots(encoded.specs, encoded.calib, values, d, dots),
              );
              return Array.from(dots);
            },
          };
        },
      };
    },
  };
}
