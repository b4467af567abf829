import { type Backend, createReferenceBackend, DqaError, straightThrough } from '@dqa/core';
import { pact } from '@dqa/quantizers';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import {
  createTfjsBackend,
  registerComparisonGradients,
  registerTrainingKernels,
} from '../src/index.js';

// Importing tfjs-node here would make it tfjs' active backend; where it loads, 'auto' must take it.
const tfjsNode = '@tensorflow/tfjs-node';
const tfjsNodeLoads = await import(/* @vite-ignore */ tfjsNode).then(
  () => true,
  () => false,
);

function thrown(fn: () => unknown): DqaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DqaError) return e;
    throw e;
  }
  throw new Error('expected a DqaError, nothing was thrown');
}

describe('choosing the engine', () => {
  it(`'auto' takes ${tfjsNodeLoads ? 'tfjs-node' : 'wasm (tfjs-node does not load here)'} and says why`, async () => {
    const b = await createTfjsBackend();
    expect(b.info.requested).toBe('auto');
    if (tfjsNodeLoads) {
      expect(b.engine).toBe('tensorflow');
      expect(b.info.reason).toMatch(/tfjs-node is installed/);
    } else {
      expect(b.engine).toBe('wasm');
      expect(b.name).toBe('tfjs-wasm');
      expect(tf.getBackend()).toBe('wasm');
      expect(b.info.reason).toMatch(
        /^auto: @tensorflow\/tfjs-node (is not installed|is installed but failed to load \(.+\)), so wasm$/,
      );
      expect(b.info.threads).toBe(1);
      expect(b.describe()).toMatch(
        /^tfjs-wasm \(tfjs 4\.22\.0, SIMD (on|off), 1 thread\(s\)\); auto: /,
      );
    }
  });

  it(`'tensorflow' ${tfjsNodeLoads ? 'runs on tfjs-node' : 'without tfjs-node is a clear error saying how to install it'}`, async () => {
    const p = createTfjsBackend({ engine: 'tensorflow' });
    if (tfjsNodeLoads) {
      expect((await p).name).toBe('tfjs-tensorflow');
      return;
    }
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(DqaError);
    expect((e as DqaError).code).toBe('BACKEND_UNAVAILABLE');
    expect((e as DqaError).message).toMatch(
      /engine 'tensorflow' needs @tensorflow\/tfjs-node, which .*Install it with `pnpm add @tensorflow\/tfjs-node@4\.22\.0.*or choose engine 'wasm' or 'cpu'/,
    );
  });

  it('rejects an unknown engine and a bad thread count, listing what is accepted', async () => {
    await expect(createTfjsBackend({ engine: 'webgl' as 'cpu' })).rejects.toThrow(
      /engine must be one of 'auto', 'wasm', 'cpu', 'tensorflow', got "webgl"/,
    );
    await expect(createTfjsBackend({ engine: 'cpu', threads: 0 })).rejects.toThrow(
      /threads must be a positive integer, got 0/,
    );
  });

  it('fails clearly once tfjs was switched to another backend behind its back', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const x = b.fill([2], 1);
    await tf.setBackend('wasm');
    const e = thrown(() => b.add(x, 1));
    expect(e.code).toBe('BACKEND_STATE');
    expect(e.message).toMatch(
      /^add: backend 'tfjs-cpu' needs tfjs' active backend to be 'cpu', but it was switched to 'wasm'/,
    );
    // A second backend switches tfjs too: the first one refuses, the second works.
    const w = await createTfjsBackend({ engine: 'wasm' });
    expect(() => b.readSync(x)).toThrow(/switched to 'wasm'/);
    expect(Array.from(w.readSync(w.add(w.fill([2], 1), 1)))).toEqual([2, 2]);
    // Switching back makes the first usable again.
    await tf.setBackend('cpu');
    expect(Array.from(b.readSync(b.add(x, 1)))).toEqual([2, 2]);
    b.dispose(x);
  });
});

describe('plain tfjs tensors', () => {
  it('returns plain tf.Tensors and tf.Variables that tf ops and optimizers use directly', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const y = b.add(b.tensor([1, 2, 3], [3]), 1);
    expect(y).toBeInstanceOf(tf.Tensor);
    expect(y.dtype).toBe('float32');
    expect(Array.from(tf.mul(y, 2).dataSync())).toEqual([4, 6, 8]);
    // …and takes tensors tfjs made.
    expect(Array.from(b.readSync(b.mul(tf.tensor([1, 2]), 3)))).toEqual([3, 6]);
    // Comparisons are float masks.
    const m = b.greater(tf.tensor([1, 2, 3]), 2);
    expect(m.dtype).toBe('float32');
    expect(Array.from(b.readSync(m))).toEqual([0, 0, 1]);

    const v = b.variable(b.fill([2], 1), { name: 'plain/v' });
    expect(v).toBeInstanceOf(tf.Variable);
    expect(tf.engine().registeredVariables['plain/v']).toBe(v);
    const { value, grads } = b.valueAndGrads(() => b.sum(b.square(v)), [v]);
    tf.train.sgd(0.25).applyGradients({ 'plain/v': grads[0]! });
    expect(Array.from(v.dataSync())).toEqual([0.5, 0.5]);
    expect(value.rank).toBe(0);
    tf.dispose([value, ...grads, v, y, m]);
  });

  it('reads back copies and copies the values it is given (tfjs cpu shares arrays)', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const src = Float32Array.of(1, 2, 3);
    const t = b.tensor(src, [3]);
    src[0] = 99;
    const r = b.readSync(t);
    r[1] = 99;
    expect(Array.from(b.readSync(t))).toEqual([1, 2, 3]);
    expect(Array.from(await b.read(t))).toEqual([1, 2, 3]);
    b.dispose(t);
  });

  it('names the op and the input: foreign, disposed and misshapen tensors', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const ref = createReferenceBackend();
    expect(() => b.add(ref.fill([2], 1), 1)).toThrow(
      /^add: expected a tf.Tensor of backend 'tfjs-cpu', got a tensor of backend 'reference'$/,
    );
    const x = b.fill([2, 3], 1);
    b.dispose(x);
    b.dispose(x);
    expect(thrown(() => b.relu(x)).code).toBe('DISPOSED_TENSOR');
    expect(() => b.reshape(b.fill([2, 3], 1), [4, -1])).toThrow(
      /^reshape: cannot reshape \[2, 3\]/,
    );
    expect(() => b.sum(b.fill([2, 3], 1), 2)).toThrow(/^sum: axis 2 is out of range/);
    expect(() => b.matMul(b.fill([2, 3], 1), b.fill([2, 3], 1))).toThrow(
      /^matMul: inner dimensions differ/,
    );
    expect(() => b.conv2d(b.fill([1, 4, 4, 2], 1), b.fill([3, 3, 3, 1], 1))).toThrow(
      /^conv2d: filter \[3, 3, 3, 1\] expects 3 input channels but the input \[1, 4, 4, 2\] has 2/,
    );
    const v = b.variable(b.fill([2], 0), { name: 'names/v' });
    expect(() => b.variable(b.fill([2], 0), { name: 'names/v' })).toThrow(
      /a variable named 'names\/v' already exists/,
    );
    b.dispose(v);
  });
});

describe('gradients', () => {
  it('leaks no tensor across valueAndGrads, custom gradients and unused variables included', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const w = b.variable(b.tensor([0.5, 1.5, 3, 7, -1, 2], [2, 3]), { name: 'leak/w' });
    const alpha = b.variable(b.scalar(2), { name: 'leak/alpha' });
    const unused = b.variable(b.fill([4], 1), { name: 'leak/unused' });
    const step = () => {
      const { value, grads } = b.valueAndGrads(() => {
        const h = b.relu(b.mul(w, 1.5));
        const q = pact.forward(b, h, {
          bits: 2,
          granularity: 'tensor',
          channelAxis: 0,
          params: { alpha },
        });
        // A custom op backprop never reaches (its input does not depend on wrt).
        const constant = straightThrough(b, b.fill([3], 0.4), (t) => b.floor(t));
        return b.add(b.sum(q), b.sum(constant));
      }, [w, alpha, unused]);
      const out = grads.map((g) => Array.from(b.readSync(g)));
      b.dispose([value, ...grads]);
      return out;
    };
    step(); // warm-up: tfjs caches nothing per tensor, but kernels may set up once
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const [gw, gAlpha, gUnused] = step();
      // PACT: dx passes where 0 ≤ 1.5·w < α (times 1.5 from the mul), dα counts the clipped.
      expect(gw).toEqual([1.5, 0, 0, 0, 0, 0]);
      expect(gAlpha).toEqual([4]);
      expect(gUnused).toEqual([0, 0, 0, 0]);
    }
    expect(tf.memory().numTensors).toBe(before);
    b.dispose([w, alpha, unused]);
  });

  it("custom gradients work under tfjs' own tape (tf.grad, optimizers, model.fit)", async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const x = tf.tensor([0.5, 3, -1, 10]);
    const before = tf.memory().numTensors;
    // PACT without α: the rule reads its input, an intermediate tfjs disposes after the forward.
    const g = tf.grad((t: tf.Tensor) =>
      tf.sum(
        pact.forward(b, tf.mul(t, 2), {
          bits: 2,
          granularity: 'tensor',
          channelAxis: 0,
          params: {},
        }) as tf.Tensor,
      ),
    )(x);
    // d/dx of quantize(2x): 2 where 0 ≤ 2x < max(2x) = 20.
    expect(Array.from(g.dataSync())).toEqual([2, 2, 0, 0]);
    g.dispose();
    expect(b.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('customGrad outside any tape returns the value and holds nothing', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const x = b.tensor([0.4, 1.6], [2]);
    const before = tf.memory().numTensors;
    const y = b.customGrad((t) => ({ value: t!, gradFunc: (dy) => [dy] }))(x);
    expect(y).not.toBe(x);
    b.dispose(y);
    expect(Array.from(b.readSync(x))).toEqual(Array.from(Float32Array.of(0.4, 1.6)));
    expect(tf.memory().numTensors).toBe(before);
    b.dispose(x);
  });

  it('plain tf.grad runs through comparisons after import (tfjs has no gradient for Greater)', () => {
    const x = tf.tensor([-1, 2, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.where(tf.greater(t, 0), tf.square(t), t)))(x);
    expect(Array.from(g.dataSync())).toEqual([1, 4, 6]);
    tf.dispose([x, g]);
  });

  it('dilated convolutions with strides match the reference backend, gradients included', async () => {
    // tfjs refuses strides and dilations > 1 together and has no gradient for dilation.
    const b = await createTfjsBackend({ engine: 'cpu' });
    const ref = createReferenceBackend();
    const xs = Array.from({ length: 2 * 9 * 8 * 3 }, (_, i) => Math.sin(i * 0.7));
    const fs = Array.from({ length: 3 * 2 * 3 * 2 }, (_, i) => Math.cos(i * 1.3));
    const run = (k: Backend, depthwise: boolean) => {
      const x = k.variable(k.tensor(xs, [2, 9, 8, 3]), { name: `dil/x/${k.name}/${depthwise}` });
      const f = k.variable(k.tensor(fs, [3, 2, 3, 2]), { name: `dil/f/${k.name}/${depthwise}` });
      const o = { strides: [2, 3] as [number, number], dilations: [2, 3] as [number, number] };
      const { value, grads } = k.valueAndGrads(() => {
        const y = depthwise ? k.depthwiseConv2d(x, f, o) : k.conv2d(x, f, o);
        return k.sum(k.mul(y, y));
      }, [x, f]);
      const out = [value, ...grads].map((t) => Array.from(k.readSync(t)));
      k.dispose([value, ...grads, x, f]);
      return out;
    };
    for (const depthwise of [false, true]) {
      const want = run(ref, depthwise);
      const got = run(b, depthwise);
      got.forEach((g, i) => {
        g.forEach((v, j) => {
          expect(v).toBeCloseTo(want[i]![j]!, 3);
        });
      });
    }
  });
});

describe('lifecycle', () => {
  it('close() disposes its variables; later ops throw', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    const v = b.variable(b.fill([2], 1), { name: 'close/v' });
    b.close();
    expect(v.isDisposed).toBe(true);
    expect(tf.engine().registeredVariables['close/v']).toBeUndefined();
    expect(() => b.fill([1], 0)).toThrow(/^fill: backend 'tfjs-cpu' was closed$/);
  });

  it('setThreads is recorded, and describe() says when it has no effect', async () => {
    const b = await createTfjsBackend({ engine: 'cpu' });
    b.setThreads(1);
    expect(b.describe()).not.toMatch(/setThreads/);
    b.setThreads(4);
    expect(b.describe()).toMatch(/setThreads\(4\) has no effect once tfjs started/);
    expect(() => b.setThreads(0)).toThrow(/positive integer/);
  });

  it('a second import registers nothing twice and throws nothing', async () => {
    expect(() => registerComparisonGradients()).not.toThrow();
    expect(registerTrainingKernels().every((e) => e.status !== 'registered')).toBe(true);
    vi.resetModules();
    await expect(import('../src/index.js')).resolves.toBeDefined();
  });
});
