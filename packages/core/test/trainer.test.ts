import { describe, expect, it } from 'vitest';
import {
  type Backend,
  type Checkpoint,
  createReferenceBackend,
  createRelaxedQuantizer,
  learningRate,
  parameterBounds,
  parseConfig,
  Sgd,
  type TrainableModel,
  type TrainEvent,
  train,
} from '../src/index.js';
import { blobs } from './blobs.js';
import { fakeQuantizers } from './fake-plugins.js';
import { quantizedMlp } from './mlp.js';
import { expectResumeBitForBit } from './resume.js';

const quantizers = fakeQuantizers();

/** The test MLP with both weight matrices through DQA 2/4/8-bit (fake min-max). */
function mlp(b: Backend, seed: number, lambda = 1): TrainableModel {
  const cfg = parseConfig(
    {
      model: { name: 'mlp' },
      data: { name: 'blobs' },
      quantization: {
        weights: {
          relaxation: 'dqa',
          quantizers: [
            { id: 'minmax', bits: 2 },
            { id: 'minmax', bits: 4 },
            { id: 'minmax', bits: 8 },
          ],
        },
      },
      relaxation: { dqa: { lambda } },
    },
    { quantizers },
  );
  return quantizedMlp(b, seed, cfg, quantizers);
}

const options = {
  learningRate: { kind: 'step' as const, initial: 0.1 },
  optimizer: { momentum: 0.9, weightDecay: 1e-4, nesterov: false },
};

describe('Sgd', () => {
  it('momentum and weight decay follow PyTorch: v ← μv + g + λw, w ← w − lr·v', () => {
    const b = createReferenceBackend();
    const w = b.tidy(() => b.variable(b.tensor([1, -2], [2]), { name: 'w' }));
    const u = b.tidy(() => b.variable(b.tensor([3], [1]), { name: 'u' }));
    const sgd = new Sgd(b, [w, u], { momentum: 0.5, weightDecay: 0.1, nesterov: false }, [w]);
    const g = () => [b.tensor([1, 1], [2]), b.tensor([2], [1])];
    sgd.apply(g(), 0.1);
    // w: g + 0.1·w = [1.1, 0.8]; v = that; w ← [1 − 0.11, −2 − 0.08]. u: not decayed, v = 2, u ← 2.8.
    expect(Array.from(b.readSync(w)).map((x) => +x.toFixed(6))).toEqual([0.89, -2.08]);
    expect(b.readSync(u)[0]).toBeCloseTo(2.8, 6);
    sgd.apply(g(), 0.1);
    // u: v = 0.5·2 + 2 = 3 → u = 2.8 − 0.3 = 2.5.
    expect(b.readSync(u)[0]).toBeCloseTo(2.5, 6);
    expect(() => new Sgd(b, [w], { momentum: 1, weightDecay: 0, nesterov: false })).toThrow(
      /momentum must be in \[0, 1\)/,
    );
  });

  it('Nesterov uses g + μ·v as the step direction', () => {
    const b = createReferenceBackend();
    const w = b.tidy(() => b.variable(b.tensor([0], [1]), { name: 'w' }));
    const sgd = new Sgd(b, [w], { momentum: 0.9, weightDecay: 0, nesterov: true });
    sgd.apply([b.tensor([1], [1])], 1);
    // v = 1; direction = 1 + 0.9 = 1.9.
    expect(b.readSync(w)[0]).toBeCloseTo(-1.9, 6);
  });
});

describe('bounded parameters', () => {
  it('Sgd projects a bounded variable back onto its bound after the update, momentum kept', () => {
    const b = createReferenceBackend();
    const w = b.tidy(() => b.variable(b.tensor([0.5, 3], [2]), { name: 'w' }));
    const u = b.tidy(() => b.variable(b.tensor([0.5], [1]), { name: 'u' }));
    const sgd = new Sgd(
      b,
      [w, u],
      { momentum: 0.5, weightDecay: 0, nesterov: false },
      [],
      new Map([[w, 0.25]]),
    );
    sgd.apply([b.tensor([1, 1], [2]), b.tensor([1], [1])], 1);
    // w − 1·g = [−0.5, 2] → [0.25, 2]; u is unbounded: −0.5.
    expect(Array.from(b.readSync(w))).toEqual([0.25, 2]);
    expect(b.readSync(u)[0]).toBe(-0.5);
    // The velocity (1, not the projected step) carries on: w ← max(0.25 − 1.5, 0.25), 2 − 1.5.
    sgd.apply([b.tensor([1, 1], [2]), b.tensor([1], [1])], 1);
    expect(Array.from(b.readSync(w))).toEqual([0.25, 0.5]);
    expect(
      () =>
        new Sgd(b, [u], { momentum: 0, weightDecay: 0, nesterov: false }, [], new Map([[w, 0]])),
    ).toThrow(/bounded variable 'w' is not among the optimised ones/);
    expect(
      () =>
        new Sgd(
          b,
          [w],
          { momentum: 0, weightDecay: 0, nesterov: false },
          [],
          new Map([[w, Number.NaN]]),
        ),
    ).toThrow(/lower bound of 'w' must be finite, got NaN/);
  });

  it('train keeps a plugin parameter at or above its min (PACT-like clip level driven below 0)', async () => {
    const b = createReferenceBackend();
    const cfg = parseConfig(
      {
        model: { name: 'mlp' },
        data: { name: 'blobs' },
        quantization: {
          activations: { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 2 }] },
        },
      },
      { quantizers },
    );
    const rq = createRelaxedQuantizer(b, cfg.quantization.activations!, {
      name: 'h',
      rank: 2,
      target: 'activations',
      quantizers,
    });
    const bounds = parameterBounds([rq]);
    const alpha = rq.quantizers[0]!.params.alpha!;
    expect([...bounds]).toEqual([[alpha, 1e-3]]);
    // Every input is clipped, so h = α everywhere and the logits are α·(4, 0, 0): the loss pulls α
    // towards 0, and a learning rate of 100 throws it far below 0 in the first step.
    const toClass0 = b.tensor([1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0], [4, 3]);
    const model: TrainableModel = {
      variables: rq.variables,
      decayVariables: [],
      quantizers: [rq],
      weightCount: 1,
      forward: (x, ctx) =>
        b.tidy(() => {
          const big = b.add(b.mul(x, 0), 10);
          const h = ctx.hard ? rq.hard(big) : rq.forward(big, ctx.step);
          return b.matMul(h, toClass0);
        }),
    };
    const seen: number[] = [];
    await train(b, model, blobs(b), {
      ...options,
      epochs: 1,
      learningRate: { kind: 'constant', initial: 100 },
      onEvent: (e) => {
        if (e.type === 'step') seen.push(b.readSync(alpha)[0]!);
      },
    });
    expect(seen.length).toBeGreaterThan(2);
    expect(Math.min(...seen)).toBe(Math.fround(1e-3));
    rq.dispose();
    b.dispose(toClass0);
  });
});

describe('train', async () => {
  it('passes over the test set once per epoch and once for the hard model: the last epoch is the relaxed result', async () => {
    const b = createReferenceBackend();
    const data = blobs(b);
    let passes = 0;
    const counted = {
      ...data,
      testBatches: () => {
        passes++;
        return data.testBatches();
      },
    };
    const events: TrainEvent[] = [];
    const result = await train(b, mlp(b, 3), counted, {
      ...options,
      epochs: 2,
      onEvent: (e) => events.push(e),
    });
    expect(passes).toBe(3);
    const last = events.filter((e) => e.type === 'epoch').at(-1)!;
    expect(last.type === 'epoch' && last.testAccuracy).toBe(result.relaxedAccuracy);
  });

  it('trains a DQA-quantized MLP: loss falls, the relaxed and the hard 2-bit model classify well', async () => {
    const b = createReferenceBackend();
    const events: TrainEvent[] = [];
    const result = await train(b, mlp(b, 1, 5), blobs(b), {
      ...options,
      epochs: 6,
      attentionEvery: 12,
      onEvent: (e) => events.push(e),
    });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(72);
    expect(events[0]).toEqual({
      type: 'start',
      epochs: 6,
      stepsPerEpoch: 12,
      totalSteps: 72,
      startEpoch: 0,
    });
    // The scheduled learning rate (÷10 at 1/3 and 2/3 of training) is what was used.
    for (const e of steps)
      expect(e.lr).toBeCloseTo(learningRate(e.step, 72, options.learningRate), 12);
    const epochs = events.filter((e) => e.type === 'epoch');
    expect(epochs).toHaveLength(6);
    expect(epochs.at(-1)!.trainLoss).toBeLessThan(epochs[0]!.trainLoss);
    expect(result.relaxedAccuracy).toBeGreaterThan(0.9);
    expect(result.hardAccuracy).toBeGreaterThan(0.8);
    // Attention is reported every 12 steps, starting near uniform (T0 = 100) and ending sharp.
    const att = steps.filter((e) => e.attention);
    expect(att).toHaveLength(6);
    expect(att[0]!.attention![0]!.a.every((a) => Math.abs(a - 1 / 3) < 0.02)).toBe(true);
    expect(Math.max(...att.at(-1)!.attention![0]!.a)).toBeGreaterThan(0.9);
    expect(steps.every((e) => e.regularizer > 0)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'end', stopped: false });
  });

  it('resumes from a checkpoint bit for bit', async () => {
    await expectResumeBitForBit((b, seed) => mlp(b, seed), options);
  });

  it('stops between steps when asked, with a checkpoint of exactly there', async () => {
    const b = createReferenceBackend();
    let steps = 0;
    const result = await train(b, mlp(b, 3), blobs(b), {
      ...options,
      epochs: 3,
      onEvent: (e) => {
        if (e.type === 'step') steps++;
      },
      shouldStop: () => steps >= 17,
    });
    expect(result.stopped).toBe(true);
    expect(steps).toBe(17);
    expect(result.checkpoint.epoch).toBe(1);
    expect(result.checkpoint.step).toBe(17);
    expect(result.checkpoint.partial?.batches).toBe(5);
  });

  it('resumes a run stopped mid-epoch bit for bit, skipping the batches it trained', async () => {
    const straight = createReferenceBackend();
    const epochs: TrainEvent[] = [];
    const full = await train(straight, mlp(straight, 8), blobs(straight), {
      ...options,
      epochs: 3,
      onEvent: (e) => {
        if (e.type === 'epoch') epochs.push(e);
      },
    });
    const first = createReferenceBackend();
    let steps = 0;
    const stopped = await train(first, mlp(first, 8), blobs(first), {
      ...options,
      epochs: 3,
      onEvent: (e) => {
        if (e.type === 'step') steps++;
      },
      shouldStop: () => steps >= 17,
    });
    const saved = structuredClone(stopped.checkpoint);
    expect(saved.step).toBe(17);
    const second = createReferenceBackend();
    const resumedEpochs: TrainEvent[] = [];
    const resumed = await train(second, mlp(second, 9), blobs(second), {
      ...options,
      epochs: 3,
      resume: saved,
      onEvent: (e) => {
        if (e.type === 'epoch') resumedEpochs.push(e);
      },
    });
    expect(resumed.checkpoint.variables).toEqual(full.checkpoint.variables);
    expect(resumed.checkpoint.optimizer).toEqual(full.checkpoint.optimizer);
    // The interrupted epoch reports the loss of all its batches, as in the straight run.
    const strip = (e: TrainEvent) => ({ ...e, seconds: 0 });
    expect(resumedEpochs.map(strip)).toEqual(epochs.slice(1).map(strip));
    // A checkpoint that does not fit the data (another batch size) is refused with the reason.
    const third = createReferenceBackend();
    await expect(
      train(third, mlp(third, 9), blobs(third, 40), { ...options, epochs: 3, resume: saved }),
    ).rejects.toThrow(/does not fit 6 batches per epoch/);
  });

  it('refuses a checkpoint whose variables do not fit, naming the variable', async () => {
    const b = createReferenceBackend();
    const model = mlp(b, 4);
    const bad: Checkpoint = {
      epoch: 1,
      step: 12,
      variables: { 'fc1/kernel': { shape: [2, 2], values: [0, 0, 0, 0] } },
      optimizer: { momentum: {} },
    };
    await expect(train(b, model, blobs(b), { ...options, epochs: 2, resume: bad })).rejects.toThrow(
      "resume: variable 'fc1/kernel' has shape [4, 8] but the checkpoint holds [2, 2]",
    );
  });

  it('stops with a clear error when the loss diverges', async () => {
    const b = createReferenceBackend();
    await expect(
      train(b, mlp(b, 5), blobs(b), {
        ...options,
        epochs: 1,
        learningRate: { kind: 'constant', initial: 1e30 },
      }),
    ).rejects.toThrow(
      /the loss became (NaN|Infinity) at step \d+ \(epoch 0\); lower the learning rate/,
    );
  });

  it('leaks no tensors over a run', async () => {
    const b = createReferenceBackend();
    const model = mlp(b, 6);
    const data = blobs(b);
    const before = b.memory!().numTensors;
    await train(b, model, data, { ...options, epochs: 1 });
    expect(b.memory!().numTensors).toBe(before);
  });
});
