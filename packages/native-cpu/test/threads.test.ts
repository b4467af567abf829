import { lossAndGrads, parseConfig, Random } from '@dqa/core';
import { buildModel } from '@dqa/models';
import { quantizers } from '@dqa/quantizers';
import { expect, it } from 'vitest';
import { createNativeCpuBackend, getThreads, setThreads } from '../src/index.js';
import { describeNative } from './native.js';

/** Loss and gradients of one DQA training step of the benchmark CNN (batch 32) at `threads`. */
function step(threads: number): { loss: number; grads: Float32Array[] } {
  const b = createNativeCpuBackend({ threads });
  const config = parseConfig(
    {
      model: { name: 'cnn-small' },
      data: { name: 'synthetic' },
      quantization: {
        weights: {
          relaxation: 'dqa',
          quantizers: [
            { id: 'minmax', bits: 2 },
            { id: 'minmax', bits: 4 },
            { id: 'minmax', bits: 8 },
          ],
        },
        quantizeFirstLayer: true,
        quantizeLastLayer: true,
      },
    },
    { quantizers },
  );
  const model = buildModel(b, config, { inputShape: [28, 28, 1], classes: 10 });
  const rng = new Random(5);
  const x = b.tensor(rng.normalArray(32 * 784), [32, 28, 28, 1]);
  const labels = new Float32Array(320);
  for (let i = 0; i < 32; i++) labels[i * 10 + (i % 10)] = 1;
  const y = b.tensor(labels, [32, 10]);
  const info = { step: 3, totalSteps: 10, stepsPerEpoch: 10 };
  for (const q of model.quantizers) q.beforeStep(info);
  const { value, grads } = lossAndGrads(b, model, { x, y }, info);
  const out = { loss: b.readSync(value)[0]!, grads: grads.map((g) => b.readSync(g)) };
  b.dispose([value, ...grads, x, y]);
  model.dispose();
  return out;
}

describeNative('native-cpu threads', () => {
  it('createNativeCpuBackend({ threads }) and setThreads cap the team; bad counts are refused', () => {
    createNativeCpuBackend({ threads: 1 });
    expect(getThreads()).toBe(1);
    setThreads(3);
    expect(getThreads()).toBe(3);
    const b = createNativeCpuBackend({ threads: 2 });
    expect(b.describe().threads).toBe(2);
    b.setThreads?.(1);
    expect(getThreads()).toBe(1);
    expect(() => setThreads(0)).toThrow(/threads must be an integer ≥ 1, got 0/);
    expect(() => createNativeCpuBackend({ threads: 1.5 })).toThrow(/got 1\.5/);
  });

  it('a training step gives the same loss and gradients on 1, 2 and 3 threads', () => {
    const one = step(1);
    for (const threads of [2, 3]) {
      const many = step(threads);
      expect(many.loss).toBeCloseTo(one.loss, 5);
      many.grads.forEach((g, i) => {
        const want = one.grads[i]!;
        let scale = 0;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        for (let j = 0; j < g.length; j++) {
          // Parallel reductions sum in another order: equal up to float rounding.
          if (Math.abs(g[j]! - want[j]!) > 1e-4 * scale + 1e-7) {
            expect.fail(
              `gradient ${i}, element ${j}: ${g[j]} on ${threads} threads, ${want[j]} on 1`,
            );
          }
        }
      });
    }
  });
});
