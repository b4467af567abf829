/**
 * One training step (forward, tf.variableGrads, SGD update) on tfjs' `wasm` and `cpu` backends,
 * with the stock kernels and with ours; median of several steps; prints a table, writes JSON.
 *
 *   npx vitest run --config scripts/vitest.measure.config.ts
 *
 * Models (MEASURE_MODEL): `small-cnn` (default), the issue's CNN — conv3x3 1→32, ReLU, maxpool,
 * conv3x3 32→64, ReLU, maxpool, dense 3136→10, softmax cross-entropy — at batch 64 on 28×28×1;
 * `resnet20`, ResNet-20 for CIFAR (3 stages of 3 basic blocks, 16/32/64 channels, batch norm
 * from batch statistics, 1×1 projection shortcuts, global average pooling) at batch 128 on
 * 32×32×3.
 *
 * Environment: MEASURE_MODEL, MEASURE_BATCH (64 / 128), MEASURE_RUNS (10: timed steps per cell,
 * after 2 warm-up steps), MEASURE_STOCK_CPU_RUNS (1: stock cpu takes ~30 s a step of the small
 * CNN, minutes of ResNet-20; 0 skips it), MEASURE_PROFILE (1: also print the time per kernel),
 * MEASURE_OUT (JSON path, default runs/tfjs-kernels/measure-kernels-<model>.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { test } from 'vitest';
import {
  registerTrainingKernels,
  trainingKernels,
  unregisterTrainingKernels,
} from '../src/kernels/index.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const MODEL = process.env.MEASURE_MODEL ?? 'small-cnn';
const RUNS = env('MEASURE_RUNS', 10);
const STOCK_CPU_RUNS = env('MEASURE_STOCK_CPU_RUNS', 1);
const PROFILE = env('MEASURE_PROFILE', 0) === 1;
const OUT =
  process.env.MEASURE_OUT ??
  resolve(__dirname, `../../../runs/tfjs-kernels/measure-kernels-${MODEL}.json`);

/** A model as its trainable variables and its loss on a batch. */
interface Model {
  description: string;
  inputShape: [number, number, number];
  batch: number;
  vars: tf.Variable[];
  loss(x: tf.Tensor4D, y: tf.Tensor2D): tf.Scalar;
}

function variables() {
  let seed = 1;
  const id = Math.random().toString(36).slice(2);
  const vars: tf.Variable[] = [];
  const make = (t: tf.Tensor) => {
    const v = tf.variable(t, true, `${id}/${vars.length}`);
    vars.push(v);
    return v;
  };
  return {
    vars,
    normal: (shape: number[], std: number) =>
      make(tf.randomNormal(shape, 0, std, 'float32', seed++)),
    zeros: (shape: number[]) => make(tf.zeros(shape)),
    ones: (shape: number[]) => make(tf.ones(shape)),
  };
}

function smallCnn(): Model {
  const v = variables();
  const w1 = v.normal([3, 3, 1, 32], 0.3) as tf.Variable<tf.Rank.R4>;
  const b1 = v.zeros([32]);
  const w2 = v.normal([3, 3, 32, 64], 0.06) as tf.Variable<tf.Rank.R4>;
  const b2 = v.zeros([64]);
  const w3 = v.normal([3136, 10], 0.02) as tf.Variable<tf.Rank.R2>;
  const b3 = v.zeros([10]);
  return {
    description:
      'small CNN (conv3x3 1→32, ReLU, maxpool, conv3x3 32→64, ReLU, maxpool, dense 3136→10)',
    inputShape: [28, 28, 1],
    batch: env('MEASURE_BATCH', 64),
    vars: v.vars,
    loss: (x, y) => {
      let h = tf.relu(tf.add(tf.conv2d(x, w1, 1, 'same'), b1)) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid');
      h = tf.relu(tf.add(tf.conv2d(h, w2, 1, 'same'), b2)) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid');
      const logits = tf.add(tf.matMul(tf.reshape(h, [h.shape[0], -1]), w3), b3);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    },
  };
}

function resnet20(): Model {
  const v = variables();
  const conv = (cin: number, cout: number, k: number) =>
    v.normal([k, k, cin, cout], Math.sqrt(2 / (k * k * cin))) as tf.Variable<tf.Rank.R4>;
  const norm = (c: number) => ({ gamma: v.ones([c]), beta: v.zeros([c]) });
  const bn = (x: tf.Tensor4D, p: { gamma: tf.Variable; beta: tf.Variable }) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.add(
      tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), p.gamma),
      p.beta,
    ) as tf.Tensor4D;
  };
  const stem = { w: conv(3, 16, 3), n: norm(16) };
  const blocks: {
    stride: number;
    w1: tf.Variable<tf.Rank.R4>;
    n1: ReturnType<typeof norm>;
    w2: tf.Variable<tf.Rank.R4>;
    n2: ReturnType<typeof norm>;
    shortcut?: { w: tf.Variable<tf.Rank.R4>; n: ReturnType<typeof norm> };
  }[] = [];
  let cin = 16;
  for (const [cout, firstStride] of [
    [16, 1],
    [32, 2],
    [64, 2],
  ] as const) {
    for (let i = 0; i < 3; i++) {
      const stride = i === 0 ? firstStride : 1;
      blocks.push({
        stride,
        w1: conv(cin, cout, 3),
        n1: norm(cout),
        w2: conv(cout, cout, 3),
        n2: norm(cout),
        shortcut:
          stride !== 1 || cin !== cout ? { w: conv(cin, cout, 1), n: norm(cout) } : undefined,
      });
      cin = cout;
    }
  }
  const dense = v.normal([64, 10], 0.1) as tf.Variable<tf.Rank.R2>;
  const denseBias = v.zeros([10]);
  return {
    description:
      'ResNet-20 (CIFAR: 3×3 basic blocks 16/32/64, batch norm, 1×1 projection shortcuts)',
    inputShape: [32, 32, 3],
    batch: env('MEASURE_BATCH', 128),
    vars: v.vars,
    loss: (x, y) => {
      let h = tf.relu(bn(tf.conv2d(x, stem.w, 1, 'same'), stem.n)) as tf.Tensor4D;
      for (const b of blocks) {
        let r = tf.relu(bn(tf.conv2d(h, b.w1, b.stride, 'same'), b.n1)) as tf.Tensor4D;
        r = bn(tf.conv2d(r, b.w2, 1, 'same'), b.n2);
        const s = b.shortcut ? bn(tf.conv2d(h, b.shortcut.w, b.stride, 'same'), b.shortcut.n) : h;
        h = tf.relu(tf.add(r, s)) as tf.Tensor4D;
      }
      const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, dense), denseBias);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    },
  };
}

function step(model: Model, x: tf.Tensor4D, y: tf.Tensor2D, lr = 0.01): number {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => model.loss(x, y), model.vars);
    for (const v of model.vars) v.assign(tf.sub(v, tf.mul(grads[v.name]!, lr)));
    return value.dataSync()[0]!;
  });
}

const kernelTimes = new Map<string, number>();
function profileKernels(backendName: string): () => void {
  const stack: number[] = [];
  const restore: (() => void)[] = [];
  for (const k of tf.getKernelsForBackend(backendName)) {
    const f = k.kernelFunc;
    k.kernelFunc = (args) => {
      stack.push(0);
      const t0 = performance.now();
      const r = f(args);
      const dt = performance.now() - t0;
      const children = stack.pop()!;
      if (stack.length > 0) stack[stack.length - 1]! += dt;
      kernelTimes.set(k.kernelName, (kernelTimes.get(k.kernelName) ?? 0) + dt - children);
      return r;
    };
    restore.push(() => {
      k.kernelFunc = f;
    });
  }
  return () => {
    for (const r of restore) r();
  };
}

/**
 * `stock`: tfjs' kernels only; `added`: plus ours where the backend has none (wasm's three conv
 * gradients), its own kernels elsewhere; `dqa`: every kernel of `trainingKernels`.
 */
type Variant = 'stock' | 'added' | 'dqa';

interface Cell {
  backend: 'wasm' | 'cpu';
  kernels: Variant;
  medianMs: number | null;
  runsMs: number[];
  error?: string;
  profileMs?: Record<string, number>;
}

const build = (): Model => (MODEL === 'resnet20' ? resnet20() : smallCnn());

async function measure(backend: 'wasm' | 'cpu', kernels: Variant, runs: number): Promise<Cell> {
  await tf.setBackend(backend);
  unregisterTrainingKernels([backend]);
  if (kernels === 'dqa') registerTrainingKernels([backend]);
  if (kernels === 'added') {
    // Only the kernels the backend lacks; its own kernels everywhere else.
    for (const k of trainingKernels) {
      if (k.mode === 'add' && k.config.backendName === backend) tf.registerKernel(k.config);
    }
  }
  const model = build();
  const x = tf.randomUniform([model.batch, ...model.inputShape], 0, 1, 'float32', 7) as tf.Tensor4D;
  // Labels made as float32 (a cast from int32 on cpu would keep an Int32Array, see the tests).
  const y = tf.tensor2d(
    Array.from({ length: model.batch }, (_, i) =>
      Array.from({ length: 10 }, (_, c) => (c === (i * 7) % 10 ? 1 : 0)),
    ),
  );
  const cell: Cell = { backend, kernels, medianMs: null, runsMs: [] };
  try {
    const warmup = runs > 1 ? 2 : 0;
    for (let i = 0; i < warmup; i++) step(model, x, y);
    const unprofile = PROFILE ? profileKernels(backend) : () => {};
    kernelTimes.clear();
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      step(model, x, y);
      cell.runsMs.push(performance.now() - t0);
    }
    unprofile();
    const sorted = [...cell.runsMs].sort((a, b) => a - b);
    cell.medianMs = sorted[Math.floor(sorted.length / 2)]!;
    if (PROFILE) {
      cell.profileMs = Object.fromEntries(
        [...kernelTimes.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 12)
          .map(([k, v]) => [k, Number((v / runs).toFixed(2))]),
      );
    }
  } catch (e) {
    cell.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  tf.dispose([x, y, ...model.vars]);
  if (kernels === 'added') {
    for (const k of trainingKernels) {
      if (k.mode === 'add' && k.config.backendName === backend) {
        tf.unregisterKernel(k.config.kernelName, backend);
      }
    }
  }
  return cell;
}

test(`measure training kernels: ${MODEL}`, async () => {
  await tf.setBackend('wasm');
  const cells: Cell[] = [];
  const fmt = (c: Cell) =>
    c.medianMs === null ? `fails: ${c.error}` : `${c.medianMs.toFixed(1)} ms`;
  for (const backend of ['wasm', 'cpu'] as const) {
    for (const kernels of ['stock', 'added', 'dqa'] as const) {
      if (kernels === 'added' && backend === 'cpu') continue; // cpu lacks none
      const runs = backend === 'cpu' && kernels === 'stock' ? STOCK_CPU_RUNS : RUNS;
      if (runs === 0) continue;
      const c = await measure(backend, kernels, runs);
      cells.push(c);
      console.log(`${backend} ${kernels}: ${fmt(c)} (${c.runsMs.length} runs)`);
      if (c.profileMs) console.log(c.profileMs);
    }
  }
  registerTrainingKernels();
  const model = build();
  tf.dispose(model.vars);
  const rows = ['wasm', 'cpu'].map((b) => {
    const stock = cells.find((c) => c.backend === b && c.kernels === 'stock');
    const added = cells.find((c) => c.backend === b && c.kernels === 'added');
    const dqa = cells.find((c) => c.backend === b && c.kernels === 'dqa');
    const ratio = (base: Cell | undefined) =>
      base?.medianMs && dqa?.medianMs ? `${(base.medianMs / dqa.medianMs).toFixed(1)}×` : undefined;
    const speedup = ratio(stock) ?? (ratio(added) ? `${ratio(added)} over + missing only` : '—');
    return `| ${b.padEnd(7)} | ${stock ? fmt(stock) : 'skipped'} | ${added ? fmt(added) : '—'} | ${dqa ? fmt(dqa) : '—'} | ${speedup} |`;
  });
  console.log(
    [
      `${model.description}: training step, batch ${model.batch}, median (tfjs ${tf.version_core}, Node ${process.version})`,
      '| backend | stock kernels | + missing kernels only | all @dqa/tfjs kernels | speed-up |',
      '|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    JSON.stringify(
      {
        model: model.description,
        batch: model.batch,
        tfjs: tf.version_core,
        node: process.version,
        registered: trainingKernels.map((k) => ({
          kernel: k.config.kernelName,
          backend: k.config.backendName,
          mode: k.mode,
        })),
        cells,
      },
      null,
      2,
    ),
  );
  console.log(`wrote ${OUT}`);
});
