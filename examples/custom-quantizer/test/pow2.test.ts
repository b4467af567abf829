import { createReferenceBackend, createRelaxedQuantizer, parseConfig, Random } from '@dqa/core';
import { describeBackendConformance } from '@dqa/core/conformance';
import { quantizers } from '@dqa/quantizers';
import { describe, expect, it } from 'vitest';
import { pow2 } from '../src/pow2.js';

// The third-party plugin joins the same registry our own quantizers live in …
quantizers.register(pow2);

describe('a third-party quantizer used through the registry', () => {
  it('is found by id and quantizes to powers of two', () => {
    const p = quantizers.get('pow2');
    // s = 4: levels ±4, ±2, ±1, ±0.5 for 3 bits; 1.3 is nearer 1 than 2 in the log domain.
    expect(Array.from(p.reference(Float32Array.of(4, -3.1, 1.3, 0.6, 0.1, -0.01), 3))).toEqual([
      4, -4, 1, 0.5, 0.5, -0.5,
    ]);
    expect(quantizers.ids()).toContain('pow2');
  });

  it('is accepted by the configuration, with its bit range enforced', () => {
    const base = { model: { name: 'cnn-small' }, data: { name: 'fashion-mnist' } };
    const quantization = {
      weights: {
        relaxation: 'dqa',
        quantizers: [
          { id: 'pow2', bits: 3 },
          { id: 'minmax', bits: 8 },
        ],
      },
    };
    const cfg = parseConfig({ ...base, quantization }, { quantizers });
    expect(cfg.quantization.weights?.quantizers[0]?.id).toBe('pow2');
    const bad = { weights: { relaxation: 'ste', quantizers: [{ id: 'pow2', bits: 1 }] } };
    expect(() => parseConfig({ ...base, quantization: bad }, { quantizers })).toThrow(
      "quantization.weights.quantizers[0].bits: quantizer 'pow2' accepts bits 2–8 (integers), got 1",
    );
  });

  it('trains inside a DQA mixture on a backend', () => {
    const b = createReferenceBackend();
    const cfg = parseConfig(
      {
        model: { name: 'cnn-small' },
        data: { name: 'fashion-mnist' },
        quantization: {
          weights: {
            relaxation: 'dqa',
            quantizers: [
              { id: 'pow2', bits: 3 },
              { id: 'minmax', bits: 8 },
            ],
          },
        },
      },
      { quantizers },
    );
    const rq = createRelaxedQuantizer(b, cfg.quantization.weights!, {
      name: 'dense/weights',
      rank: 2,
      target: 'weights',
      quantizers,
      relaxationConfig: cfg.relaxation,
    });
    const w = b.variable(b.tensor(new Random(1).normalArray(12), [3, 4]), { name: 'dense/kernel' });
    const step = { step: 0, totalSteps: 100, stepsPerEpoch: 10 };
    rq.beforeStep(step);
    const { value, grads } = b.valueAndGrads(
      () => b.add(b.sum(b.square(rq.forward(w, step))), rq.regularizer(step, 12)!),
      [w, ...rq.variables],
    );
    expect(Number.isFinite(b.readSync(value)[0]!)).toBe(true);
    expect(grads).toHaveLength(2);
    expect(Math.max(...Array.from(b.readSync(grads[1]!), Math.abs))).toBeGreaterThan(0);
    const hard = b.readSync(rq.hard(w));
    expect(Array.from(hard)).toEqual(Array.from(pow2.reference(b.readSync(w), 3)));
  });
});

// … and every backend's conformance suite checks it like a built-in.
describeBackendConformance({
  name: 'reference with the pow2 plugin',
  create: createReferenceBackend,
  quantizers,
});
