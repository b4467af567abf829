import { expect, it } from 'vitest';
import { describeBackendConformance } from '../src/conformance/index.js';
import { createTapeBackend, type Kernels, Random, referenceKernels } from '../src/index.js';

/**
 * The tape backend's optional fused kernels (`reluBackward`, `softmaxCrossEntropy`, `batchNorm`,
 * `batchNormTraining`, `conv2dBiasActivation` and their gradients), written here in plain TypeScript on top of the reference kernels: the
 * conformance suite holds the fused paths of `createTapeBackend` to the same values and gradients
 * as the composed ones, without a native engine.
 */
const calls = new Map<string, number>();
const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);

function logSoftmaxRow(x: Float32Array, r: number, cols: number): number[] {
  let m = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]!);
  let s = 0;
  for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - m);
  const lse = m + Math.log(s);
  return Array.from({ length: cols }, (_, c) => x[r * cols + c]! - lse);
}

const fusedKernels: Kernels<Float32Array> = {
  ...referenceKernels,
  name: 'reference-fused',
  reluBackward(dy, x, size) {
    count('reluBackward');
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = dy[i]! * (x[i]! > 0 ? 1 : 0);
    return out;
  },
  softmaxCrossEntropy(logits, labels, rows, cols) {
    count('softmaxCrossEntropy');
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const ls = logSoftmaxRow(logits, r, cols);
      for (let c = 0; c < cols; c++) total -= labels[r * cols + c]! * ls[c]!;
    }
    return Float32Array.of(total / rows);
  },
  softmaxCrossEntropyBackward(dy, logits, labels, rows, cols, needLabels) {
    count('softmaxCrossEntropyBackward');
    const g = dy[0]! / rows;
    const dl = new Float32Array(rows * cols);
    const dlab = needLabels ? new Float32Array(rows * cols) : null;
    for (let r = 0; r < rows; r++) {
      const ls = logSoftmaxRow(logits, r, cols);
      let ysum = 0;
      for (let c = 0; c < cols; c++) ysum += labels[r * cols + c]!;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        dl[i] = g * (Math.exp(ls[c]!) * ysum - labels[i]!);
        if (dlab) dlab[i] = -g * ls[c]!;
      }
    }
    return [dl, dlab];
  },
  batchNorm(x, rows, channels, mean, variance, offset, scale, epsilon) {
    count('batchNorm');
    const out = new Float32Array(rows * channels);
    for (let i = 0; i < rows * channels; i++) {
      const c = i % channels;
      const r = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(variance[c]! + epsilon))));
      let y = Math.fround(Math.fround(x[i]! - mean[c]!) * r);
      if (scale) y = Math.fround(y * scale[c]!);
      if (offset) y = Math.fround(y + offset[c]!);
      out[i] = y;
    }
    return out;
  },
  conv2dBiasActivation(x, filter, bias, activation, g) {
    count('conv2dBiasActivation');
    const C = g.outChannels;
    return referenceKernels.conv2d(x, filter, g).map((v, i) => {
      const z = v + (bias ? bias[i % C]! : 0);
      return activation === 'relu' ? Math.max(z, 0) : z;
    });
  },
  biasActivationBackward(dy, y, rows, channels, activation) {
    count('biasActivationBackward');
    const dz = dy.map((g, i) => (activation === 'relu' && !(y[i]! > 0) ? 0 : g));
    const dBias = new Float32Array(channels);
    for (let i = 0; i < rows * channels; i++) dBias[i % channels]! += dz[i]!;
    return { dz, dBias };
  },
  batchNormTraining(x, rows, channels, offset, scale, epsilon, residual, activation) {
    count('batchNormTraining');
    const mean = new Float32Array(channels);
    const variance = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      let m = 0;
      for (let i = 0; i < rows; i++) m += x[i * channels + c]!;
      m /= rows;
      let v = 0;
      for (let i = 0; i < rows; i++) v += (x[i * channels + c]! - m) ** 2;
      mean[c] = m;
      variance[c] = v / rows;
    }
    const y = x.map((v, i) => {
      const c = i % channels;
      const h = (v - mean[c]!) / Math.sqrt(variance[c]! + epsilon);
      const z =
        h * (scale ? scale[c]! : 1) + (offset ? offset[c]! : 0) + (residual ? residual[i]! : 0);
      return activation === 'relu' ? Math.max(z, 0) : z;
    });
    return { y, mean, variance };
  },
  batchNormTrainingBackward(
    dy,
    x,
    rows,
    channels,
    mean,
    variance,
    scale,
    epsilon,
    y,
    activation,
    needResidual,
  ) {
    count('batchNormTrainingBackward');
    const g = dy.map((v, i) => (activation === 'relu' && !(y![i]! > 0) ? 0 : v));
    const r = Array.from({ length: channels }, (_, c) => 1 / Math.sqrt(variance[c]! + epsilon));
    const xhat = (i: number) => (x[i]! - mean[i % channels]!) * r[i % channels]!;
    const s1 = new Float64Array(channels);
    const s2 = new Float64Array(channels);
    for (let i = 0; i < rows * channels; i++) {
      s1[i % channels]! += g[i]!;
      s2[i % channels]! += g[i]! * xhat(i);
    }
    const dx = g.map((v, i) => {
      const c = i % channels;
      return (scale ? scale[c]! : 1) * r[c]! * (v - s1[c]! / rows - (xhat(i) * s2[c]!) / rows);
    });
    return {
      dx,
      dOffset: Float32Array.from(s1),
      dScale: Float32Array.from(s2),
      dResidual: needResidual ? g : null,
    };
  },
  batchNormBackward(dy, x, rows, channels, mean, variance, scale, epsilon) {
    count('batchNormBackward');
    const dx = new Float32Array(rows * channels);
    const s1 = new Float64Array(channels);
    const s2 = new Float64Array(channels);
    const r = Array.from({ length: channels }, (_, c) => 1 / Math.sqrt(variance[c]! + epsilon));
    for (let i = 0; i < rows * channels; i++) {
      const c = i % channels;
      s1[c]! += dy[i]!;
      s2[c]! += dy[i]! * (x[i]! - mean[c]!);
      dx[i] = dy[i]! * (scale ? scale[c]! : 1) * r[c]!;
    }
    const per = (f: (c: number) => number) =>
      Float32Array.from({ length: channels }, (_, c) => f(c));
    const sc = (c: number) => (scale ? scale[c]! : 1);
    return {
      dx,
      dMean: per((c) => -sc(c) * r[c]! * s1[c]!),
      dVariance: per((c) => -0.5 * sc(c) * r[c]! ** 3 * s2[c]!),
      dOffset: per((c) => s1[c]!),
      dScale: per((c) => r[c]! * s2[c]!),
    };
  },
};

describeBackendConformance({
  name: 'reference kernels with fused relu gradient, softmax cross-entropy and batch norms',
  create: () => createTapeBackend(fusedKernels, 'reference-fused'),
});

it('the tape backend calls the fused kernels, and the composed path gives the same gradients', () => {
  calls.clear();
  const fused = createTapeBackend(fusedKernels, 'reference-fused');
  const plain = createTapeBackend(referenceKernels, 'reference');
  const rng = new Random(3);
  const xs = rng.normalArray(4 * 3 * 3 * 5);
  const labels = new Float32Array(4 * 5);
  for (let i = 0; i < 4; i++) labels[i * 5 + (i % 5)] = 1;
  const gamma = Float32Array.from(rng.normalArray(5), (v) => 1 + 0.1 * v);
  const mix = rng.normalArray(25);
  const run = (b: ReturnType<typeof createTapeBackend>) => {
    const x = b.variable(
      b.tidy(() => b.tensor(xs, [4, 3, 3, 5])),
      { name: 'x' },
    );
    const g = b.variable(
      b.tidy(() => b.tensor(gamma, [5])),
      { name: 'gamma' },
    );
    const y = b.tensor(labels, [4, 5]);
    const { value, grads } = b.valueAndGrads(() => {
      const mean = b.mean(x, [0, 1, 2]);
      const variance = b.mean(b.square(b.sub(x, mean)), [0, 1, 2]);
      const bn = b.relu(b.batchNorm(x, mean, variance, undefined, g, 1e-3));
      // A 1×1 convolution (filter scaled by gamma) with bias (gamma again) and ReLU, fused.
      const h = b.fusedConv2d(bn, b.mul(b.tensor(mix, [1, 1, 5, 5]), g), {
        bias: g,
        activation: 'relu',
      });
      // A second batch norm in training mode, whose statistics also enter the loss.
      const t0 = b.batchNormTraining(h, g, undefined, 1e-3, { activation: 'relu' });
      // A residual block's tail: batch norm, + the block's input, ReLU.
      const t = b.batchNormTraining(t0.y, undefined, g, 1e-3, { residual: h, activation: 'relu' });
      const stats = b.sum(b.add(b.mul(t.mean, 0.3), b.mul(t.variance, 0.2)));
      return b.add(b.softmaxCrossEntropy(b.mean(t.y, [1, 2]), y), stats);
    }, [x, g]);
    return [b.readSync(value), ...grads.map((t) => b.readSync(t))];
  };
  const got = run(fused);
  const want = run(plain);
  for (const name of [
    'reluBackward',
    'softmaxCrossEntropy',
    'softmaxCrossEntropyBackward',
    'batchNorm',
    'batchNormBackward',
    'batchNormTraining',
    'batchNormTrainingBackward',
    'conv2dBiasActivation',
    'biasActivationBackward',
  ]) {
    expect(calls.get(name), name).toBeGreaterThan(0);
  }
  got.forEach((g, i) => {
    const w = want[i]!;
    expect(g.length).toBe(w.length);
    const scale = Math.max(...Array.from(w, Math.abs), 1e-6);
    for (let j = 0; j < g.length; j++) {
      expect(Math.abs(g[j]! - w[j]!), `output ${i}, element ${j}`).toBeLessThan(1e-5 * scale);
    }
  });
});
