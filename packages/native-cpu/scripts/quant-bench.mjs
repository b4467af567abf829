/**
 * Micro-benchmark of the fused quantizer kernels (native/quant.cc) against the JavaScript paths
 * they replace on host-memory backends: one min-max 2-bit Q(w), and DQA's 2/4/8-bit min-max
 * mixture Σ a_k Q_k(w) (forward) with its K dot products Σ dy·Q_k(w) (backward), at 50 k and
 * 270 k weights (cnn-small's and ResNet-20's weight counts). Prints a table; `--json` writes it.
 *
 *   node scripts/quant-bench.mjs [--sizes 50000,270000] [--reps 200] [--threads N] [--json out.json]
 *
 * Runs on the built packages (`pnpm build` first); from the TypeScript sources instead:
 *   npx tsx --conditions=@dqa/source scripts/quant-bench.mjs
 *
 * Columns: "JS reference" is the plugin's `reference` (and, for the mixture, core's host mixture
 * loop over them); "fused C++" the addon call alone; "fused via backend" the same through
 * `Backend.fusedQuantizers`, with the copies of w into and of the result out of the backend's
 * tensors. Each cell is the median (and the fastest) of `reps` timed calls after a warm-up; on a
 * busy machine the fastest is the better estimate of the kernels' own cost.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Random } from '@dqa/core';
import { addonPath, createNativeCpuBackend } from '@dqa/native-cpu';
import { minmax } from '@dqa/quantizers';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '50000,270000' },
    reps: { type: 'string', default: '200' },
    threads: { type: 'string' },
    json: { type: 'string' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const reps = Number(args.reps);
const b = createNativeCpuBackend(args.threads ? { threads: Number(args.threads) } : {});
const addon = createRequire(import.meta.url)(addonPath);
const threads = b.describe().threads;

/** Median and fastest milliseconds per call of `fn` over `reps` calls, after a warm-up. */
function time(fn) {
  for (let i = 0; i < Math.max(5, reps / 10); i++) fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const start = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  t.sort((a, c) => a - c);
  return { median: t[Math.floor(t.length / 2)], min: t[0] };
}

const BITS = [2, 4, 8];
const attention = [0.5, 0.3, 0.2];
/** The addon's quantizer list: [kind, bits, groups, stride, PACT α] per quantizer (min-max = 1). */
const specsOf = (bits) => Float64Array.from(bits.flatMap((n) => [1, n, 1, 1, Number.NaN]));

const rows = [];
for (const n of sizes) {
  const rng = new Random(n);
  const w = rng.normalArray(n, 0, 0.05);
  const dy = rng.normalArray(n, 0, 1e-3);
  const shape = [n];
  const out = new Float32Array(n);
  const wt = b.tensor(w, shape);
  const dyt = b.tensor(dy, shape);

  // One min-max 2-bit quantizer.
  const one = specsOf([2]);
  const calibOne = new Float64Array(3);
  const q2 = b.fusedQuantizers.quantizer({
    plugin: minmax,
    bits: 2,
    granularity: 'tensor',
    channelAxis: 0,
  });
  rows.push({
    case: 'minmax 2-bit Q(w)',
    weights: n,
    js: time(() => minmax.reference(w, 2)),
    fused: time(() => addon.quantForward(one, null, w, calibOne, out)),
    backend: time(() => b.dispose(q2.forward(wt, {}))),
  });

  // DQA's mixture forward: core's host mixture (dqa.ts) vs the fused kernel.
  const three = specsOf(BITS);
  const calib = new Float64Array(9);
  const weights = Float64Array.from(attention);
  let qs = [];
  const hostMixture = () => {
    qs = BITS.map((bits) => minmax.reference(w, bits));
    const mix = new Float32Array(n);
    for (let k = 0; k < BITS.length; k++) {
      const qk = qs[k];
      const ak = attention[k];
      for (let i = 0; i < n; i++) mix[i] += ak * qk[i];
    }
    return mix;
  };
  const mixture = b.fusedQuantizers.mixture(
    BITS.map((bits) => ({ plugin: minmax, bits, granularity: 'tensor', channelAxis: 0 })),
  );
  rows.push({
    case: 'DQA 2/4/8 forward Σ a_k Q_k(w)',
    weights: n,
    js: time(hostMixture),
    fused: time(() => addon.quantForward(three, weights, w, calib, out)),
    backend: time(() => b.dispose(mixture.forward(wt, attention).value)),
  });

  // Its backward: dL/da_k = Σ dy·Q_k(w). The host path keeps the Q_k of the forward pass; the
  // fused kernel recomputes them from the calibration in the same pass as the dot products.
  hostMixture();
  const dots = new Float64Array(3);
  const result = mixture.forward(wt, attention);
  rows.push({
    case: 'DQA 2/4/8 backward Σ dy·Q_k(w)',
    weights: n,
    js: time(() =>
      qs.map((qk) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += dy[i] * qk[i];
        return s;
      }),
    ),
    fused: time(() => addon.quantDots(three, calib, w, dy, dots)),
    backend: time(() => result.dots(dyt)),
  });
  b.dispose([wt, dyt, result.value]);
}

const ms = (v) => `${v.median.toFixed(3)} (${v.min.toFixed(3)})`;
console.log(
  `fused quantizer kernels vs JavaScript, ${threads} thread(s): ms per call, median (fastest) of ${reps} calls\n`,
);
console.log(
  '| case | weights | JS reference | fused C++ | fused via backend | speed-up (C++, median) |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.case} | ${r.weights} | ${ms(r.js)} | ${ms(r.fused)} | ${ms(r.backend)} | ${(r.js.median / r.fused.median).toFixed(1)}× |`,
  );
}
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify({ threads, reps, rows }, null, 2)}\n`);
  console.log(`\nwrote ${args.json}`);
}
b.close?.();
