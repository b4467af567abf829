import { describe, expect, it } from 'vitest';
import {
  attention,
  type Backend,
  binaryRelaxMix,
  createReferenceBackend,
  createRelaxedQuantizer,
  createTapeBackend,
  dqaRegularizer,
  initialAlpha,
  parseConfig,
  referenceKernels,
  type StepInfo,
  softmax,
  straightThrough,
  type Tensor,
  type TensorQuantConfig,
} from '../src/index.js';
import { fakeQuantizers } from './fake-plugins.js';
import { thrown } from './helpers.js';

function read(b: Backend, t: Tensor): number[] {
  return Array.from(b.readSync(t));
}

function expectClose(got: ArrayLike<number>, want: readonly number[], tol = 1e-6): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(
      Math.abs(got[i]! - want[i]!),
      `element ${i}: ${got[i]} vs ${want[i]}`,
    ).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!)));
  }
}

function live(b: Backend): number {
  return b.memory!().numTensors;
}

describe('tape backend: gradients', () => {
  it('accumulates the gradient of a variable used twice: d/dx Σ(x·x + 3x) = 2x + 3', () => {
    const b = createReferenceBackend();
    const x = b.variable(b.tensor([1, 2, -3], [3]), { name: 'x' });
    const { value, grads } = b.valueAndGrads(() => b.sum(b.add(b.mul(x, x), b.mul(x, 3))), [x]);
    // Σ(x² + 3x) = (1 + 3) + (4 + 6) + (9 − 9) = 14.
    expect(read(b, value)).toEqual([14]);
    expect(read(b, grads[0]!)).toEqual([5, 7, -3]);
    // square, used in a separate branch, adds 2x again: 4x + 3.
    const r = b.valueAndGrads(
      () => b.sum(b.add(b.add(b.mul(x, x), b.square(x)), b.mul(x, 3))),
      [x],
    );
    expect(read(b, r.grads[0]!)).toEqual([7, 11, -9]);
  });

  it('sums broadcast gradients back to the variable’s shape', () => {
    const b = createReferenceBackend();
    const w = b.variable(b.tensor([1, 1, 1], [3]), { name: 'w' });
    const x = b.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const { grads } = b.valueAndGrads(() => b.sum(b.mul(x, w)), [w]);
    // Column sums of x.
    expect(read(b, grads[0]!)).toEqual([5, 7, 9]);
    const s = b.variable(b.scalar(2), { name: 's' });
    const r = b.valueAndGrads(() => b.sum(b.mul(x, s)), [s]);
    expect(r.grads[0]!.shape).toEqual([]);
    expect(read(b, r.grads[0]!)).toEqual([21]);
  });

  it('differentiates matMul with and without transposes', () => {
    const b = createReferenceBackend();
    const A = b.tensor([1, 2, 3, 4], [2, 2]);
    const W = b.variable(b.tensor([0, 0, 0, 0], [2, 2]), { name: 'W' });
    // d/dW Σ(A·W) = Aᵀ·1 = [[1+3, 1+3], [2+4, 2+4]].
    expect(read(b, b.valueAndGrads(() => b.sum(b.matMul(A, W)), [W]).grads[0]!)).toEqual([
      4, 4, 6, 6,
    ]);
    // d/dW Σ(A·Wᵀ) = (Aᵀ·1)ᵀ.
    expect(
      read(b, b.valueAndGrads(() => b.sum(b.matMul(A, W, false, true)), [W]).grads[0]!),
    ).toEqual([4, 6, 4, 6]);
    // d/dW Σ(Wᵀ·A) = A·1ᵀ (row sums of A in every column).
    expect(
      read(b, b.valueAndGrads(() => b.sum(b.matMul(W, A, true, false)), [W]).grads[0]!),
    ).toEqual([3, 3, 7, 7]);
  });

  it('differentiates softmax: d/dx Σ softmax(x)·r = a ⊙ (r − aᵀr)', () => {
    const b = createReferenceBackend();
    const x = b.variable(b.tensor([0, Math.log(2), Math.log(3)], [3]), { name: 'logits' });
    const r = b.tensor([1, 0, 0], [3]);
    const { value, grads } = b.valueAndGrads(() => b.sum(b.mul(b.softmax(x), r)), [x]);
    // a = [1, 2, 3]/6, aᵀr = 1/6 → a ⊙ (r − 1/6) = [5, −2, −3]/36.
    expectClose(read(b, value), [1 / 6]);
    expectClose(read(b, grads[0]!), [5 / 36, -2 / 36, -3 / 36]);
  });

  it('mean divides the gradient by the count; a variable the value ignores gets zeros', () => {
    const b = createReferenceBackend();
    const x = b.variable(b.tensor([1, 2, 3, 4], [2, 2]), { name: 'x' });
    const unused = b.variable(b.tensor([9, 9], [2]), { name: 'unused' });
    const { grads } = b.valueAndGrads(() => b.mean(x), [x, unused]);
    expect(read(b, grads[0]!)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(grads[1]!.shape).toEqual([2]);
    expect(read(b, grads[1]!)).toEqual([0, 0]);
  });

  it('valueAndGrads on a non-scalar throws naming the shape, and leaves no leak', () => {
    const b = createReferenceBackend();
    const x = b.variable(b.tensor([1, 2, 3, 4, 5, 6], [2, 3]), { name: 'x' });
    const start = live(b);
    const e = thrown(() => b.valueAndGrads(() => b.mul(x, 2), [x]));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toMatch(/must return a scalar, got shape \[2, 3\]/);
    expect(live(b)).toBe(start);
    // A single-element tensor of any rank is accepted.
    const r = b.valueAndGrads(() => b.sum(x, [0, 1], true), [x]);
    expect(r.value.shape).toEqual([1, 1]);
    expect(read(b, r.grads[0]!)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('nested valueAndGrads throws a clear error and the backend recovers', () => {
    const b = createReferenceBackend();
    const x = b.variable(b.scalar(3), { name: 'x' });
    const start = live(b);
    const e = thrown(() =>
      b.valueAndGrads(() => {
        const y = b.mul(x, x);
        b.valueAndGrads(() => b.mul(y, 2), [x]);
        return y;
      }, [x]),
    );
    expect(e.code).toBe('GRADIENT');
    expect(e.message).toMatch(
      /nested gradient computations are not supported by backend 'reference'/,
    );
    // Nothing leaked from the failed call, and gradients work again.
    expect(live(b)).toBe(start);
    const { value, grads } = b.valueAndGrads(() => b.mul(x, x), [x]);
    expect(read(b, value)).toEqual([9]);
    expect(read(b, grads[0]!)).toEqual([6]);
  });

  it('returns distinct gradient tensors, so disposing one leaves the others readable', () => {
    const b = createReferenceBackend();
    const u = b.variable(b.tensor([1, 2], [2]), { name: 'u' });
    const v = b.variable(b.tensor([3, 4], [2]), { name: 'v' });
    const start = live(b);
    // d/du and d/dv of Σ(u + v) are both the same ones: they must still be two tensors.
    const { value, grads } = b.valueAndGrads(() => b.sum(b.add(u, v)), [u, v, u]);
    expect(grads[0]).not.toBe(grads[1]);
    b.dispose(grads[0]!);
    expect(read(b, grads[1]!)).toEqual([1, 1]);
    expect(read(b, grads[2]!)).toEqual([1, 1]);
    b.dispose([value, ...grads]);
    expect(live(b)).toBe(start);
  });
});

describe('tape backend: customGrad', () => {
  it('an identity customGrad does not double-count: d/dx Σ f(x)·r = factor·r', () => {
    const b = createReferenceBackend();
    const scaleGrad = b.customGrad((x) => ({
      value: x!,
      gradFunc: (dy) => [b.mul(dy, 3)],
    }));
    const x = b.variable(b.tensor([0.5, -1, 2], [3]), { name: 'x' });
    const r = b.tensor([1, -2, 0.5], [3]);
    const once = b.valueAndGrads(() => b.sum(b.mul(scaleGrad(x), r)), [x]);
    expect(read(b, once.value)).toEqual([0.5 + 2 + 1]);
    expect(read(b, once.grads[0]!)).toEqual([3, -6, 1.5]);
    // Twice in a row: 9·r.
    const twice = b.valueAndGrads(() => b.sum(b.mul(scaleGrad(scaleGrad(x)), r)), [x]);
    expect(read(b, twice.grads[0]!)).toEqual([9, -18, 4.5]);
    // Mixed with a plain use of x: 3·r + r.
    const mixed = b.valueAndGrads(() => b.sum(b.mul(b.add(scaleGrad(x), x), r)), [x]);
    expect(read(b, mixed.grads[0]!)).toEqual([4, -8, 2]);
  });

  it('straightThrough: forward quantizes, backward passes dy unchanged', () => {
    const b = createReferenceBackend();
    const x = b.variable(b.tensor([0.4, 1.6, -0.7], [3]), { name: 'x' });
    const r = b.tensor([2, 3, 4], [3]);
    const { value, grads } = b.valueAndGrads(
      () =>
        b.sum(
          b.mul(
            straightThrough(b, x, (v) => b.floor(b.add(v, 0.5))),
            r,
          ),
        ),
      [x],
    );
    // round(x) = [0, 2, −1] → 0·2 + 2·3 − 1·4 = 2.
    expect(read(b, value)).toEqual([2]);
    expect(read(b, grads[0]!)).toEqual([2, 3, 4]);
  });

  it('custom gradients for several inputs', () => {
    const b = createReferenceBackend();
    const f = b.customGrad((p, q) => ({
      value: b.mul(p!, q!),
      gradFunc: (dy) => [b.mul(dy, 10), b.mul(dy, -1)],
    }));
    const p = b.variable(b.tensor([1, 2], [2]), { name: 'p' });
    const q = b.variable(b.tensor([3, 4], [2]), { name: 'q' });
    const { value, grads } = b.valueAndGrads(() => b.sum(f(p, q)), [p, q]);
    expect(read(b, value)).toEqual([11]);
    expect(read(b, grads[0]!)).toEqual([10, 10]);
    expect(read(b, grads[1]!)).toEqual([-1, -1]);
  });

  it('a gradFunc returning the wrong number of gradients is a GRADIENT error', () => {
    const b = createReferenceBackend();
    const f = b.customGrad((p) => ({ value: b.mul(p!, 2), gradFunc: (dy) => [dy, dy] }));
    const p = b.variable(b.scalar(1), { name: 'p' });
    const e = thrown(() => b.valueAndGrads(() => f(p), [p]));
    expect(e.code).toBe('GRADIENT');
    expect(e.message).toMatch(/gradFunc returned 2 gradients for 1 inputs/);
  });

  it('a throwing customGrad body leaves no tensors behind', () => {
    const b = createReferenceBackend();
    const x = b.tidy(() => b.variable(b.tensor([1, 2], [2]), { name: 'x' }));
    const start = live(b);
    const f = b.customGrad((v) => {
      b.mul(v!, 2);
      throw new Error('bad body');
    });
    expect(() => b.valueAndGrads(() => b.sum(f(x)), [x])).toThrow('bad body');
    expect(live(b)).toBe(start);
  });

  it('outside valueAndGrads it just computes the value and frees its temporaries', () => {
    const b = createReferenceBackend();
    const x = b.tensor([1, 2], [2]);
    const f = b.customGrad((v) => ({
      value: b.mul(b.add(v!, 1), 2),
      gradFunc: (dy) => [dy],
    }));
    const start = live(b);
    const y = f(x);
    expect(read(b, y)).toEqual([4, 6]);
    expect(live(b)).toBe(start + 1);
  });
});

describe('tape backend: memory', () => {
  it('tidy frees what it created except its result; keep survives', () => {
    const b = createReferenceBackend();
    const start = live(b);
    let temp: Tensor | undefined;
    let kept: Tensor | undefined;
    const out = b.tidy(() => {
      temp = b.tensor([1, 2], [2]);
      kept = b.keep(b.mul(temp, 10));
      return b.add(temp, 1);
    });
    expect(read(b, out)).toEqual([2, 3]);
    expect(read(b, kept!)).toEqual([10, 20]);
    const e = thrown(() => b.readSync(temp!));
    expect(e.code).toBe('DISPOSED_TENSOR');
    expect(live(b)).toBe(start + 2);
    // keep also survives an enclosing tidy.
    b.tidy(() => b.tidy(() => b.keep(b.scalar(1))));
    expect(live(b)).toBe(start + 3);
  });

  it('tidy keeps tensors returned in arrays, plain objects and maps', () => {
    const b = createReferenceBackend();
    const start = live(b);
    const arr = b.tidy(() => [b.scalar(1), b.scalar(2), 'not a tensor', b.add(b.scalar(3), 0)]);
    expect(read(b, arr[0] as Tensor)).toEqual([1]);
    expect(read(b, arr[3] as Tensor)).toEqual([3]);
    const obj = b.tidy(() => ({ a: b.scalar(4), nested: { c: [b.scalar(5)] } }));
    expect(read(b, obj.a)).toEqual([4]);
    expect(read(b, obj.nested.c[0]!)).toEqual([5]);
    const map = b.tidy(() => new Map([['m', b.scalar(6)]]));
    expect(read(b, map.get('m')!)).toEqual([6]);
    // 3 + 2 + 1 results; the scalar 3 and the scalar 0 operand were freed.
    expect(live(b)).toBe(start + 6);
  });

  it('a nested tidy hands its result to the outer scope', () => {
    const b = createReferenceBackend();
    const start = live(b);
    let inner: Tensor | undefined;
    b.tidy(() => {
      inner = b.tidy(() => b.scalar(1));
      expect(read(b, inner)).toEqual([1]);
      return null;
    });
    expect(thrown(() => b.readSync(inner!)).code).toBe('DISPOSED_TENSOR');
    expect(live(b)).toBe(start);
  });

  it('a throwing tidy frees what it created', () => {
    const b = createReferenceBackend();
    const start = live(b);
    expect(() =>
      b.tidy(() => {
        b.tensor([1, 2, 3], [3]);
        b.mul(b.scalar(2), 3);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live(b)).toBe(start);
  });

  it('numTensors returns to its start after valueAndGrads results are disposed', () => {
    const b = createReferenceBackend();
    const w = b.variable(b.tensor([0.1, -0.2, 0.3, 0.4, -0.5, 0.6], [1, 1, 2, 3]), { name: 'w' });
    const alpha = b.variable(b.tensor([1, 2, 3], [3]), { name: 'alpha' });
    const x = b.tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    const start = live(b);
    for (let i = 0; i < 3; i++) {
      const { value, grads } = b.valueAndGrads(() => {
        const q = straightThrough(b, w, (v) => b.floor(b.mul(v, 4)));
        const y = b.relu(b.conv2d(x, q));
        const a = b.softmax(b.div(alpha, 0.5));
        const logits = b.reshape(b.mul(b.mean(y, [1, 2]), a), [1, 3]);
        return b.softmaxCrossEntropy(logits, b.tensor([0, 1, 0], [1, 3]));
      }, [w, alpha]);
      expect(grads.map((g) => g.shape)).toEqual([[1, 1, 2, 3], [3]]);
      b.dispose([value, ...grads]);
      expect(live(b)).toBe(start);
    }
  });

  it('using a disposed tensor throws DISPOSED_TENSOR; disposing twice is a no-op', () => {
    const b = createReferenceBackend();
    const t = b.tensor([1, 2], [2]);
    b.dispose(t);
    b.dispose(t);
    for (const fn of [
      () => b.add(t, 1),
      () => b.readSync(t),
      () => b.reshape(t, [2, 1]),
      () => b.keep(t),
      () => b.variable(t, { name: 'v' }),
    ]) {
      const e = thrown(fn);
      expect(e.code).toBe('DISPOSED_TENSOR');
      expect(e.message).toMatch(/Tensor\(reference, \[2\]\) was disposed/);
    }
  });

  it('reshape shares storage but disposing one handle keeps the other', () => {
    const b = createReferenceBackend();
    const t = b.tensor([1, 2, 3, 4], [2, 2]);
    const r = b.reshape(t, [-1]);
    expect(r.shape).toEqual([4]);
    b.dispose(t);
    expect(read(b, r)).toEqual([1, 2, 3, 4]);
  });
});

describe('tape backend: variables', () => {
  it('duplicate names throw; disposing frees the name', () => {
    const b = createReferenceBackend();
    const v = b.variable(b.scalar(1), { name: 'layer/w' });
    const e = thrown(() => b.variable(b.scalar(2), { name: 'layer/w' }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/a variable named 'layer\/w' already exists on backend 'reference'/);
    b.dispose(v);
    const again = b.variable(b.scalar(3), { name: 'layer/w' });
    expect(read(b, again)).toEqual([3]);
    // Other backends have their own names.
    expect(() =>
      createReferenceBackend().variable(createReferenceBackend().scalar(0), { name: 'x' }),
    ).toThrow(/expected a tensor of backend/);
  });

  it('variables survive tidy, copy their initial value and assign in place', () => {
    const b = createReferenceBackend();
    const init = b.tensor([1, 2], [2]);
    const v = b.tidy(() => b.variable(init, { name: 'v', trainable: false }));
    expect(v.name).toBe('v');
    expect(v.trainable).toBe(false);
    b.dispose(init);
    expect(read(b, v)).toEqual([1, 2]);
    const next = b.tensor([5, 6], [2]);
    v.assign(next);
    b.dispose(next);
    expect(read(b, v)).toEqual([5, 6]);
    const e = thrown(() => v.assign(b.tensor([1, 2, 3], [3])));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toMatch(
      /variable 'v'.assign: value of shape \[3\] does not match the variable's \[2\]/,
    );
    expect(b.variable(b.scalar(0), { name: 'w' }).trainable).toBe(true);
  });
});

describe('tape backend: tensors never cross backends', () => {
  it('names both backends', () => {
    const a = createTapeBackend(referenceKernels, 'ref-a');
    const b = createTapeBackend(referenceKernels, 'ref-b');
    const t = a.tensor([1], [1]);
    const e = thrown(() => b.add(t, 1));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe("add: expected a tensor of backend 'ref-b', got one of backend 'ref-a'");
    expect(thrown(() => b.readSync(t)).message).toMatch(/^read: .*'ref-b'.*'ref-a'/);
    expect(() => b.dispose(t)).toThrow(/'ref-a'/);
  });

  it('says so when two instances share a name', () => {
    const a = createReferenceBackend();
    const b = createReferenceBackend();
    const e = thrown(() => b.mul(a.scalar(2), 3));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/expected a tensor of backend 'reference'/);
    expect(e.message).toMatch(/got one of another 'reference' backend instance$/);
  });

  it('rejects things that are not tensors', () => {
    const b = createReferenceBackend();
    expect(thrown(() => b.neg({ shape: [1], size: 1 } as unknown as Tensor)).message).toMatch(
      /neg: expected a tensor of backend 'reference', got \[object Object\]/,
    );
  });
});

describe('createRelaxedQuantizer', () => {
  const quantizers = fakeQuantizers();
  const base = { model: { name: 'm' }, data: { name: 'd' } };
  // x with max|x| = 1: Q(x; 1) = ±1, Q(x; 2) on the levels −1, −1/3, 1/3, 1, FP = x.
  const xValues = [-1, -0.2, 0.3, 1];
  const Q = [
    [-1, -1, 1, 1],
    [-1, -1 / 3, 1 / 3, 1],
    [-1, -0.2, 0.3, 1],
  ];
  const r = [1, 2, -1, 0.5];
  const step0: StepInfo = { step: 0, totalSteps: 10, stepsPerEpoch: 5 };

  function dqaConfig(dqa: Record<string, unknown> = {}) {
    return parseConfig(
      {
        ...base,
        quantization: {
          weights: {
            relaxation: 'dqa',
            quantizers: [
              { id: 'bwn', bits: 1 },
              { id: 'minmax', bits: 2 },
              { id: 'fp', bits: 32 },
            ],
          },
        },
        relaxation: { dqa: { temperature: { t0: 2, tEnd: 0.5 }, lambda: 3, ...dqa } },
      },
      { quantizers },
    );
  }

  it('builds a DQA quantizer from a config section (eq. 1–7)', () => {
    const b = createReferenceBackend();
    const cfg = dqaConfig();
    const start = live(b);
    const rq = createRelaxedQuantizer(b, cfg.quantization.weights!, {
      name: 'conv1/weights',
      rank: 1,
      target: 'weights',
      quantizers,
      relaxationConfig: cfg.relaxation,
    });
    expect(rq.relaxation).toBe('dqa');
    expect(rq.name).toBe('conv1/weights');
    expect(rq.quantizers.map((q) => [q.plugin.id, q.bits])).toEqual([
      ['bwn', 1],
      ['minmax', 2],
      ['fp', 32],
    ]);
    expect(rq.variables.map((v) => v.name)).toEqual(['conv1/weights/dqa_alpha']);
    const alpha = rq.variables[0]!;
    // Eq. 7 with FP counted as 32 bit.
    const init = initialAlpha([1, 2, 32]);
    expectClose(read(b, alpha), init);

    // Algorithm 1: α ← α / std(α) before the step.
    rq.beforeStep(step0);
    // Σα = K − 1 = 2, so the mean is 2/3.
    const std = Math.sqrt(init.reduce((s, v) => s + (v - 2 / 3) ** 2, 0) / 3);
    expectClose(
      read(b, alpha),
      init.map((v) => v / std),
      1e-5,
    );
    // std 1 now, so normalising again changes nothing.
    const before = read(b, alpha);
    rq.beforeStep(step0);
    expectClose(read(b, alpha), before, 1e-6);

    // a = softmax(α/T) with T(0) = 2.
    const alphaNow = read(b, alpha);
    const a = softmax(alphaNow.map((v) => v / 2));
    expectClose(rq.mixingWeights(step0), a, 1e-6);
    expectClose(rq.mixingWeights(step0), attention(init, 2), 1e-5);

    // q = Σ_k a_k Q_k(x).
    const x = b.tensor(xValues, [4]);
    const q = rq.forward(x, step0);
    const want = xValues.map((_, i) => a[0]! * Q[0]![i]! + a[1]! * Q[1]![i]! + a[2]! * Q[2]![i]!);
    expectClose(read(b, q), want, 1e-6);

    // The hard quantizer is Q_1.
    const hard = rq.hard(x);
    expect(read(b, hard)).toEqual(Q[0]);

    // Eq. 6 with λ = 3, g = [1, 4, 16], S = 1000.
    const reg = rq.regularizer(step0, 1000)!;
    expect(reg.shape).toEqual([]);
    expectClose(read(b, reg), [dqaRegularizer(a, [1, 4, 16], 3, 1000)], 1e-6);
    expectClose(read(b, reg), [(3 * (a[0]! + 4 * a[1]! + 16 * a[2]!)) / 1000], 1e-6);
    expect(() => rq.regularizer(step0, 0)).toThrow(/weight count S must be positive/);

    // Later steps cool down: T(B) = 0.5 concentrates the attention on Q_1.
    const end: StepInfo = { ...step0, step: 10 };
    expectClose(rq.mixingWeights(end), softmax(alphaNow.map((v) => v / 0.5)), 1e-6);
    expect(rq.mixingWeights(end)[0]!).toBeGreaterThan(rq.mixingWeights(step0)[0]!);

    b.dispose([x, q, hard, reg]);
    rq.dispose();
    expect(live(b)).toBe(start);
  });

  it('DQA gradients: STE to the weights, softmax to α', () => {
    const b = createReferenceBackend();
    const cfg = dqaConfig();
    const rq = createRelaxedQuantizer(b, cfg.quantization.weights!, {
      name: 'w',
      rank: 1,
      target: 'weights',
      quantizers,
      relaxationConfig: cfg.relaxation,
    });
    rq.beforeStep(step0);
    const alpha = rq.variables[0]!;
    const w = b.variable(b.tensor(xValues, [4]), { name: 'weights' });
    const rt = b.tensor(r, [4]);
    const T = 2;
    const a = softmax(read(b, alpha).map((v) => v / T));
    const { grads } = b.valueAndGrads(() => b.sum(b.mul(rq.forward(w, step0), rt)), [w, alpha]);
    // Every Q_k passes dy straight through, so d/dw = Σ_k a_k·r = r.
    expectClose(read(b, grads[0]!), r, 1e-6);
    // c_k = Σ_i Q_k[i]·r_i; d/dα_j Σ_k a_k c_k = a_j (c_j − Σ_k a_k c_k) / T.
    const c = Q.map((row) => row.reduce((s, v, i) => s + v * r[i]!, 0));
    const mean = a.reduce((s, ak, k) => s + ak * c[k]!, 0);
    expectClose(
      read(b, grads[1]!),
      a.map((aj, j) => (aj * (c[j]! - mean)) / T),
      1e-5,
    );
    // The regularizer pushes α away from the expensive quantizers:
    // d/dα_j λ·gᵀa/S = λ/S · a_j (g_j − gᵀa) / T.
    const g = [1, 4, 16];
    const ga = a.reduce((s, ak, k) => s + ak * g[k]!, 0);
    const rg = b.valueAndGrads(() => rq.regularizer(step0, 10)!, [alpha]);
    expectClose(
      read(b, rg.grads[0]!),
      a.map((aj, j) => ((3 / 10) * aj * (g[j]! - ga)) / T),
      1e-5,
    );
    expect(read(b, rg.grads[0]!)[0]!).toBeLessThan(0);
    expect(read(b, rg.grads[0]!)[2]!).toBeGreaterThan(0);
  });

  it('DQA honours explicit init, g and normalize: false', () => {
    const b = createReferenceBackend();
    const cfg = dqaConfig({ init: [0.5, 0.5, 0.5], g: [1, 2, 3], normalize: false });
    const rq = createRelaxedQuantizer(b, cfg.quantization.weights!, {
      name: 'w',
      rank: 1,
      target: 'weights',
      quantizers,
      relaxationConfig: cfg.relaxation,
    });
    const alpha = rq.variables[0]!;
    rq.beforeStep(step0);
    expect(read(b, alpha)).toEqual([0.5, 0.5, 0.5]);
    expectClose(rq.mixingWeights(step0), [1 / 3, 1 / 3, 1 / 3], 1e-7);
    // gᵀa = 2 → λ·2/S.
    expectClose(read(b, rq.regularizer(step0, 6)!), [1], 1e-6);
    // Without normalisation the raw α/T is used.
    alpha.assign(b.tensor([2, 0, 0], [3]));
    expectClose(rq.mixingWeights(step0), softmax([1, 0, 0]), 1e-7);
    // std 0 with normalisation on leaves α alone as well.
    const cfg2 = dqaConfig({ init: [0.25, 0.25, 0.25] });
    const rq2 = createRelaxedQuantizer(b, cfg2.quantization.weights!, {
      name: 'w2',
      rank: 1,
      target: 'weights',
      quantizers,
      relaxationConfig: cfg2.relaxation,
    });
    rq2.beforeStep(step0);
    expect(read(b, rq2.variables[0]!)).toEqual([0.25, 0.25, 0.25]);
  });

  it('builds Binary-Relax with the literal and scaled ω schedules', () => {
    const b = createReferenceBackend();
    const spec: TensorQuantConfig = {
      relaxation: 'binary-relax',
      quantizers: [
        { id: 'bwn', bits: 1, granularity: 'tensor', channelAxis: -1 },
        { id: 'fp', bits: 32, granularity: 'tensor', channelAxis: -1 },
      ],
    };
    const opts = { name: 'fc/weights', rank: 1, target: 'weights' as const, quantizers };
    const literal = createRelaxedQuantizer(b, spec, opts);
    expect(literal.variables).toEqual([]);
    // Step 25 with 10 steps per epoch is epoch 2: ω = 1.02².
    const s: StepInfo = { step: 25, totalSteps: 100, stepsPerEpoch: 10 };
    const w = 1.02 ** 2;
    expectClose(literal.mixingWeights(s), [w / (w + 1), 1 / (w + 1)], 1e-12);
    const x = b.tensor(xValues, [4]);
    expectClose(
      read(b, literal.forward(x, s)),
      xValues.map((v, i) => (w * Q[0]![i]! + v) / (w + 1)),
      1e-6,
    );
    expect(literal.regularizer(s, 10)).toBeNull();

    const scaled = createRelaxedQuantizer(b, spec, {
      ...opts,
      name: 'fc2/weights',
      relaxationConfig: {
        dqa: dqaConfig().relaxation.dqa,
        binaryRelax: { schedule: 'scaled', growth: 1.02, refEpochs: 300 },
      },
    });
    // Half-way through the run: ω = 1.02^150.
    expectClose(
      scaled.mixingWeights({ step: 50, totalSteps: 100, stepsPerEpoch: 10 }),
      binaryRelaxMix(1.02 ** 150, 2),
      1e-12,
    );
  });

  it('creates plugin parameters (PACT’s α) as variables and trains them', () => {
    const b = createReferenceBackend();
    const start = live(b);
    const spec: TensorQuantConfig = {
      relaxation: 'ste',
      quantizers: [{ id: 'pact', bits: 4, granularity: 'tensor', channelAxis: -1 }],
    };
    const rq = createRelaxedQuantizer(b, spec, {
      name: 'conv2/act',
      rank: 4,
      target: 'activations',
      quantizers,
    });
    expect(rq.relaxation).toBe('ste');
    expect(rq.variables.map((v) => v.name)).toEqual(['conv2/act/pact4/alpha']);
    const clip = rq.variables[0]!;
    expect(clip.shape).toEqual([]);
    // init(bits) = 4 + bits.
    expect(read(b, clip)).toEqual([8]);
    expect(rq.quantizers[0]!.params.alpha).toBe(clip);
    expect(rq.mixingWeights(step0)).toEqual([1]);
    expect(rq.regularizer(step0, 10)).toBeNull();

    const x = b.tidy(() => b.variable(b.tensor([-1, 1, 5, 10], [4]), { name: 'act' }));
    const { value, grads } = b.valueAndGrads(() => b.sum(rq.forward(x, step0)), [x, clip]);
    // min(relu(x), 8) = [0, 1, 5, 8].
    expect(read(b, value)).toEqual([14]);
    expect(read(b, grads[0]!)).toEqual([0, 1, 1, 0]);
    expect(read(b, grads[1]!)).toEqual([1]);
    b.dispose([value, ...grads, x]);

    rq.dispose();
    expect(live(b)).toBe(start);
    // The variable name is free again.
    createRelaxedQuantizer(b, spec, {
      name: 'conv2/act',
      rank: 4,
      target: 'activations',
      quantizers,
    });
  });

  it('resolves negative channel axes and rejects out-of-range ones', () => {
    const b = createReferenceBackend();
    const perChannel = (channelAxis: number): TensorQuantConfig => ({
      relaxation: 'ste',
      quantizers: [{ id: 'minmax', bits: 4, granularity: 'channel', channelAxis }],
    });
    const rq = createRelaxedQuantizer(b, perChannel(-1), {
      name: 'c',
      rank: 4,
      target: 'weights',
      quantizers,
    });
    expect(rq.quantizers[0]!.channelAxis).toBe(3);
    expect(() =>
      createRelaxedQuantizer(b, perChannel(2), {
        name: 'd',
        rank: 2,
        target: 'weights',
        quantizers,
      }),
    ).toThrow(/d: channel axis 2 is out of range for a rank-2 tensor/);
    expect(() =>
      createRelaxedQuantizer(b, perChannel(-3), {
        name: 'e',
        rank: 2,
        target: 'weights',
        quantizers,
      }),
    ).toThrow(/channel axis -3/);
  });

  it('rejects bad specs and frees the variables it already created', () => {
    const b = createReferenceBackend();
    const start = live(b);
    const q = (id: string, bits: number) => ({
      id,
      bits,
      granularity: 'tensor' as const,
      channelAxis: -1,
    });
    const opts = { name: 'L', rank: 2, target: 'activations' as const, quantizers };
    // pact’s α is created, then bwn fails (it only quantizes weights).
    const e = thrown(() =>
      createRelaxedQuantizer(
        b,
        { relaxation: 'dqa', quantizers: [q('pact', 2), q('bwn', 1)] },
        opts,
      ),
    );
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe("L: quantizer 'bwn' cannot quantize activations");
    expect(live(b)).toBe(start);
    createRelaxedQuantizer(b, { relaxation: 'ste', quantizers: [q('pact', 2)] }, opts).dispose();

    expect(
      thrown(() =>
        createRelaxedQuantizer(
          b,
          { relaxation: 'ste', quantizers: [q('bwn', 2)] },
          {
            ...opts,
            target: 'weights',
          },
        ),
      ).code,
    ).toBe('UNSUPPORTED_BITS');
    const k = thrown(() =>
      createRelaxedQuantizer(
        b,
        { relaxation: 'ste', quantizers: [q('pact', 2), q('pact', 4)] },
        opts,
      ),
    );
    expect(k.code).toBe('INVALID_ARGUMENT');
    expect(k.message).toMatch(/relaxation 'ste' takes 1–1 quantizers, got 2/);
    expect(
      thrown(() => createRelaxedQuantizer(b, { relaxation: 'lsq', quantizers: [] }, opts)).code,
    ).toBe('UNKNOWN_PLUGIN');
    expect(
      thrown(() =>
        createRelaxedQuantizer(b, { relaxation: 'ste', quantizers: [q('sawb', 2)] }, opts),
      ).message,
    ).toMatch(/unknown quantizer 'sawb'/);
    expect(live(b)).toBe(start);
  });
});

describe('tape backend: fused ops name their bad inputs', () => {
  it('fusedConv2d and batchNormTraining reject a bad activation, bias, scale or residual', () => {
    const b = createReferenceBackend();
    const x = b.tensor(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3]);
    const w = b.tensor(new Float32Array(3 * 3 * 3 * 5), [3, 3, 3, 5]);
    expect(() => b.fusedConv2d(x, w, { activation: 'tanh' as 'relu', padding: 'same' })).toThrow(
      /fusedConv2d: activation must be 'linear' or 'relu', got 'tanh'/,
    );
    expect(() => b.fusedConv2d(x, w, { bias: b.tensor([1, 2, 3], [3]), padding: 'same' })).toThrow(
      /fusedConv2d: bias must be \[5\] for 5 output channels, got \[3\]/,
    );
    expect(() => b.batchNormTraining(x, undefined, b.tensor([1, 2], [2]))).toThrow(
      /batchNormTraining: scale must be \[3\] for x \[2, 4, 4, 3\], got \[2\]/,
    );
    expect(() => b.batchNormTraining(x, undefined, undefined, 1e-3, { residual: w })).toThrow(
      /batchNormTraining: the residual must have x's shape \[2, 4, 4, 3\], got \[3, 3, 3, 5\]/,
    );
    expect(() => b.batchNormTraining(b.tensor([1, 2, 3], [3]))).toThrow(
      /batchNormTraining: x must have a batch axis and a channel axis, got \[3\]/,
    );
    b.dispose([x, w]);
  });
});
