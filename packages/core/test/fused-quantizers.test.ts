import { describe, expect, it } from 'vitest';
import {
  type Backend,
  createQuantizerRegistry,
  createRelaxedQuantizer,
  createTapeBackend,
  defineQuantizer,
  type FusedQuantizer,
  type FusedQuantizerSpec,
  type FusedQuantizers,
  parseConfig,
  type QuantizerPlugin,
  Random,
  type ReferenceOptions,
  referenceKernels,
  straightThroughReferenceGrad,
  type Tensor,
} from '../src/index.js';
import { fakeBwn, fakeFp, fakeMinmax } from './fake-plugins.js';
import { expectTracesClose, traceRelaxed } from './helpers.js';

/**
 * `Backend.fusedQuantizers`: a fake capability written in TypeScript over the plugins' plain
 * references stands in for a backend's fused kernels. With it, `quantize`, PACT-style plugins
 * with parameters, and the DQA and Binary-Relax mixtures must give the values and gradients of
 * the paths without it; where it has no kernel (or one that would change the gradient rule) the
 * existing path runs.
 */

/**
 * A PACT-like plugin with a learnable clip level: Q(x) = min(max(x, 0), α), gradients by PACT's
 * rule (dx = dy where 0 ≤ x < α, dα = Σ dy over x ≥ α), written with `customGrad` like PACT.
 */
const clip = defineQuantizer({
  id: 'clip',
  description: 'clip to [0, alpha] with a learnable alpha and the PACT gradient rule (tests)',
  bits: { min: 1, max: 8 },
  targets: ['weights', 'activations'],
  granularities: ['tensor'],
  parameters: [{ name: 'alpha', description: 'clip level', init: () => 0.8 }],
  forward(b: Backend, x: Tensor, ctx) {
    return b.customGrad((v, alpha) => ({
      value: b.minimum(b.relu(v!), alpha!),
      gradFunc: (dy) => [
        b.mul(dy, b.mul(b.greaterEqual(v!, 0), b.less(v!, alpha!))),
        b.reshape(b.sum(b.mul(dy, b.greaterEqual(v!, alpha!))), alpha!.shape),
      ],
    }))(x, ctx.params.alpha!);
  },
  reference(x: Float32Array, _bits: number, options?: ReferenceOptions) {
    const alpha = Math.fround(options!.params!.alpha!);
    return x.map((v) => Math.min(Math.max(v, 0), alpha));
  },
  referenceGrad(x: Float32Array, _bits: number, dy: Float32Array, options?: ReferenceOptions) {
    const alpha = Math.fround(options!.params!.alpha!);
    const dx = new Float32Array(x.length);
    let dAlpha = 0;
    for (let i = 0; i < x.length; i++) {
      if (x[i]! >= 0 && x[i]! < alpha) dx[i] = dy[i]!;
      else if (x[i]! >= alpha) dAlpha += dy[i]!;
    }
    return { dx, params: { alpha: dAlpha } };
  },
  levels() {
    return [];
  },
});

/** A straight-through plugin the fake capability does not know (a third party's). */
const unknown = defineQuantizer({ ...fakeMinmax, id: 'unknown-uniform' });

const quantizers = createQuantizerRegistry([fakeMinmax, fakeBwn, fakeFp, clip, unknown]);

interface Calls {
  quantizer: string[];
  mixture: number;
}

const numbers = (b: Backend, params: Readonly<Record<string, Tensor>>) =>
  Object.fromEntries(Object.entries(params).map(([k, t]) => [k, b.readSync(t)[0]!]));

/**
 * Gives `b` a fused-quantizer capability over the plugins' references for the plugins in
 * `known`. `forwardOnly` leaves out the backward of plugins whose rule is not straight-through
 * (a capability that would silently change their gradient).
 */
function withFakeFused(
  b: Backend,
  known: readonly QuantizerPlugin[],
  calls: Calls,
  forwardOnly = false,
): Backend {
  const options = (
    s: FusedQuantizerSpec,
    x: Tensor,
    params: Record<string, number>,
  ): ReferenceOptions => ({
    granularity: s.granularity,
    shape: x.shape,
    channelAxis: s.channelAxis,
    params,
  });
  const fused: FusedQuantizers = {
    quantizer(s) {
      if (!known.includes(s.plugin)) return undefined;
      const q: FusedQuantizer = {
        forward(x, params) {
          calls.quantizer.push(s.plugin.id);
          const values = s.plugin.reference(
            b.readSync(x),
            s.bits,
            options(s, x, numbers(b, params)),
          );
          return b.tensor(values, x.shape);
        },
      };
      if (s.plugin.referenceGrad !== straightThroughReferenceGrad && !forwardOnly) {
        q.backward = (x, dy, params) => {
          const g = s.plugin.referenceGrad(
            b.readSync(x),
            s.bits,
            b.readSync(dy),
            options(s, x, numbers(b, params)),
          );
          const grads: Record<string, Tensor> = {};
          for (const [n, t] of Object.entries(params))
            grads[n] = b.tensor([g.params![n]!], t.shape);
          return { dx: b.tensor(g.dx, x.shape), params: grads };
        };
      }
      return q;
    },
    mixture(specs) {
      if (!specs.every((s) => known.includes(s.plugin))) return undefined;
      return {
        forward(x, weights) {
          calls.mixture++;
          const xv = b.readSync(x);
          const qs = specs.map((s) => s.plugin.reference(xv, s.bits, options(s, x, {})));
          const out = new Float32Array(xv.length);
          qs.forEach((q, k) => {
            for (let i = 0; i < out.length; i++) out[i]! += weights[k]! * q[i]!;
          });
          return {
            value: b.tensor(out, x.shape),
            dots: (dy) => {
              const d = b.readSync(dy);
              return qs.map((q) => q.reduce((s, v, i) => s + d[i]! * v, 0));
            },
          };
        },
      };
    },
  };
  Object.defineProperty(b, 'fusedQuantizers', { value: fused });
  return b;
}

type Spec = { relaxation: string; quantizers: { id: string; bits: number }[] };

function relaxed(b: Backend, spec: Spec, name: string) {
  const config = parseConfig(
    { model: { name: 'm' }, data: { name: 'd' }, relaxation: { dqa: { lambda: 3 } } },
    { quantizers },
  );
  return createRelaxedQuantizer(
    b,
    {
      relaxation: spec.relaxation,
      quantizers: spec.quantizers.map((q) => ({ ...q, granularity: 'tensor', channelAxis: -1 })),
    },
    { name, rank: 2, target: 'weights', quantizers, relaxationConfig: config.relaxation },
  );
}

/** Values, mixtures and gradients (w and every relaxation variable) at three steps of a run. */
function run(b: Backend, spec: Spec) {
  const rng = new Random(5);
  // Weights around the clip level of `clip`, so both of its gradient branches are taken.
  const w0 = rng.normalArray(60, 0.4, 1);
  const r = rng.normalArray(60, 0, 1);
  return traceRelaxed(b, relaxed(b, spec, 'layer/weights'), w0, r, [6, 10]);
}

const close = expectTracesClose;

const host = () => createTapeBackend(referenceKernels, 'host', { hostMemory: true });
const ops = () => createTapeBackend(referenceKernels, 'ops');
const noCalls = (): Calls => ({ quantizer: [], mixture: 0 });
const all = [fakeMinmax, fakeBwn, fakeFp, clip];

describe('Backend.fusedQuantizers', () => {
  const dqa: Spec = {
    relaxation: 'dqa',
    quantizers: [
      { id: 'minmax', bits: 2 },
      { id: 'minmax', bits: 4 },
      { id: 'fp', bits: 32 },
    ],
  };

  it('DQA runs its fused mixture: the host path bit for bit, the op path within float rounding', () => {
    const calls = noCalls();
    const fused = run(withFakeFused(ops(), all, calls), dqa);
    // One mixture per forward (the loss and the q read-back) at each of the three steps.
    expect(calls.mixture).toBe(6);
    // The hard quantizer (Q_1) goes through the fused single-quantizer kernel.
    expect(calls.quantizer).toEqual(['minmax', 'minmax', 'minmax']);
    expect(fused).toEqual(run(host(), dqa));
    close(fused, run(ops(), dqa));
    // The attention gradient is not zero: a wrong dots/softmax backward would show.
    expect(fused['grad1@50']!.some((g) => Math.abs(g) > 1e-6)).toBe(true);
  });

  it('Binary-Relax and STE: same values and gradients as without the capability', () => {
    for (const spec of [
      {
        relaxation: 'binary-relax',
        quantizers: [
          { id: 'bwn', bits: 1 },
          { id: 'minmax', bits: 4 },
          { id: 'fp', bits: 32 },
        ],
      },
      { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] },
    ]) {
      const calls = noCalls();
      const fused = run(withFakeFused(ops(), all, calls), spec);
      if (spec.relaxation === 'binary-relax') expect(calls.mixture).toBe(6);
      else expect(calls.quantizer.length).toBe(9);
      close(fused, run(ops(), spec));
      close(fused, run(host(), spec));
    }
  });

  it('a plugin with parameters runs its fused kernel with its own backward (x and α)', () => {
    const spec = { relaxation: 'ste', quantizers: [{ id: 'clip', bits: 2 }] };
    const calls = noCalls();
    const fused = run(withFakeFused(ops(), all, calls), spec);
    expect(calls.quantizer.length).toBe(9);
    const plain = run(ops(), spec);
    close(fused, plain);
    // Both branches of the rule are exercised: some dx pass, some are cut, α gets a gradient.
    expect(plain['grad0@0']!.filter((g) => g === 0).length).toBeGreaterThan(0);
    expect(plain['grad0@0']!.filter((g) => g !== 0).length).toBeGreaterThan(0);
    expect(Math.abs(plain['grad1@0']![0]!)).toBeGreaterThan(1e-3);
  });

  it('keeps the existing path where the backend has no kernel or would change the rule', () => {
    // A third party's plugin the backend does not know: no fused call, same results.
    const foreign = {
      relaxation: 'dqa',
      quantizers: [
        { id: 'unknown-uniform', bits: 2 },
        { id: 'minmax', bits: 4 },
      ],
    };
    const calls = noCalls();
    const got = run(withFakeFused(ops(), all, calls), foreign);
    expect(calls.mixture).toBe(0);
    // Q_2 (known) still runs fused inside the op mixture; Q_1 (unknown) never does.
    expect(calls.quantizer.every((id) => id === 'minmax')).toBe(true);
    close(got, run(ops(), foreign));

    // A forward-only kernel for a plugin whose rule is not straight-through would drop α's
    // gradient: it is not used.
    const pact = { relaxation: 'ste', quantizers: [{ id: 'clip', bits: 2 }] };
    const forwardOnly = noCalls();
    const kept = run(withFakeFused(ops(), all, forwardOnly, true), pact);
    expect(forwardOnly.quantizer).toEqual([]);
    close(kept, run(ops(), pact));

    // A mixture over a quantizer with parameters is never fused (its α needs its own gradient).
    const mixed = {
      relaxation: 'dqa',
      quantizers: [
        { id: 'clip', bits: 2 },
        { id: 'minmax', bits: 4 },
      ],
    };
    const mixedCalls = noCalls();
    const viaOps = run(withFakeFused(ops(), all, mixedCalls), mixed);
    expect(mixedCalls.mixture).toBe(0);
    close(viaOps, run(ops(), mixed));
    expect(Math.abs(viaOps['grad2@0']![0]!)).toBeGreaterThan(1e-3);
  });
});
