import { describe, expect, it } from 'vitest';
import {
  type Backend,
  createRelaxedQuantizer,
  createTapeBackend,
  parseConfig,
  Random,
  referenceKernels,
} from '../src/index.js';
import { fakeQuantizers } from './fake-plugins.js';
import { expectTracesClose, traceRelaxed } from './helpers.js';

const quantizers = fakeQuantizers();

type Spec = { relaxation: string; quantizers: { id: string; bits: number }[] };

/** A relaxed quantizer for `spec` with the configuration defaults and DQA's λ. */
function relaxed(b: Backend, spec: Spec, name: string, rank: number, lambda: number) {
  const config = parseConfig(
    { model: { name: 'm' }, data: { name: 'd' }, relaxation: { dqa: { lambda } } },
    { quantizers },
  );
  return createRelaxedQuantizer(
    b,
    {
      relaxation: spec.relaxation,
      quantizers: spec.quantizers.map((q) => ({ ...q, granularity: 'tensor', channelAxis: -1 })),
    },
    {
      name,
      rank,
      target: name.endsWith('weights') ? 'weights' : 'activations',
      quantizers,
      relaxationConfig: config.relaxation,
    },
  );
}

/**
 * Host-memory backends run straight-through quantizers by their plain reference and DQA's whole
 * mixture as one custom-gradient op; other backends run the plugins' engine ops. Both must give
 * the same values and the same gradients.
 */
function run(b: Backend, spec: Spec) {
  const rng = new Random(11);
  const w0 = rng.normalArray(60, 0, 1);
  const r = rng.normalArray(60, 0, 1);
  // Early (T high), middle and late (T small) steps of a 100-step run.
  return traceRelaxed(b, relaxed(b, spec, 'layer/weights', 2, 3), w0, r, [6, 10]);
}

const close = expectTracesClose;

describe('host-memory fast paths', () => {
  const host = () => createTapeBackend(referenceKernels, 'host', { hostMemory: true });
  const ops = () => createTapeBackend(referenceKernels, 'ops');

  it('DQA over straight-through quantizers: same mixture, regularizer and gradients (w and α)', () => {
    const spec = {
      relaxation: 'dqa',
      quantizers: [
        { id: 'minmax', bits: 2 },
        { id: 'minmax', bits: 4 },
        { id: 'fp', bits: 32 },
      ],
    };
    const fast = run(host(), spec);
    const slow = run(ops(), spec);
    close(fast, slow);
    // The gradient of α is not zero: the test would see a wrong softmax backward.
    expect(slow['grad1@50']!.some((g) => Math.abs(g) > 1e-6)).toBe(true);
  });

  it('STE and Binary-Relax through the reference quantizer path', () => {
    close(
      run(host(), { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] }),
      run(ops(), { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] }),
    );
    const br = {
      relaxation: 'binary-relax',
      quantizers: [
        { id: 'bwn', bits: 1 },
        { id: 'fp', bits: 32 },
      ],
    };
    close(run(host(), br), run(ops(), br));
  });

  it('DQA with a quantizer that has parameters keeps the engine ops (no host path)', () => {
    const b = host();
    const spec = {
      relaxation: 'dqa',
      quantizers: [
        { id: 'pact', bits: 2 },
        { id: 'pact', bits: 4 },
      ],
    };
    // PACT learns its clip level: its gradient must reach it, which only the op path gives.
    const x = b.tidy(() => b.variable(b.tensor([0.5, 3, 7, -1], [4]), { name: 'x' }));
    const rq = relaxed(b, spec, 'act', 1, 1);
    const step = { step: 10, totalSteps: 100, stepsPerEpoch: 10 };
    const { grads } = b.valueAndGrads(() => b.sum(rq.forward(x, step)), rq.variables);
    const clip = grads.slice(1).map((g) => b.readSync(g)[0]!);
    expect(clip.some((g) => g !== 0)).toBe(true);
  });
});
