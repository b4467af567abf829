import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BinaryOp,
  type Conv2DGeometry,
  conv2dGeometry,
  createReferenceBackend,
  pool2dGeometry,
  Random,
  type ReduceOp,
  referenceKernels as ref,
  type UnaryOp,
} from '@dqa/core';
import { firstMismatch } from '@dqa/core/conformance';
import { expect, it } from 'vitest';
import { ArrayPool, addonPath, createNativeCpuBackend, type NativeKernels } from '../src/index.js';
import { describeNative } from './native.js';

// The kernels on training-sized tensors, against @dqa/core's reference kernels. The conformance
// suite's tensors are tiny, below the size where the kernels split work over threads and take
// their fast paths (tiled bias broadcast, column reductions, oneDNN's JIT kernels), so those run
// here.

const rng = new Random(42);
const normal = (n: number) => rng.normalArray(n);
/** The same N(0, 1) values for the same n, whichever backend asks (a fixed seed per call). */
const normalFixed = (n: number) => new Random(n).normalArray(n);

function expectClose(
  got: Float32Array,
  want: Float32Array,
  rtol: number,
  atol: number,
  what: string,
): void {
  const m = firstMismatch(got, want, rtol, atol);
  if (m) expect.fail(`${what}: element ${m.index}: got ${m.got}, expected ${m.want}`);
}

describeNative('native-cpu kernels on training-sized tensors', () => {
  let k: NativeKernels;
  const fresh = () => {
    k ??= createNativeCpuBackend().kernels;
    return k;
  };

  it('binary ops broadcast like the reference (bias, columns, scalars, general)', () => {
    const k = fresh();
    const shapes: [number[], number[]][] = [
      [[16, 14, 14, 32], [32]],
      [[32], [16, 14, 14, 32]],
      [
        [300, 400],
        [300, 1],
      ],
      [[100_000], []],
      [
        [8, 1, 16, 64],
        [8, 12, 1, 64],
      ],
      [
        [64, 3136],
        [64, 3136],
      ],
    ];
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'greater', 'equal'];
    for (const [sa, sb] of shapes) {
      const out = sa.length >= sb.length ? [...sa] : [...sb];
      for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
        const ia = sa.length - 1 - i;
        const ib = sb.length - 1 - i;
        out[out.length - 1 - i] = Math.max(sa[ia]!, sb[ib]!);
      }
      const a = normal(sa.reduce((x, d) => x * d, 1));
      const b = normal(sb.reduce((x, d) => x * d, 1));
      // NaN and signed zeros, where Math.max/min have rules of their own.
      a[3] = Number.NaN;
      a[5] = -0;
      b[0] = 0;
      for (const op of ops) {
        expectClose(
          k.binary(op, a, sa, b, sb, out),
          ref.binary(op, a, sa, b, sb, out),
          0,
          0,
          `${op} [${sa}] with [${sb}]`,
        );
      }
    }
    // A vector broadcast to a larger shape than either operand (the tape's gradient of a sum).
    const v = normal(16);
    const zero = Float32Array.of(0);
    for (const [sa, sb] of [
      [[1, 1, 1, 16], []],
      [[], [16]],
    ] as [number[], number[]][]) {
      const [a, b] = sa.length ? [v, zero] : [zero, v];
      expectClose(
        k.binary('add', a, sa, b, sb, [8, 4, 4, 16]),
        ref.binary('add', a, sa, b, sb, [8, 4, 4, 16]),
        0,
        0,
        `broadcast [${sa}] + [${sb}] to [8, 4, 4, 16]`,
      );
    }
    const x = Float32Array.from(normal(50_000), Math.abs);
    const y = normal(50_000);
    expectClose(
      k.binary('pow', x, [50_000], y, [50_000], [50_000]),
      ref.binary('pow', x, [50_000], y, [50_000], [50_000]),
      1e-6,
      0,
      'pow',
    );
  });

  it('unary ops, clip and where match, NaN and ±0 included', () => {
    const k = fresh();
    const n = 200_000;
    const x = normal(n);
    x[1] = Number.NaN;
    x[2] = -0;
    x[3] = Number.POSITIVE_INFINITY;
    x[4] = Number.NEGATIVE_INFINITY;
    const exact: UnaryOp[] = [
      'neg',
      'abs',
      'sign',
      'sqrt',
      'square',
      'reciprocal',
      'relu',
      'floor',
      'step',
    ];
    for (const op of exact) expectClose(k.unary(op, x, n), ref.unary(op, x, n), 0, 0, op);
    for (const op of ['exp', 'log', 'sigmoid', 'tanh'] as UnaryOp[]) {
      expectClose(k.unary(op, x, n), ref.unary(op, x, n), 2e-6, 1e-30, op);
    }
    expectClose(k.clip(x, n, -0.5, 0.75), ref.clip(x, n, -0.5, 0.75), 0, 0, 'clip');
    const cond = Float32Array.from(normal(n), (v) => (v > 0 ? 1 : 0));
    const b = normal(400);
    expectClose(
      k.where(cond, [500, 400], x, [500, 400], b, [400], [500, 400]),
      ref.where(cond, [500, 400], x, [500, 400], b, [400], [500, 400]),
      0,
      0,
      'where',
    );
  });

  it('reductions over leading, trailing, middle and all axes match; a NaN poisons its group', () => {
    const k = fresh();
    const shape = [32, 14, 14, 32];
    const x = normal(shape.reduce((a, d) => a * d, 1));
    x[777] = Number.NaN;
    for (const axes of [[0, 1, 2], [3], [1, 2], [0, 3], [0, 1, 2, 3], [2]]) {
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
        const got = k.reduce(op, x, shape, axes);
        const want = ref.reduce(op, x, shape, axes);
        expect(got.filter(Number.isNaN).length, `${op} ${axes}: NaN groups`).toBe(
          want.filter(Number.isNaN).length,
        );
        expectClose(got, want, op === 'sum' ? 1e-5 : 0, op === 'sum' ? 1e-4 : 0, `${op} ${axes}`);
      }
    }
  });

  it('transpose and matMul (every transpose flag) match', () => {
    const k = fresh();
    const x = normal(32 * 64 * 48);
    for (const perm of [
      [2, 0, 1],
      [1, 0, 2],
      [0, 2, 1],
      [2, 1, 0],
    ]) {
      expectClose(
        k.transpose(x, [32, 64, 48], perm),
        ref.transpose(x, [32, 64, 48], perm),
        0,
        0,
        `transpose ${perm}`,
      );
    }
    const [m, kk, n] = [64, 3136, 10];
    const a = normal(m * kk);
    const b = normal(kk * n);
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as [boolean, boolean][]) {
      const as: [number, number] = ta ? [kk, m] : [m, kk];
      const bs: [number, number] = tb ? [n, kk] : [kk, n];
      expectClose(
        k.matMul(a, as, b, bs, ta, tb),
        ref.matMul(a, as, b, bs, ta, tb),
        1e-4,
        1e-3,
        `matMul ${ta} ${tb}`,
      );
    }
  });

  const convCases: [string, number[], number[], Parameters<typeof conv2dGeometry>[2], boolean][] = [
    ['conv 14×14 32→64 same', [4, 14, 14, 32], [3, 3, 32, 64], { padding: 'same' }, false],
    [
      'conv 28×28 1→32 same (the image layer)',
      [4, 28, 28, 1],
      [3, 3, 1, 32],
      { padding: 'same' },
      false,
    ],
    [
      'conv stride 2 same (asymmetric padding)',
      [2, 16, 16, 16],
      [3, 3, 16, 32],
      { padding: 'same', strides: 2 },
      false,
    ],
    [
      'conv 5×3 dilation 2 valid, strides [2, 1]',
      [2, 17, 15, 8],
      [5, 3, 8, 16],
      { padding: 'valid', strides: [2, 1], dilations: 2 },
      false,
    ],
    [
      'conv 1×1 explicit padding',
      [2, 9, 9, 24],
      [1, 1, 24, 40],
      {
        padding: [
          [1, 0],
          [0, 2],
        ],
      },
      false,
    ],
    [
      'depthwise 3×3 multiplier 2 stride 2',
      [2, 16, 16, 16],
      [3, 3, 16, 2],
      { padding: 'same', strides: 2 },
      true,
    ],
    ['depthwise 3×3 multiplier 1', [4, 12, 12, 32], [3, 3, 32, 1], { padding: 'same' }, true],
  ];
  for (const [name, xs, ws, o, depthwise] of convCases) {
    it(`${name}: forward, input and filter gradients match`, () => {
      const k = fresh();
      const g = conv2dGeometry(xs, ws, o, depthwise);
      const x = normal(xs.reduce((a, d) => a * d, 1));
      const w = normal(ws.reduce((a, d) => a * d, 1));
      const dy = normal(g.batch * g.outHeight * g.outWidth * g.outChannels);
      const [fwd, bin, bfil] = depthwise
        ? ([
            'depthwiseConv2d',
            'depthwiseConv2dBackpropInput',
            'depthwiseConv2dBackpropFilter',
          ] as const)
        : (['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'] as const);
      // Sums of hundreds of products: errors are relative to the result's scale, not to each
      // (possibly cancelled) element. Winograd (3×3, 16-channel multiples) rounds a few times
      // more than direct convolution; 3e-5 of the scale holds both.
      const check = (got: Float32Array, want: Float32Array, what: string) => {
        let scale = 0;
        for (const v of want) scale = Math.max(scale, Math.abs(v));
        expectClose(got, want, 1e-4, 3e-5 * scale, `${name} ${what}`);
      };
      check(k[fwd](x, w, g), ref[fwd](x, w, g), 'forward');
      check(k[bin](dy, w, g), ref[bin](dy, w, g), 'input gradient');
      check(k[bfil](x, dy, g), ref[bfil](x, dy, g), 'filter gradient');
    });
  }

  it('the fused convolution (bias, ReLU; Winograd and direct) and its gradients match the composed ops', () => {
    const b = createNativeCpuBackend();
    const composed = createReferenceBackend();
    const cases: [number[], number[], { padding: 'same' | 'valid'; strides?: number }][] = [
      [[8, 14, 14, 32], [3, 3, 32, 64], { padding: 'same' }],
      [[8, 28, 28, 1], [3, 3, 1, 32], { padding: 'same' }],
      [[4, 9, 9, 5], [3, 3, 5, 7], { padding: 'valid', strides: 2 }],
    ];
    for (const [xs, ws, o] of cases) {
      const x0 = normal(xs.reduce((a, v) => a * v, 1));
      const w0 = Float32Array.from(normal(ws.reduce((a, v) => a * v, 1)), (v) => 0.2 * v);
      const b0 = normal(ws[3]!);
      for (const activation of ['relu', 'linear'] as const) {
        const run = (be: typeof b | typeof composed) => {
          const x = be.variable(
            be.tidy(() => be.tensor(x0, xs)),
            { name: `fcx${xs}${activation}` },
          );
          const w = be.variable(
            be.tidy(() => be.tensor(w0, ws)),
            { name: `fcw${xs}${activation}` },
          );
          const c = be.variable(
            be.tidy(() => be.tensor(b0, [ws[3]!])),
            { name: `fcb${xs}${activation}` },
          );
          let y: Float32Array | null = null;
          const { value, grads } = be.valueAndGrads(() => {
            const out = be.fusedConv2d(x, w, { ...o, bias: c, activation });
            y = be.readSync(out);
            return be.sum(be.mul(out, be.tensor(normalFixed(out.size), out.shape)));
          }, [x, w, c]);
          const res = [y!, be.readSync(value), ...grads.map((t) => be.readSync(t))];
          be.dispose([value, ...grads, x, w, c]);
          return res;
        };
        const got = run(b);
        const want = run(composed);
        ['y', 'value', 'dx', 'dw', 'dBias'].forEach((name, i) => {
          const scale = want[i]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          expectClose(got[i]!, want[i]!, 1e-4, 1e-5 * scale, `${xs} ${activation} ${name}`);
        });
      }
    }
  });

  it('training batch norm (statistics, y, and its gradients) matches the composed ops', () => {
    const b = createNativeCpuBackend();
    const composed = createReferenceBackend();
    // C = 16 and 3 (tiles of 16 and 85 rows), 24 (a tile of 10 rows, rows not a multiple of it);
    // 65 536 values and more split over threads, 64 tiles and more fold their float partials.
    for (const shape of [
      [16, 8, 8, 16],
      [32, 16, 16, 16],
      [7, 9, 11, 3],
      [5, 13, 13, 24],
      [64, 48],
    ]) {
      const C = shape.at(-1)!;
      const n = shape.reduce((a, v) => a * v, 1);
      // Activations after a ReLU-like layer: mean comparable to the spread.
      const xs = Float32Array.from(normal(n), (v) => 1.5 + v);
      const gamma = Float32Array.from(normal(C), (v) => 1 + 0.2 * v);
      const beta = normal(C);
      const r = normal(n);
      const run = (be: typeof b | typeof composed) => {
        const x = be.variable(
          be.tidy(() => be.tensor(xs, shape)),
          { name: `bnx${shape}` },
        );
        const g = be.variable(
          be.tidy(() => be.tensor(gamma, [C])),
          { name: `bng${shape}` },
        );
        const o = be.variable(
          be.tidy(() => be.tensor(beta, [C])),
          { name: `bnb${shape}` },
        );
        const stats: Float32Array[] = [];
        const { value, grads } = be.valueAndGrads(() => {
          const t = be.batchNormTraining(x, o, g, 1e-3);
          stats.push(be.readSync(t.y), be.readSync(t.mean), be.readSync(t.variance));
          return be.sum(be.mul(t.y, be.tensor(r, shape)));
        }, [x, g, o]);
        const out = [...stats, be.readSync(value), ...grads.map((t) => be.readSync(t))];
        be.dispose([value, ...grads, x, g, o]);
        return out;
      };
      const got = run(b);
      const want = run(composed);
      const names = ['y', 'mean', 'variance', 'value', 'dx', 'dScale', 'dOffset'];
      got.forEach((v, i) => {
        const scale = want[i]!.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
        expectClose(v, want[i]!, 1e-4, 2e-5 * scale, `${shape} ${names[i]}`);
      });
    }
  });

  it('pooling (max and average, valid and same padding) and gradients match', () => {
    const k = fresh();
    const xs = [8, 28, 28, 32];
    const x = normal(xs.reduce((a, d) => a * d, 1));
    for (const o of [
      { filterSize: 2, strides: 2 },
      { filterSize: 3, strides: 2, padding: 'same' as const },
      { filterSize: 3, strides: 1, padding: 'same' as const },
    ]) {
      const g = pool2dGeometry(xs, o, 'pool');
      const dy = normal(g.batch * g.outHeight * g.outWidth * g.inChannels);
      const what = JSON.stringify(o);
      expectClose(k.maxPool(x, g), ref.maxPool(x, g), 0, 0, `maxPool ${what}`);
      expectClose(
        k.maxPoolBackprop(dy, x, g),
        ref.maxPoolBackprop(dy, x, g),
        1e-6,
        1e-6,
        `maxPool gradient ${what}`,
      );
      expectClose(k.avgPool(x, g), ref.avgPool(x, g), 1e-6, 1e-6, `avgPool ${what}`);
      expectClose(
        k.avgPoolBackprop(dy, g),
        ref.avgPoolBackprop(dy, g),
        1e-6,
        1e-6,
        `avgPool gradient ${what}`,
      );
    }
  });

  it('max pooling routes a tie to the first maximum in row-major order', () => {
    const k = fresh();
    const xs = [2, 6, 6, 16];
    // Integers from a small range: most 2×2 and 3×3 windows hold a tie for their maximum.
    const x = Float32Array.from({ length: 2 * 6 * 6 * 16 }, () => rng.int(3));
    for (const o of [{ filterSize: 2 }, { filterSize: 3, strides: 1, padding: 'same' as const }]) {
      const g = pool2dGeometry(xs, o, 'maxPool');
      const dy = normal(g.batch * g.outHeight * g.outWidth * g.inChannels);
      k.maxPool(x, g);
      expectClose(k.maxPoolBackprop(dy, x, g), ref.maxPoolBackprop(dy, x, g), 1e-6, 1e-6, 'ties');
    }
  });

  it('a released input handed out again never reuses its stale max-pooling workspace', () => {
    const k = fresh();
    const xs = [4, 16, 16, 32];
    const n = 4 * 16 * 16 * 32;
    const g = pool2dGeometry(xs, { filterSize: 2 }, 'maxPool');
    const x = k.upload(normal(n), n);
    k.maxPool(x, g);
    k.release(x);
    const other = normal(n);
    const again = k.upload(other, n);
    // The pool hands the same array back: the case where a stale workspace would route dy wrong.
    expect(again).toBe(x);
    const dy = normal(g.batch * g.outHeight * g.outWidth * g.inChannels);
    expectClose(
      k.maxPoolBackprop(dy, again, g),
      ref.maxPoolBackprop(dy, other, g),
      1e-6,
      1e-6,
      'after reuse',
    );
  });

  it('a released input handed out again never reuses its stale reordered copy (Winograd convolution)', () => {
    const k = fresh();
    const xs = [4, 14, 14, 32];
    const n = 4 * 14 * 14 * 32;
    const g = conv2dGeometry(xs, [3, 3, 32, 64], { padding: 'same' }, false);
    const w = normal(3 * 3 * 32 * 64);
    const x = k.upload(normal(n), n);
    k.conv2d(x, w, g); // reorders x to oneDNN's layout and keeps the copy
    k.release(x);
    const other = normal(n);
    const again = k.upload(other, n);
    expect(again).toBe(x);
    const dy = normal(g.batch * g.outHeight * g.outWidth * g.outChannels);
    const want = ref.conv2dBackpropFilter(other, dy, g);
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    expectClose(k.conv2dBackpropFilter(again, dy, g), want, 1e-4, 3e-5 * scale, 'after reuse');
  });

  it('native failures reach JavaScript as DqaErrors naming the kernel, never a crash', () => {
    const k = fresh();
    const g: Conv2DGeometry = conv2dGeometry(
      [1, 8, 8, 4],
      [3, 3, 4, 8],
      { padding: 'same' },
      false,
    );
    let error: unknown;
    try {
      k.conv2d(new Float32Array(3), new Float32Array(3 * 3 * 4 * 8), g);
    } catch (e) {
      error = e;
    }
    expect((error as { code?: string }).code).toBe('BACKEND_STATE');
    expect((error as Error).message).toMatch(/native-cpu conv2d: .*holds 3 values, needs 256/);
  });

  it('survives signals during oneDNN GEMM (a sampling profiler: oneDNN 2.x issue #4845)', () => {
    // oneDNN 2.x's JIT GEMM points the stack pointer into the heap; a signal handled meanwhile
    // corrupted the heap (node --cpu-prof aborted within a second) until the addon blocked them.
    const dir = mkdtempSync(join(tmpdir(), 'dqa-native-signals-'));
    const script = join(dir, 'gemm-under-profiler.cjs');
    writeFileSync(
      script,
      `const a = require(${JSON.stringify(addonPath)});
const [m, k, n] = [64, 3136, 10];
const A = new Float32Array(m * k).map((_, i) => Math.sin(i));
const B = new Float32Array(k * n).map((_, i) => Math.cos(i));
const C = new Float32Array(m * n), dA = new Float32Array(m * k), dB = new Float32Array(k * n);
const t0 = Date.now();
let steps = 0;
while (Date.now() - t0 < 2000) {
  a.matMul(A, m, k, B, k, n, false, false, C);
  a.matMul(C, m, n, B, k, n, false, true, dA);
  a.matMul(A, m, k, C, m, n, true, false, dB);
  steps++;
}
console.log('steps', steps);
`,
    );
    const r = spawnSync(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '100', script],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).not.toMatch(/corrupted|free\(\)|malloc/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^steps \d+/);
  });
});

it('the array pool hands each released array out once and only keeps large ones, up to its cap', () => {
  const pool = new ArrayPool(3 * 4 * 5000);
  const a = new Float32Array(5000);
  pool.give(a);
  pool.give(a); // a double release must not hand the same array to two tensors
  expect(pool.heldBytes).toBe(20_000);
  expect(pool.take(5000)).toBe(a);
  expect(pool.take(5000)).not.toBe(a);
  pool.give(new Float32Array(10)); // small arrays are left to the garbage collector
  expect(pool.heldBytes).toBe(0);
  for (let i = 0; i < 4; i++) pool.give(new Float32Array(5000));
  expect(pool.heldBytes).toBe(3 * 20_000);
  pool.clear();
  expect(pool.heldBytes).toBe(0);
});
