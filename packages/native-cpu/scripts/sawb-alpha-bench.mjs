/**
 * Times SAWB's exact clip level α* (eq. 12): the full breakpoint sweep it replaced (the tests'
 * oracle, packages/quantizers/test/sawb-sweep-oracle.ts) against `sawbAlpha`'s branch and bound,
 * in JavaScript and in the addon (one per-tensor fused SAWB Q(x) call, whose cost is α*'s plus
 * one pass over x). Gaussian values; prints a table, `--json` writes it.
 *
 *   npx tsx --conditions=@dqa/source scripts/sawb-alpha-bench.mjs [--sizes 50000] [--bits 2,4,8]
 *       [--seconds 1] [--addon-before path/to/old/dqa_native_cpu.node] [--json out.json]
 *
 * (TypeScript sources: the oracle is a test file.) `--addon-before` adds a column for an addon
 * built before this change (e.g. a copy of build/Release/dqa_native_cpu.node from an older
 * checkout), whose SawbAlpha is the full sweep in C++.
 *
 * Each cell: median (fastest) milliseconds per call, over as many calls as fit in `--seconds`
 * (at least 3) after one warm-up call.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Random } from '@dqa/core';
import { addonPath } from '@dqa/native-cpu';
import { sawbAlpha } from '@dqa/quantizers';
import { sawbAlphaSweep } from '../../quantizers/test/sawb-sweep-oracle.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '50000' },
    bits: { type: 'string', default: '2,4,8' },
    seconds: { type: 'string', default: '1' },
    'addon-before': { type: 'string' },
    json: { type: 'string' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const bitsList = args.bits.split(',').map(Number);
const budget = Number(args.seconds) * 1000;
const require = createRequire(import.meta.url);
const addon = require(addonPath);
const before = args['addon-before'] ? require(args['addon-before']) : null;
// One calibration thread: α* of a single group runs on one thread either way.
addon.setThreads(1);
before?.setThreads(1);

function time(fn) {
  fn();
  const t = [];
  const start = performance.now();
  while (t.length < 3 || performance.now() - start < budget) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(t.length / 2)], min: t[0], calls: t.length };
}

const rows = [];
for (const n of sizes) {
  const x = new Random(n).normalArray(n, 0, 0.05);
  const out = new Float32Array(n);
  const calib = new Float64Array(3);
  for (const bits of bitsList) {
    // The addon's quantizer list: [kind (SAWB = 2), bits, groups, stride, PACT's α].
    const specs = Float64Array.from([2, bits, 1, 1, Number.NaN]);
    const row = {
      bits,
      values: n,
      jsSweep: time(() => sawbAlphaSweep(x, bits)),
      js: time(() => sawbAlpha(x, bits)),
      nativeBefore: before ? time(() => before.quantForward(specs, null, x, calib, out)) : null,
      native: time(() => addon.quantForward(specs, null, x, calib, out)),
    };
    rows.push(row);
  }
}

const ms = (v) => (v ? `${v.median.toFixed(3)} (${v.min.toFixed(3)})` : '–');
const ratio = (a, b) => (a && b ? `${(a.median / b.median).toFixed(0)}×` : '–');
console.log('SAWB α*: ms per call, median (fastest)\n');
console.log(
  '| bits | values | JS full sweep | JS branch and bound | speed-up | C++ before | C++ now | speed-up |',
);
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.bits} | ${r.values} | ${ms(r.jsSweep)} | ${ms(r.js)} | ${ratio(r.jsSweep, r.js)} | ${ms(r.nativeBefore)} | ${ms(r.native)} | ${ratio(r.nativeBefore, r.native)} |`,
  );
}
if (args.json) writeFileSync(args.json, `${JSON.stringify({ rows }, null, 2)}\n`);
