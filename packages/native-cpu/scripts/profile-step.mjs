/**
 * Times training steps of a model from @dqa/models on the native-cpu backend and prints where the
 * time goes, per kernel. A step is what `dqa train` does per batch (and the speed benchmark's
 * Trainer cell): the relaxations' per-step hooks, forward + loss + regularizer + gradients
 * (`lossAndGrads`), the SGD-momentum update, reading the loss back.
 *
 *   node scripts/profile-step.mjs [--model cnn-small] [--batch 64] [--steps 30] [--warmup 5]
 *                                 [--variants fp,ste2,dqa248] [--threads N] [--json out.json]
 *
 * Runs on the built packages (`pnpm build` first); from the TypeScript sources instead:
 *   node --import tsx --conditions=@dqa/source scripts/profile-step.mjs
 *
 * Per kernel: the median over the timed steps of its time in a step. "JS" in the table is the step's time outside the kernels: the tape autodiff, the quantizers'
 * plain-array passes (host-memory backends run each quantizer as its reference), the optimizer's
 * bookkeeping and the calls into the addon.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lossAndGrads, parseConfig, Random, Sgd } from '@dqa/core';
import { buildModel } from '@dqa/models';
import { createNativeCpuBackend, nativeCpuAvailable } from '@dqa/native-cpu';
import { quantizers } from '@dqa/quantizers';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'cnn-small' },
    batch: { type: 'string' },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    variants: { type: 'string', default: 'fp,ste2,dqa248' },
    threads: { type: 'string' },
    json: { type: 'string' },
  },
});

const models = {
  'cnn-small': { inputShape: [28, 28, 1], batch: 64, options: {} },
  resnet20: { inputShape: [32, 32, 3], batch: 128, options: {} },
  lenet5: { inputShape: [28, 28, 1], batch: 64, options: {} },
  mobilenetv2: { inputShape: [32, 32, 3], batch: 64, options: { variant: 'cifar', width: 0.5 } },
};
const minmax = (bits) => ({ id: 'minmax', bits });
/** The speed benchmark's variants (packages/bench/src/speed/spec.ts): every layer quantized. */
const variants = {
  fp: { label: 'FP', quantization: { weights: null } },
  ste2: {
    label: 'STE 2-bit',
    quantization: {
      weights: { relaxation: 'ste', quantizers: [minmax(2)] },
      quantizeFirstLayer: true,
      quantizeLastLayer: true,
    },
  },
  dqa248: {
    label: 'DQA 2/4/8',
    quantization: {
      weights: { relaxation: 'dqa', quantizers: [minmax(2), minmax(4), minmax(8)] },
      quantizeFirstLayer: true,
      quantizeLastLayer: true,
    },
    relaxation: { dqa: { lambda: 1 } },
  },
};

const available = nativeCpuAvailable();
if (!available.available) {
  console.error(`native-cpu is unavailable: ${available.reason}\n${available.hint}`);
  process.exit(1);
}
const info = models[args.model];
if (!info) {
  console.error(`unknown --model ${args.model}; one of ${Object.keys(models).join(', ')}`);
  process.exit(1);
}
const batch = Number(args.batch ?? info.batch);
const steps = Number(args.steps);
const warmup = Number(args.warmup);
const threads = args.threads === undefined ? undefined : Number(args.threads);

/** Replaces every kernel of `kernels` by a timed call; returns the totals. */
function instrument(kernels) {
  const totals = new Map();
  for (const [name, fn] of Object.entries(kernels)) {
    if (typeof fn !== 'function' || name === 'setThreads') continue;
    const t = { ms: 0, calls: 0, steps: [] };
    totals.set(name, t);
    kernels[name] = (...a) => {
      const t0 = performance.now();
      try {
        return fn(...a);
      } finally {
        t.ms += performance.now() - t0;
        t.calls++;
      }
    };
  }
  return totals;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const results = [];
for (const id of args.variants.split(',')) {
  const variant = variants[id];
  if (!variant)
    throw new Error(`unknown variant ${id}; one of ${Object.keys(variants).join(', ')}`);
  const b = createNativeCpuBackend({ threads });
  const totals = instrument(b.kernels);
  const config = parseConfig(
    {
      model: { name: args.model, options: info.options },
      data: { name: 'synthetic' },
      quantization: variant.quantization,
      ...(variant.relaxation ? { relaxation: variant.relaxation } : {}),
    },
    { quantizers },
  );
  const model = buildModel(b, config, { inputShape: info.inputShape, classes: 10 });
  const sgd = new Sgd(
    b,
    model.variables,
    { momentum: 0.9, weightDecay: 0, nesterov: false },
    model.decayVariables,
  );
  const rng = new Random(7);
  const size = batch * info.inputShape.reduce((a, d) => a * d, 1);
  const x = b.tensor(
    Float32Array.from({ length: size }, () => rng.uniform()),
    [batch, ...info.inputShape],
  );
  const labels = new Float32Array(batch * 10);
  for (let i = 0; i < batch; i++) labels[i * 10 + ((i * 7) % 10)] = 1;
  const y = b.tensor(labels, [batch, 10]);

  const stepMs = [];
  let loss = Number.NaN;
  const total = warmup + steps;
  for (let i = 0; i < total; i++) {
    for (const t of totals.values()) t.ms = 0;
    if (i === warmup) for (const t of totals.values()) t.calls = 0;
    const step = { step: i, totalSteps: total, stepsPerEpoch: total };
    const t0 = performance.now();
    for (const q of model.quantizers) q.beforeStep(step);
    const { value, grads } = lossAndGrads(b, model, { x, y }, step);
    sgd.apply(grads, 0.01);
    loss = b.readSync(value)[0];
    b.dispose([value, ...grads]);
    if (i >= warmup) {
      stepMs.push(performance.now() - t0);
      for (const t of totals.values()) t.steps.push(t.ms);
    }
  }
  const perStep = [...totals.entries()]
    .filter(([, t]) => t.calls > 0)
    .map(([name, t]) => ({ kernel: name, ms: median(t.steps), calls: t.calls / steps }))
    .sort((p, q) => q.ms - p.ms);
  const mean = stepMs.reduce((a, v) => a + v, 0) / stepMs.length;
  const best = Math.min(...stepMs);
  const kernelMs = perStep.reduce((a, k) => a + k.ms, 0);
  results.push({
    variant: id,
    label: variant.label,
    medianMs: median(stepMs),
    meanMs: mean,
    minMs: best,
    kernelMs,
    jsMs: median(stepMs) - kernelMs,
    loss,
    kernels: perStep,
  });
  const describe = b.describe();
  console.log(
    `\n${args.model} batch ${batch}, ${variant.label}: median ${median(stepMs).toFixed(2)} ms/step ` +
      `(mean ${mean.toFixed(2)}, min ${best.toFixed(2)}, ${steps} steps after ${warmup} warm-up; loss ${loss.toFixed(4)}; ` +
      `oneDNN ${describe.dnnlVersion} ${describe.runtime}, ${describe.threads} threads)`,
  );
  console.log('| kernel | ms/step | calls/step |\n| --- | ---: | ---: |');
  for (const k of perStep) {
    console.log(`| ${k.kernel} | ${k.ms.toFixed(3)} | ${k.calls.toFixed(1)} |`);
  }
  console.log(
    `| JS (tape, quantizers, optimizer, calls) | ${(median(stepMs) - kernelMs).toFixed(3)} | |`,
  );
  b.dispose([x, y]);
  sgd.dispose();
  model.dispose();
}

console.log(
  '\n| variant | median ms/step | min ms/step | kernels ms | JS ms |\n| --- | ---: | ---: | ---: | ---: |',
);
for (const r of results) {
  console.log(
    `| ${r.label} | ${r.medianMs.toFixed(2)} | ${r.minMs.toFixed(2)} | ${r.kernelMs.toFixed(2)} | ${r.jsMs.toFixed(2)} |`,
  );
}
if (args.json)
  writeFileSync(args.json, `${JSON.stringify({ model: args.model, batch, results }, null, 2)}\n`);
