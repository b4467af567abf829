import type { Backend, Conv2DOptions, Pool2DOptions, Tensor } from '../backend/backend.js';
import type { BinaryOp, UnaryOp } from '../backend/kernels.js';
import {
  broadcastShapes,
  conv2dGeometry,
  normalizeAxes,
  normalizePerm,
  pool2dGeometry,
} from '../backend/shape.js';
import type { Random } from '../random.js';
import * as ref from '../reference/ops.js';

/**
 * The op cases of the conformance suite: each names its inputs (shape and how to draw values), runs
 * the op on a backend, and computes the expected result with the plain reference implementations.
 */
export interface OpCase {
  name: string;
  inputs: InputSpec[];
  run(b: Backend, xs: Tensor[]): Tensor;
  expected(xs: Float32Array[]): Float32Array;
  /** Checked against finite differences (false for piecewise-constant ops). */
  differentiable: boolean;
}

export interface InputSpec {
  shape: number[];
  /** How values are drawn (default: N(0, 1)). */
  draw?: 'normal' | 'positive' | 'spread' | 'mask' | 'onehot';
  /** Shift of the `spread` grid, so two spread inputs never tie. */
  offset?: number;
  /** Not differentiated (a `where` condition). */
  noGrad?: boolean;
}

/** Draws input values; `spread` gives distinct values away from kinks (for max, relu, abs, clip). */
export function drawInput(spec: InputSpec, rng: Random): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  switch (spec.draw ?? 'normal') {
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = rng.normal();
      break;
    case 'positive':
      for (let i = 0; i < n; i++) out[i] = 0.5 + 1.5 * rng.uniform();
      break;
    case 'spread': {
      // A shuffled grid with gaps of 0.15, none within 0.05 of 0 or ±1 (the clip bounds below).
      const vals = Array.from(
        { length: n },
        (_, i) => (i - n / 2) * 0.15 + 0.075 + (spec.offset ?? 0),
      );
      rng.shuffle(vals);
      for (let i = 0; i < n; i++) {
        let v = vals[i]!;
        if (Math.abs(Math.abs(v) - 1) < 0.05) v += 0.1;
        out[i] = v;
      }
      break;
    }
    case 'mask':
      for (let i = 0; i < n; i++) out[i] = rng.uniform() < 0.5 ? 1 : 0;
      break;
    case 'onehot': {
      const [rows, cols] = spec.shape as [number, number];
      for (let r = 0; r < rows; r++) out[r * cols + rng.int(cols)] = 1;
      break;
    }
  }
  return out;
}

const binaryShapes: [number[], number[]][] = [
  [
    [2, 3],
    [2, 3],
  ],
  [[2, 3], [3]],
  [
    [2, 1, 3],
    [4, 1],
  ],
  [[3], []],
];

const binaryOps: BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'pow',
  'greater',
  'greaterEqual',
  'less',
  'lessEqual',
  'equal',
];

const unaryOps: { op: UnaryOp; draw?: InputSpec['draw']; diff: boolean }[] = [
  { op: 'neg', diff: true },
  { op: 'abs', draw: 'spread', diff: true },
  { op: 'sign', draw: 'spread', diff: false },
  { op: 'exp', diff: true },
  { op: 'log', draw: 'positive', diff: true },
  { op: 'sqrt', draw: 'positive', diff: true },
  { op: 'square', diff: true },
  { op: 'reciprocal', draw: 'positive', diff: true },
  { op: 'relu', draw: 'spread', diff: true },
  { op: 'sigmoid', diff: true },
  { op: 'tanh', diff: true },
  { op: 'floor', draw: 'spread', diff: false },
];

function convCase(
  name: string,
  x: number[],
  f: number[],
  o: Conv2DOptions,
  depthwise: boolean,
): OpCase {
  return {
    name,
    inputs: [{ shape: x }, { shape: f }],
    differentiable: true,
    run: (b, [a, w]) => (depthwise ? b.depthwiseConv2d(a!, w!, o) : b.conv2d(a!, w!, o)),
    expected: ([a, w]) => {
      const g = conv2dGeometry(x, f, o, depthwise);
      return depthwise ? ref.depthwiseConv2d(a!, w!, g) : ref.conv2d(a!, w!, g);
    },
  };
}

function poolCase(kind: 'max' | 'avg', x: number[], o: Pool2DOptions): OpCase {
  return {
    name: `${kind}Pool ${JSON.stringify(o)} on [${x.join(',')}]`,
    inputs: [{ shape: x, draw: 'spread' }],
    differentiable: true,
    run: (b, [a]) => (kind === 'max' ? b.maxPool(a!, o) : b.avgPool(a!, o)),
    expected: ([a]) => {
      const g = pool2dGeometry(x, o, `${kind}Pool`);
      return kind === 'max' ? ref.maxPool(a!, g) : ref.avgPool(a!, g);
    },
  };
}

function reduceRef(
  op: 'sum' | 'mean' | 'max' | 'min',
  x: Float32Array,
  shape: number[],
  axes: number[],
): Float32Array {
  const r = ref.reduce(op === 'mean' ? 'sum' : op, x, shape, axes);
  if (op !== 'mean') return r;
  const count = axes.reduce((n, a) => n * shape[a]!, 1);
  return r.map((v) => v / count);
}

function logSoftmaxRef(x: Float32Array, shape: number[]): Float32Array {
  const cols = shape[shape.length - 1]!;
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c]! - lse;
  }
  return out;
}

/** Every op case of the suite. */
export function opCases(): OpCase[] {
  const cases: OpCase[] = [];
  for (const op of binaryOps) {
    const comparison = ['greater', 'greaterEqual', 'less', 'lessEqual', 'equal'].includes(op);
    for (const [sa, sb] of binaryShapes) {
      const draw: InputSpec['draw'] =
        op === 'pow' || op === 'div'
          ? 'positive'
          : op === 'maximum' || op === 'minimum'
            ? 'spread'
            : 'normal';
      cases.push({
        name: `${op} [${sa.join(',')}] with [${sb.join(',')}]`,
        inputs: [
          { shape: sa, draw },
          { shape: sb, draw: op === 'pow' ? 'normal' : draw, offset: 0.05 },
        ],
        differentiable: !comparison,
        run: (b, [a, c]) => (b[op] as (x: Tensor, y: Tensor) => Tensor).call(b, a!, c!),
        expected: ([a, c]) => ref.binary(op, a!, sa, c!, sb, broadcastShapes(sa, sb, op)),
      });
    }
    cases.push({
      name: `${op} with a number operand`,
      inputs: [
        { shape: [2, 2], draw: op === 'maximum' || op === 'minimum' ? 'spread' : 'positive' },
      ],
      differentiable: !comparison,
      run: (b, [a]) => (b[op] as (x: Tensor, y: number) => Tensor).call(b, a!, 1.25),
      expected: ([a]) => ref.binary(op, a!, [2, 2], Float32Array.of(1.25), [], [2, 2]),
    });
  }
  // Comparisons must agree exactly on ties too.
  cases.push({
    name: 'equal and greaterEqual on ties',
    inputs: [{ shape: [4] }],
    differentiable: false,
    run: (b, [a]) => b.add(b.equal(a!, a!), b.greaterEqual(a!, a!)),
    expected: () => Float32Array.of(2, 2, 2, 2),
  });
  for (const u of unaryOps) {
    cases.push({
      name: u.op,
      inputs: [{ shape: [3, 4], draw: u.draw }],
      differentiable: u.diff,
      run: (b, [a]) => (b[u.op as Exclude<UnaryOp, 'step'>] as (x: Tensor) => Tensor).call(b, a!),
      expected: ([a]) => ref.unary(u.op, a!),
    });
  }
  cases.push({
    name: 'clip to [-1, 1]',
    inputs: [{ shape: [3, 5], draw: 'spread' }],
    differentiable: true,
    run: (b, [a]) => b.clip(a!, -1, 1),
    expected: ([a]) => ref.clip(a!, -1, 1),
  });
  cases.push({
    name: 'where with broadcasting',
    inputs: [{ shape: [2, 3], draw: 'mask', noGrad: true }, { shape: [2, 3] }, { shape: [3] }],
    differentiable: true,
    run: (b, [c, a, d]) => b.where(c!, a!, d!),
    expected: ([c, a, d]) => ref.where(c!, [2, 3], a!, [2, 3], d!, [3], [2, 3]),
  });
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    for (const [axes, keep] of [
      [undefined, false],
      [1, false],
      [[0, 2], true],
      [-1, true],
    ] as [number | number[] | undefined, boolean][]) {
      const shape = [2, 3, 4];
      cases.push({
        name: `${op} over axes ${JSON.stringify(axes)} keepDims=${keep}`,
        inputs: [{ shape, draw: op === 'max' || op === 'min' ? 'spread' : 'normal' }],
        differentiable: true,
        run: (b, [a]) => b[op](a!, axes, keep),
        expected: ([a]) => reduceRef(op, a!, shape, normalizeAxes(axes, 3, op)),
      });
    }
  }
  cases.push({
    name: 'reshape with -1',
    inputs: [{ shape: [2, 3, 2] }],
    differentiable: true,
    run: (b, [a]) => b.mul(b.reshape(a!, [3, -1]), b.tensor([1, 2, 3, 4], [1, 4])),
    expected: ([a]) => ref.binary('mul', a!, [3, 4], Float32Array.of(1, 2, 3, 4), [1, 4], [3, 4]),
  });
  for (const perm of [undefined, [0, 2, 1], [2, 0, 1]]) {
    cases.push({
      name: `transpose ${JSON.stringify(perm)}`,
      inputs: [{ shape: [2, 3, 4] }],
      differentiable: true,
      run: (b, [a]) => b.transpose(a!, perm),
      expected: ([a]) => ref.transpose(a!, [2, 3, 4], normalizePerm(3, perm)),
    });
  }
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as [boolean, boolean][]) {
    const sa: [number, number] = ta ? [4, 3] : [3, 4];
    const sb: [number, number] = tb ? [5, 4] : [4, 5];
    cases.push({
      name: `matMul transposeA=${ta} transposeB=${tb}`,
      inputs: [{ shape: sa }, { shape: sb }],
      differentiable: true,
      run: (b, [a, c]) => b.matMul(a!, c!, ta, tb),
      expected: ([a, c]) => ref.matMul(a!, sa, c!, sb, ta, tb),
    });
  }
  cases.push(convCase('conv2d 3x3 same', [2, 5, 5, 2], [3, 3, 2, 3], { padding: 'same' }, false));
  cases.push(
    convCase(
      'conv2d 3x3 valid stride 2',
      [1, 7, 6, 2],
      [3, 3, 2, 2],
      { padding: 'valid', strides: 2 },
      false,
    ),
  );
  cases.push(
    convCase(
      'conv2d 3x3 same stride 2 (asymmetric padding)',
      [1, 6, 6, 1],
      [3, 3, 1, 2],
      { padding: 'same', strides: 2 },
      false,
    ),
  );
  cases.push(
    convCase(
      'conv2d 3x3 dilation 2',
      [1, 7, 7, 2],
      [3, 3, 2, 2],
      { padding: 'same', dilations: 2 },
      false,
    ),
  );
  cases.push(
    convCase(
      'conv2d 2x3 explicit padding, strides [2,1]',
      [1, 5, 6, 2],
      [2, 3, 2, 2],
      {
        padding: [
          [1, 0],
          [2, 1],
        ],
        strides: [2, 1],
      },
      false,
    ),
  );
  cases.push(convCase('conv2d 1x1', [2, 3, 3, 4], [1, 1, 4, 3], { padding: 'valid' }, false));
  cases.push(
    convCase('depthwiseConv2d 3x3 same', [2, 5, 5, 3], [3, 3, 3, 1], { padding: 'same' }, true),
  );
  cases.push(
    convCase(
      'depthwiseConv2d multiplier 2 stride 2',
      [1, 6, 6, 2],
      [3, 3, 2, 2],
      { padding: 'same', strides: 2 },
      true,
    ),
  );
  cases.push(
    convCase(
      'depthwiseConv2d dilation 2 valid',
      [1, 7, 7, 2],
      [3, 3, 2, 1],
      { padding: 'valid', dilations: 2 },
      true,
    ),
  );
  cases.push(poolCase('max', [2, 4, 4, 2], { filterSize: 2, strides: 2 }));
  cases.push(poolCase('max', [1, 5, 5, 2], { filterSize: 3, strides: 2, padding: 'same' }));
  cases.push(poolCase('avg', [2, 4, 4, 2], { filterSize: 2, strides: 2 }));
  cases.push(poolCase('avg', [1, 5, 5, 2], { filterSize: 3, strides: 1, padding: 'same' }));
  cases.push({
    name: 'batchNorm with batch statistics',
    inputs: [{ shape: [2, 2, 2, 3] }, { shape: [3], draw: 'positive' }, { shape: [3] }],
    differentiable: true,
    run: (b, [x, scale, offset]) => {
      const mean = b.mean(x!, [0, 1, 2]);
      const variance = b.mean(b.square(b.sub(x!, mean)), [0, 1, 2]);
      return b.batchNorm(x!, mean, variance, offset!, scale!, 1e-3);
    },
    expected: ([x, scale, offset]) => {
      const C = 3;
      const n = x!.length / C;
      const out = new Float32Array(x!.length);
      for (let c = 0; c < C; c++) {
        let m = 0;
        for (let i = 0; i < n; i++) m += x![i * C + c]!;
        m /= n;
        let v = 0;
        for (let i = 0; i < n; i++) v += (x![i * C + c]! - m) ** 2;
        v /= n;
        for (let i = 0; i < n; i++)
          out[i * C + c] = ((x![i * C + c]! - m) / Math.sqrt(v + 1e-3)) * scale![c]! + offset![c]!;
      }
      return out;
    },
  });
  const bnShape = [3, 2, 2, 4];
  const bnStats = (x: Float32Array) => {
    const C = bnShape[3]!;
    const n = x.length / C;
    const mean = new Float32Array(C);
    const variance = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += x[i * C + c]!;
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x[i * C + c]! - m) ** 2;
      mean[c] = m;
      variance[c] = v / n;
    }
    return { mean, variance };
  };
  const bnY = (x: Float32Array, scale?: Float32Array, offset?: Float32Array) => {
    const C = bnShape[3]!;
    const { mean, variance } = bnStats(x);
    return x.map((v, i) => {
      const c = i % C;
      const y = (v - mean[c]!) / Math.sqrt(variance[c]! + 1e-3);
      return y * (scale ? scale[c]! : 1) + (offset ? offset[c]! : 0);
    });
  };
  cases.push(
    {
      name: 'batchNormTraining',
      inputs: [{ shape: bnShape }, { shape: [4], draw: 'positive' }, { shape: [4] }],
      differentiable: true,
      run: (b, [x, scale, offset]) => b.batchNormTraining(x!, offset, scale, 1e-3).y,
      expected: ([x, scale, offset]) => bnY(x!, scale, offset),
    },
    {
      name: 'batchNormTraining without offset and scale',
      inputs: [{ shape: bnShape }],
      differentiable: true,
      run: (b, [x]) => b.batchNormTraining(x!, undefined, undefined, 1e-3).y,
      expected: ([x]) => bnY(x!),
    },
    {
      name: 'batchNorm without offset and scale',
      inputs: [{ shape: bnShape }],
      differentiable: true,
      run: (b, [x]) => {
        const mean = b.mean(x!, [0, 1, 2]);
        const variance = b.mean(b.square(b.sub(x!, mean)), [0, 1, 2]);
        return b.batchNorm(x!, mean, variance, undefined, undefined, 1e-3);
      },
      expected: ([x]) => bnY(x!),
    },
    {
      name: 'batchNormTraining: the batch mean',
      inputs: [{ shape: bnShape }],
      differentiable: true,
      run: (b, [x]) => b.batchNormTraining(x!).mean,
      expected: ([x]) => bnStats(x!).mean,
    },
    {
      name: 'batchNormTraining: the biased batch variance',
      inputs: [{ shape: bnShape }],
      differentiable: true,
      run: (b, [x]) => b.batchNormTraining(x!).variance,
      expected: ([x]) => bnStats(x!).variance,
    },
  );
  cases.push({
    name: 'softmax',
    inputs: [{ shape: [3, 4] }],
    differentiable: true,
    run: (b, [x]) => b.softmax(x!),
    expected: ([x]) => logSoftmaxRef(x!, [3, 4]).map(Math.exp),
  });
  cases.push({
    name: 'logSoftmax',
    inputs: [{ shape: [3, 4] }],
    differentiable: true,
    run: (b, [x]) => b.logSoftmax(x!),
    expected: ([x]) => logSoftmaxRef(x!, [3, 4]),
  });
  cases.push({
    name: 'softmaxCrossEntropy',
    inputs: [{ shape: [4, 5] }, { shape: [4, 5], draw: 'onehot' }],
    differentiable: true,
    run: (b, [x, y]) => b.softmaxCrossEntropy(x!, y!),
    expected: ([x, y]) => {
      const ls = logSoftmaxRef(x!, [4, 5]);
      let s = 0;
      for (let i = 0; i < ls.length; i++) s -= y![i]! * ls[i]!;
      return Float32Array.of(s / 4);
    },
  });
  // The fused convolution: bias and ReLU, ReLU alone, bias alone (appended last: every case draws
  // from one generator, so the cases above keep their inputs).
  const fused = (bias: boolean, activation: 'linear' | 'relu'): OpCase => {
    const x = [2, 5, 5, 3];
    const f = [3, 3, 3, 4];
    const o: Conv2DOptions = { padding: 'same', strides: 2 };
    return {
      name: `fusedConv2d${bias ? ' + bias' : ''}${activation === 'relu' ? ' + relu' : ''}`,
      inputs: [{ shape: x }, { shape: f }, ...(bias ? [{ shape: [4] }] : [])],
      differentiable: true,
      run: (b, [a, w, c]) => b.fusedConv2d(a!, w!, { ...o, ...(c ? { bias: c } : {}), activation }),
      expected: ([a, w, c]) => {
        const g = conv2dGeometry(x, f, o, false);
        const y = ref.conv2d(a!, w!, g).map((v, i) => v + (c ? c[i % 4]! : 0));
        return activation === 'relu' ? y.map((v) => Math.max(v, 0)) : y;
      },
    };
  };
  cases.push(fused(true, 'relu'), fused(false, 'relu'), fused(true, 'linear'));
  cases.push({
    name: 'batchNormTraining + residual + relu',
    inputs: [{ shape: bnShape }, { shape: [4], draw: 'positive' }, { shape: bnShape }],
    differentiable: true,
    run: (b, [x, scale, residual]) =>
      b.batchNormTraining(x!, undefined, scale, 1e-3, { residual, activation: 'relu' }).y,
    expected: ([x, scale, residual]) =>
      bnY(x!, scale).map((v, i) => Math.max(v + residual![i]!, 0)),
  });
  return cases;
}
