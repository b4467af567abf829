import {
  type Backend,
  createReferenceBackend,
  DqaError,
  type ForwardContext,
  Random,
  type StepInfo,
  type Tensor,
  type TrainEvent,
  train,
} from '@dqa/core';
import { describe, expect, it } from 'vitest';
import {
  type BuiltModel,
  buildModel,
  buildModelFromSpec,
  builtModelReplica,
  hardWeights,
  SpecBuilder,
} from '../src/architectures/index.js';
import { config, dqaWeights, expectFinite, patches, tinySpec, values } from './arch-helpers.js';

const step: StepInfo = { step: 0, totalSteps: 100, stepsPerEpoch: 10 };
const trainCtx: ForwardContext = { training: true, step, hard: false };
const evalCtx: ForwardContext = { training: false, step, hard: false };

function randomInput(b: Backend, shape: number[], seed = 3): Tensor {
  const n = shape.reduce((a, d) => a * d, 1);
  return b.tensor(new Random(seed).normalArray(n), shape);
}

/** Elementwise toBeCloseTo, with the index in the message. */
function expectClose(actual: readonly number[], expected: readonly number[], digits: number): void {
  expect(actual).toHaveLength(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i], `element ${i}`).toBeCloseTo(expected[i]!, digits);
  }
}

function oneHot(b: Backend, labels: number[], classes: number): Tensor {
  const y = new Float32Array(labels.length * classes);
  labels.forEach((c, i) => {
    y[i * classes + c] = 1;
  });
  return b.tensor(y, [labels.length, classes]);
}

describe('buildModel on the reference backend', () => {
  it('builds a registered architecture from the config, with names, counts and logits', () => {
    const b = createReferenceBackend();
    const model = buildModel(b, config('cnn-small', { seed: 1 }), {
      inputShape: [8, 8, 1],
      classes: 4,
    });
    expect(model.spec.inputShape).toEqual([8, 8, 1]);
    expect(model.variables.map((v) => `${v.name} [${v.shape.join(',')}]`)).toEqual([
      'conv1/kernel [3,3,1,32]',
      'conv1/bias [32]',
      'conv2/kernel [3,3,32,64]',
      'conv2/bias [64]',
      'logits/kernel [256,4]',
      'logits/bias [4]',
    ]);
    expect(model.weightCount).toBe(288 + 32 + 18_432 + 64 + 1_024 + 4);
    expect(model.state).toEqual([]);
    expect(model.quantizers).toEqual([]);
    const logits = model.forward(randomInput(b, [5, 8, 8, 1]), evalCtx);
    expect(logits.shape).toEqual([5, 4]);
    expectFinite(b.readSync(logits), 'logits');
    model.dispose();
    model.dispose();
    expect(() => model.forward(randomInput(b, [1, 8, 8, 1]), evalCtx)).toThrow(/has been disposed/);
  });

  it('runs every op forward in training and evaluation, and checks the input shape', () => {
    const b = createReferenceBackend();
    const model = buildModelFromSpec(b, tinySpec(), config('tiny'));
    const x = randomInput(b, [4, 6, 6, 2]);
    expect(model.forward(x, trainCtx).shape).toEqual([4, 3]);
    expect(model.forward(x, evalCtx).shape).toEqual([4, 3]);
    expect(model.state.map((v) => v.name)).toEqual(['bn1/moving_mean', 'bn1/moving_variance']);
    expect(() => model.forward(randomInput(b, [4, 6, 6, 1]), evalCtx)).toThrow(
      "model 'tiny': input must be [batch, 6, 6, 2] (NHWC), got [4, 6, 6, 1]",
    );
    expect(() => model.parameter('conv1/weights')).toThrow(
      /model 'tiny': no variable 'conv1\/weights'/,
    );
  });

  it('gradients of every variable match central finite differences (float model, BN in training)', () => {
    const b = createReferenceBackend();
    const model = buildModelFromSpec(b, tinySpec(), config('tiny', { seed: 5 }));
    const x = randomInput(b, [3, 6, 6, 2], 11);
    const y = oneHot(b, [0, 2, 1], 3);
    const loss = () => b.softmaxCrossEntropy(model.forward(x, trainCtx), y);
    const { grads } = b.valueAndGrads(loss, model.variables);
    const rng = new Random(1);
    const h = 1e-3;
    let checked = 0;
    model.variables.forEach((v, i) => {
      const g = b.readSync(grads[i]!);
      const base = b.readSync(v);
      for (const j of [0, rng.int(v.size), v.size - 1]) {
        const at = (delta: number) => {
          const w = Float32Array.from(base);
          w[j]! += delta;
          b.tidy(() => v.assign(b.tensor(w, v.shape)));
          return b.tidy(() => b.readSync(loss())[0]!);
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        b.tidy(() => v.assign(b.tensor(base, v.shape)));
        expect(Math.abs(g[j]! - numeric), `${v.name}[${j}]: ${g[j]} vs ${numeric}`).toBeLessThan(
          2e-3 + 2e-2 * Math.abs(numeric),
        );
        checked++;
      }
    });
    expect(checked).toBe(3 * model.variables.length);
    expect(model.variables.length).toBe(9);
  });

  it("DQA's attention α gets the gradient of its softmax mixture", () => {
    const b = createReferenceBackend();
    const cfg = config('tiny', {
      seed: 2,
      quantization: { weights: dqaWeights, quantizeFirstLayer: true, quantizeLastLayer: true },
      relaxation: { dqa: { temperature: { t0: 1, tEnd: 0.5 }, lambda: 0 } },
    });
    const model = buildModelFromSpec(b, tinySpec(), cfg);
    const alpha = model.variables.find((v) => v.name === 'conv2/weights/dqa_alpha')!;
    expect(alpha.shape).toEqual([3]);
    const x = randomInput(b, [3, 6, 6, 2], 12);
    const y = oneHot(b, [1, 0, 2], 3);
    const loss = () => b.softmaxCrossEntropy(model.forward(x, trainCtx), y);
    const i = model.variables.indexOf(alpha);
    const g = b.readSync(b.valueAndGrads(loss, model.variables).grads[i]!);
    const base = b.readSync(alpha);
    for (let k = 0; k < 3; k++) {
      const at = (delta: number) => {
        const w = Float32Array.from(base);
        w[k]! += delta;
        b.tidy(() => alpha.assign(b.tensor(w, [3])));
        return b.tidy(() => b.readSync(loss())[0]!);
      };
      const numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
      expect(Math.abs(g[k]! - numeric)).toBeLessThan(1e-3 + 2e-2 * Math.abs(numeric));
    }
    expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(1e-4);
  });

  it('batch norm: training uses batch statistics and moves the moving ones; evaluation uses them', () => {
    const b = createReferenceBackend();
    const g = new SpecBuilder('bn', [2, 2, 2], 2);
    g.dense('logits', g.flatten('flatten', g.batchNorm('bn', g.input, { momentum: 0.9 })), {
      units: 2,
      useBias: false,
    });
    const model = buildModelFromSpec(b, g.build(), config('bn'));
    const xs = new Random(4).normalArray(3 * 8, 1, 2); // batch 3, 2×2×2
    const x = b.tensor(xs, [3, 2, 2, 2]);
    // Per-channel statistics over the batch and the pixels (n = 12 values per channel).
    const stats = [0, 1].map((c) => {
      const v = Array.from(xs).filter((_, i) => i % 2 === c);
      const mean = v.reduce((a, s) => a + s, 0) / v.length;
      const variance = v.reduce((a, s) => a + (s - mean) ** 2, 0) / v.length;
      return { mean, variance, unbiased: (variance * v.length) / (v.length - 1) };
    });
    const gamma = model.parameter('bn/gamma');
    const beta = model.parameter('bn/beta');
    b.tidy(() => gamma.assign(b.tensor([2, 0.5], [2])));
    b.tidy(() => beta.assign(b.tensor([0.1, -0.3], [2])));
    const kernel = values(b, model.parameter('logits/kernel'));
    const expected = (mean: number[], variance: number[]) => {
      const out: number[] = [];
      for (let n = 0; n < 3; n++) {
        const h = Array.from({ length: 8 }, (_, i) => {
          const c = i % 2;
          return (
            ((xs[n * 8 + i]! - mean[c]!) / Math.sqrt(variance[c]! + 1e-5)) * [2, 0.5][c]! +
            [0.1, -0.3][c]!
          );
        });
        for (let u = 0; u < 2; u++) out.push(h.reduce((a, v, i) => a + v * kernel[i * 2 + u]!, 0));
      }
      return out;
    };
    const trained = values(b, model.forward(x, trainCtx));
    expectClose(
      trained,
      expected(
        stats.map((s) => s.mean),
        stats.map((s) => s.variance),
      ),
      4,
    );
    const movingMean = stats.map((s) => 0.1 * s.mean);
    const movingVariance = stats.map((s) => 0.9 + 0.1 * s.unbiased);
    expectClose(values(b, model.parameter('bn/moving_mean')), movingMean, 5);
    expectClose(values(b, model.parameter('bn/moving_variance')), movingVariance, 5);
    // Evaluation normalises with the moving statistics and leaves them alone.
    const evaluated = values(b, model.forward(x, evalCtx));
    expectClose(evaluated, expected(movingMean, movingVariance), 4);
    expectClose(values(b, model.parameter('bn/moving_mean')), movingMean, 5);
    // A second training pass moves them again; no gradient reaches the state.
    const { grads } = b.valueAndGrads(
      () => b.mean(model.forward(x, trainCtx)),
      [...model.variables, ...model.state],
    );
    expectClose(
      values(b, model.parameter('bn/moving_mean')),
      movingMean.map((m, c) => 0.9 * m + 0.1 * stats[c]!.mean),
      5,
    );
    expect(values(b, grads.at(-1)!)).toEqual([0, 0]);
    expect(values(b, grads.at(-2)!)).toEqual([0, 0]);
  });
});

describe('quantization plan', () => {
  it('keeps the first and last layers in float by default and applies overrides in order', () => {
    const b = createReferenceBackend();
    const cfg = config('resnet20', {
      quantization: {
        weights: dqaWeights,
        activations: { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 2 }] },
        overrides: [
          { layers: 'stage3.*', weights: null },
          {
            layers: ['stage3.block3.conv2', 'logits'],
            weights: { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 4 }] },
          },
        ],
      },
    });
    const model = buildModel(b, cfg);
    const plan = new Map(model.plan.map((p) => [p.name, p]));
    expect(model.plan).toHaveLength(22);
    expect(plan.get('stem.conv')).toMatchObject({
      isFirst: true,
      isLast: false,
      weights: null,
      activations: null,
    });
    expect(plan.get('stage1.block1.conv1')!.weights?.relaxation).toBe('dqa');
    expect(plan.get('stage1.block1.conv1')!.activations?.quantizers[0]?.id).toBe('pact');
    expect(plan.get('stage2.block1.shortcut.conv')!.weights?.relaxation).toBe('dqa');
    expect(plan.get('stage3.block1.conv1')!.weights).toBeNull();
    expect(plan.get('stage3.block1.conv1')!.activations?.relaxation).toBe('ste');
    expect(plan.get('stage3.block3.conv2')!.weights?.quantizers).toEqual([
      { id: 'minmax', bits: 4, granularity: 'tensor', channelAxis: -1 },
    ]);
    // The last layer is float by default; an override names it explicitly.
    expect(plan.get('logits')).toMatchObject({ isLast: true, activations: null });
    expect(plan.get('logits')!.weights?.relaxation).toBe('ste');

    // Relaxed quantizers: DQA on 13 layers' weights (stages 1–2 minus the stem), STE on 2, PACT on 20 inputs.
    const names = model.quantizers.map((q) => q.name);
    expect(names.filter((n) => n.endsWith('/weights'))).toHaveLength(15);
    expect(names.filter((n) => n.endsWith('/inputs'))).toHaveLength(20);
    const alpha = model.variables.filter((v) => v.name.endsWith('/dqa_alpha'));
    expect(alpha.map((v) => v.name).slice(0, 2)).toEqual([
      'stage1.block1.conv1/weights/dqa_alpha',
      'stage1.block1.conv2/weights/dqa_alpha',
    ]);
    expect(alpha).toHaveLength(13);
    expect(model.variables.map((v) => v.name)).toContain('stage1.block1.conv1/inputs/pact2/alpha');
    // Weight decay reaches the layers' weights only, never α or PACT's clip level.
    expect(model.decayVariables.some((v) => v.name.includes('alpha'))).toBe(false);
    expect(model.decayVariables).toHaveLength(model.variables.length - 13 - 20);
    // S of eq. 6 is the float network's parameter count.
    expect(model.weightCount).toBe(272_474);
    // dispose() releases every variable: layers, batch-norm state, α and PACT's clip levels.
    expect(b.memory!().numTensors).toBe(model.variables.length + model.state.length);
    model.dispose();
    expect(b.memory!().numTensors).toBe(0);
  });

  it('quantizes the first and last layers when the config says so', () => {
    const b = createReferenceBackend();
    const model = buildModelFromSpec(
      b,
      tinySpec(),
      config('tiny', {
        quantization: { weights: dqaWeights, quantizeFirstLayer: true, quantizeLastLayer: true },
      }),
    );
    expect(model.plan.map((p) => [p.name, p.isFirst, p.isLast, p.weights?.relaxation])).toEqual([
      ['conv1', true, false, 'dqa'],
      ['conv2', false, false, 'dqa'],
      ['dw', false, false, 'dqa'],
      ['logits', false, true, 'dqa'],
    ]);
  });

  it('per-channel quantizers use the output-channel axis, C for depthwise kernels', () => {
    const b = createReferenceBackend();
    const model = buildModelFromSpec(
      b,
      tinySpec(),
      config('tiny', {
        quantization: {
          weights: {
            relaxation: 'ste',
            quantizers: [{ id: 'minmax', bits: 2, granularity: 'channel' }],
          },
          quantizeFirstLayer: true,
        },
      }),
    );
    const axis = (name: string) =>
      model.layers.find((l) => l.node.name === name)!.weightQuantizer!.quantizers[0]!.channelAxis;
    expect([axis('conv1'), axis('conv2'), axis('dw')]).toEqual([3, 3, 2]);
    expect(model.layers.find((l) => l.node.name === 'logits')!.weightQuantizer).toBeNull();
    expect(model.forward(randomInput(b, [2, 6, 6, 2]), trainCtx).shape).toEqual([2, 3]);
  });

  it('refuses an override pattern that matches no layer, listing the layers', () => {
    const b = createReferenceBackend();
    const cfg = config('tiny', {
      quantization: {
        weights: dqaWeights,
        overrides: [{ layers: ['conv1', 'block1.*'], weights: null }],
      },
    });
    const before = b.memory!().numTensors;
    let error: unknown;
    try {
      buildModelFromSpec(b, tinySpec(), cfg);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DqaError);
    expect((error as Error).message).toBe(
      "model 'tiny': quantization.overrides[0].layers: pattern 'block1.*' matches no quantizable layer ('*' matches any run of characters); layers: conv1, conv2, dw, logits",
    );
    expect(b.memory!().numTensors).toBe(before);
  });
});

describe('initialisation and hard weights', () => {
  it('is deterministic in config.seed: He normal convs, Glorot uniform dense, γ = 1, β = 0', () => {
    const read = (seed: number) => {
      const b = createReferenceBackend();
      const m = buildModel(b, config('resnet20', { seed }));
      return new Map([...m.variables, ...m.state].map((v) => [v.name, b.readSync(v)]));
    };
    const a = read(42);
    const again = read(42);
    const other = read(43);
    expect([...a.keys()]).toEqual([...again.keys()]);
    for (const [name, v] of a) expect(again.get(name), name).toEqual(v);
    expect(other.get('stem.conv/kernel')).not.toEqual(a.get('stem.conv/kernel'));

    const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    // stage3 convs: fan_in = 3·3·64, std √(2/576); 36,864 samples.
    expect(std(a.get('stage3.block2.conv1/kernel')!) / Math.sqrt(2 / 576)).toBeCloseTo(1, 1);
    const dense = a.get('logits/kernel')!;
    const limit = Math.sqrt(6 / (64 + 10));
    expect(Math.max(...dense)).toBeLessThanOrEqual(limit);
    expect(Math.min(...dense)).toBeGreaterThanOrEqual(-limit);
    expect(std(dense) / (limit / Math.sqrt(3))).toBeCloseTo(1, 0);
    expect([...a.get('stage1.block1.bn1/gamma')!]).toEqual(new Array(16).fill(1));
    expect([...a.get('stage1.block1.bn1/beta')!]).toEqual(new Array(16).fill(0));
    expect([...a.get('stage1.block1.bn1/moving_variance')!]).toEqual(new Array(16).fill(1));
    expect([...a.get('logits/bias')!]).toEqual(new Array(10).fill(0));
  });

  it('ctx.hard collapses every quantizer to Q_1; hardWeights exports Q_1(w)', async () => {
    const b = createReferenceBackend();
    const q = { quantizeFirstLayer: true, quantizeLastLayer: true };
    const dqa = buildModelFromSpec(
      b,
      tinySpec(),
      config('tiny', { seed: 9, quantization: { weights: dqaWeights, ...q } }),
      { scope: 'dqa' },
    );
    const ste = buildModelFromSpec(
      b,
      tinySpec(),
      config('tiny', {
        seed: 9,
        quantization: {
          weights: { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] },
          ...q,
        },
      }),
      { scope: 'ste' },
    );
    expect(dqa.variables[0]!.name).toBe('dqa/conv1/kernel');
    const x = randomInput(b, [2, 6, 6, 2]);
    const hard = { ...evalCtx, hard: true };
    // DQA's hard model is its 2-bit min-max Q_1: exactly the 2-bit STE model with the same weights.
    expect(values(b, dqa.forward(x, hard))).toEqual(values(b, ste.forward(x, evalCtx)));
    expect(values(b, dqa.forward(x, evalCtx))).not.toEqual(values(b, dqa.forward(x, hard)));

    const exported = await hardWeights(b, dqa);
    expect(
      exported.map((l) => [l.name, l.op, l.quantized, Object.keys(l.weights).join(',')]),
    ).toEqual([
      ['conv1', 'conv2d', true, 'kernel,bias'],
      ['bn1', 'batchNorm', false, 'gamma,beta,movingMean,movingVariance'],
      ['conv2', 'conv2d', true, 'kernel'],
      ['dw', 'depthwiseConv2d', true, 'kernel,bias'],
      ['logits', 'dense', true, 'kernel,bias'],
    ]);
    for (const layer of exported.filter((l) => l.quantized)) {
      const k = layer.weights.kernel!;
      expect(new Set(k.values).size, layer.name).toBeLessThanOrEqual(4);
      expect(k.values.length).toBe(k.shape.reduce((a, d) => a * d, 1));
    }
    expect(exported[0]!.weights.kernel!.shape).toEqual([3, 3, 2, 4]);
    expect(Array.from(exported[1]!.weights.gamma!.values)).toEqual([1, 1, 1, 1]);
  });
});

describe('trainer hooks', () => {
  it("quantizationFunctions samples each quantized layer's q(w) (Fig. 3b)", () => {
    const b = createReferenceBackend();
    const cfg = config('tiny', {
      quantization: { weights: { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] } },
    });
    const model = buildModelFromSpec(b, tinySpec(), cfg);
    const functions = model.quantizationFunctions(step, 9);
    // First and last layers are float by default: only conv2 and dw have a quantization function.
    expect(functions.map((f) => f.layer)).toEqual(['conv2', 'dw']);
    for (const f of functions) {
      const kernel = Array.from(b.readSync(model.parameter(`${f.layer}/kernel`)));
      expect(f.w).toHaveLength(9);
      expect(f.w[0]).toBe(Math.min(...kernel));
      expect(f.w[8]).toBe(Math.max(...kernel));
      for (let i = 1; i < 9; i++) {
        expect(f.w[i]).toBeGreaterThanOrEqual(f.w[i - 1]!);
        expect(f.q[i]).toBeGreaterThanOrEqual(f.q[i - 1]!);
      }
      expect(new Set(f.q).size).toBeLessThanOrEqual(4);
    }
  });

  it('carries a replica recipe that rebuilds the same variables in a worker', () => {
    const b = createReferenceBackend();
    const cfg = config('resnet20', { quantization: { weights: dqaWeights } });
    const model = buildModel(b, cfg, { scope: 'main', classes: 100 });
    expect(model.replica.module).toMatch(/\/packages\/models\/dist\/index\.js$/);
    expect(model.replica.export).toBe('builtModelReplica');
    // Workers receive the arguments by structured clone.
    const args = structuredClone(model.replica.args) as Parameters<typeof builtModelReplica>[1];
    const replica = builtModelReplica(createReferenceBackend(), args);
    const summary = (m: BuiltModel) => [
      m.variables.map((v) => `${v.name} ${v.shape.join('x')}`),
      m.state.map((v) => v.name),
      m.quantizers.map((q) => q.name),
      m.weightCount,
    ];
    expect(summary(replica)).toEqual(summary(model));
    expect(replica.variables[0]!.name).toBe('main/stem.conv/kernel');
    expect(replica.spec.classes).toBe(100);
  });
});

describe('training', () => {
  it('train() lowers the loss of a DQA-quantized conv+BN model and the hard 2-bit model classifies well', async () => {
    const b = createReferenceBackend();
    const g = new SpecBuilder('patches', [6, 6, 1], 3);
    let h = g.conv2d('conv', g.input, { filters: 4, kernelSize: 3, useBias: false });
    h = g.relu('relu', g.batchNorm('bn', h));
    g.dense('logits', g.flatten('flatten', g.maxPool('pool', h, { pool: 2 })), { units: 3 });
    const cfg = config('patches', {
      seed: 3,
      quantization: { weights: dqaWeights, quantizeFirstLayer: true, quantizeLastLayer: true },
    });
    const model: BuiltModel = buildModelFromSpec(b, g.build(), cfg);
    const events: TrainEvent[] = [];
    const result = await train(b, model, patches(b), {
      epochs: 5,
      learningRate: { kind: 'constant', initial: 0.05 },
      optimizer: { momentum: 0.9, weightDecay: 1e-4, nesterov: false },
      onEvent: (e) => events.push(e),
    });
    const epochs = events.flatMap((e) => (e.type === 'epoch' ? [e] : []));
    // DQA's attention ended on Q_1 (2 bit) in every layer: the hard model is what was trained.
    const last = events
      .flatMap((e) => (e.type === 'step' && e.attention ? [e.attention] : []))
      .at(-1)!;
    expect(last.map((a) => a.name)).toEqual(['conv/weights', 'logits/weights']);
    for (const a of last) expect(a.a[0]).toBeGreaterThan(0.9);
    expect(epochs).toHaveLength(5);
    expect(epochs.at(-1)!.trainLoss).toBeLessThan(0.5 * epochs[0]!.trainLoss);
    expect(result.relaxedAccuracy).toBeGreaterThan(0.9);
    expect(result.hardAccuracy).toBeGreaterThan(0.9);
    // The checkpoint holds the batch-norm state beside the variables.
    expect(Object.keys(result.checkpoint.variables)).toContain('bn/moving_variance');
    expect(result.checkpoint.variables['bn/moving_mean']!.values.some((v) => v !== 0)).toBe(true);
  });
});
