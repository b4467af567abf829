import { expect } from 'vitest';
import { type Backend, DqaError, type RelaxedQuantizer } from '../src/index.js';

/** The error `fn` throws (fails the test if it does not throw). */
export function thrown(fn: () => unknown): DqaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DqaError);
    return e as DqaError;
  }
  return expect.fail('expected an error');
}

/**
 * A relaxed quantizer traced at an early, a middle and a late step of a 100-step run: the loss
 * Σ r·q(w) (+ regularizer), q(w), the hard quantizer and the gradients for w and every relaxation
 * variable, by key. Disposes `rq` and its weights.
 */
export function traceRelaxed(
  b: Backend,
  rq: RelaxedQuantizer,
  w0: Float32Array,
  r: Float32Array,
  shape: readonly number[],
): Record<string, number[]> {
  const w = b.tidy(() => b.variable(b.tensor(w0, shape), { name: 'w' }));
  const out: Record<string, number[]> = {};
  for (const s of [0, 50, 97]) {
    const step = { step: s, totalSteps: 100, stepsPerEpoch: 10 };
    rq.beforeStep(step);
    const { value, grads } = b.valueAndGrads(() => {
      const q = rq.forward(w, step);
      const loss = b.sum(b.mul(q, b.tensor(r, shape)));
      const reg = rq.regularizer(step, 1000);
      return reg ? b.add(loss, reg) : loss;
    }, [w, ...rq.variables]);
    out[`value@${s}`] = Array.from(b.readSync(value));
    out[`q@${s}`] = Array.from(b.tidy(() => b.readSync(rq.forward(w, step))));
    out[`hard@${s}`] = Array.from(b.tidy(() => b.readSync(rq.hard(w))));
    grads.forEach((g, i) => {
      out[`grad${i}@${s}`] = Array.from(b.readSync(g));
    });
    b.dispose([value, ...grads]);
  }
  rq.dispose();
  b.dispose(w);
  return out;
}

/** Two traces (`traceRelaxed`) have the same keys and agree within `rtol` (relative, floor 1). */
export function expectTracesClose(
  a: Record<string, number[]>,
  b: Record<string, number[]>,
  rtol = 1e-5,
): void {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const [k, v] of Object.entries(a)) {
    const w = b[k]!;
    expect(v.length, k).toBe(w.length);
    v.forEach((x, i) => {
      expect(Math.abs(x - w[i]!), `${k}[${i}]: ${x} vs ${w[i]}`).toBeLessThanOrEqual(
        rtol * Math.max(1, Math.abs(w[i]!)),
      );
    });
  }
}
