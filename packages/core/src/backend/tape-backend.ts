import { ArgumentError, DqaError, ShapeError } from '../errors.js';
import type {
  Backend,
  BatchNormEpilogue,
  BatchNormTrainingResult,
  Conv2DOptions,
  CustomGradResult,
  FusedActivation,
  FusedConv2DOptions,
  MemoryInfo,
  Operand,
  Pool2DOptions,
  ReplicaRecipe,
  Tensor,
  ValueAndGrads,
  Variable,
} from './backend.js';
import { composedBatchNormTraining } from './composed.js';
import type { BinaryOp, Kernels, UnaryOp } from './kernels.js';
import {
  assertShape,
  broadcastedAxes,
  broadcastShapes,
  type Conv2DGeometry,
  checkBatchNormTraining,
  checkConvBias,
  checkFusedActivation,
  conv2dGeometry,
  formatShape,
  inferReshape,
  normalizeAxes,
  normalizePerm,
  pool2dGeometry,
  reducedShape,
  sizeOf,
} from './shape.js';

/**
 * A full `Backend` built from forward/backward `Kernels` by tape-based reverse-mode autodiff:
 * while `valueAndGrads` runs, every op whose inputs depend on a watched variable is recorded with
 * its gradient rule, and the tape is replayed backwards from the scalar result. Each op below keeps
 * its forward and its gradient side by side.
 *
 * Memory: storage is reference-counted (reshape and variables share it); `tidy` scopes release
 * what they created; tensors saved for the backward pass are retained by the tape until it ends.
 */
export interface TapeBackendOptions {
  /** How a worker thread builds the same backend (data-parallel training). */
  replica?: ReplicaRecipe;
  /** The kernels keep tensors in this process's memory (see `Backend.hostMemory`). */
  hostMemory?: boolean;
}

export function createTapeBackend<S>(
  kernels: Kernels<S>,
  name: string = kernels.name,
  options: TapeBackendOptions = {},
): Backend {
  const backend = new TapeBackend(kernels, name);
  if (options.replica) Object.defineProperty(backend, 'replica', { value: options.replica });
  if (options.hostMemory) Object.defineProperty(backend, 'hostMemory', { value: true });
  return backend;
}

class Storage<S> {
  refs = 1;
  constructor(
    readonly data: S,
    readonly size: number,
  ) {}
}

let nextId = 1;

class TapeTensor<S> implements Tensor {
  readonly id: number;
  readonly size: number;
  readonly backend: string;
  storage: Storage<S> | null;
  /** The id gradients accumulate under (differs from `id` for saved aliases). */
  gradId: number;
  scope: Set<TapeTensor<S>> | null = null;

  constructor(
    readonly owner: TapeBackend<S>,
    readonly shape: readonly number[],
    storage: Storage<S>,
  ) {
    this.id = nextId++;
    this.gradId = this.id;
    this.size = storage.size;
    this.backend = owner.name;
    this.storage = storage;
  }

  toString(): string {
    return `Tensor(${this.backend}, ${formatShape(this.shape)})`;
  }
}

class TapeVariable<S> extends TapeTensor<S> implements Variable {
  constructor(
    owner: TapeBackend<S>,
    shape: readonly number[],
    storage: Storage<S>,
    readonly name: string,
    readonly trainable: boolean,
  ) {
    super(owner, shape, storage);
  }

  assign(value: Tensor): void {
    const v = this.owner.unwrap(value, `variable '${this.name}'.assign`);
    if (v.shape.length !== this.shape.length || v.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(
        `variable '${this.name}'.assign: value of shape ${formatShape(v.shape)} does not match the variable's ${formatShape(this.shape)}`,
      );
    }
    const s = v.storage!;
    s.refs++;
    if (this.storage) this.owner.releaseStorage(this.storage);
    this.storage = s;
  }
}

type Grad<S> = TapeTensor<S> | null;

interface TapeNode<S> {
  op: string;
  /** Aliases of the inputs, retained until the tape ends; `gradId` is the original input's id. */
  inputs: TapeTensor<S>[];
  outputId: number;
  backward: (dy: TapeTensor<S>) => Grad<S>[];
}

class Tape<S> {
  readonly nodes: TapeNode<S>[] = [];
  /** gradIds of tensors that depend on a watched variable. */
  readonly requires = new Set<number>();
  /** Tensors kept alive for the backward pass. */
  readonly held: TapeTensor<S>[] = [];
}

class TapeBackend<S> implements Backend {
  private readonly scopes: Set<TapeTensor<S>>[] = [];
  private tape: Tape<S> | null = null;
  private recording = false;
  private live = 0;
  private readonly variableNames = new Set<string>();

  constructor(
    readonly kernels: Kernels<S>,
    readonly name: string,
  ) {}

  // ── plumbing ────────────────────────────────────────────────────────────────────────────
  unwrap(t: Tensor, where: string): TapeTensor<S> {
    if (!(t instanceof TapeTensor) || t.owner !== this) {
      const from = (t as Partial<Tensor> | null)?.backend;
      const got = !from
        ? String(t)
        : from === this.name
          ? `one of another '${from}' backend instance`
          : `one of backend '${from}'`;
      throw new ArgumentError(`${where}: expected a tensor of backend '${this.name}', got ${got}`);
    }
    if (!t.storage) throw new DqaError('DISPOSED_TENSOR', `${where}: ${t.toString()} was disposed`);
    return t as TapeTensor<S>;
  }

  releaseStorage(s: Storage<S>): void {
    s.refs--;
    if (s.refs === 0) this.kernels.release(s.data);
  }

  private track(t: TapeTensor<S>): TapeTensor<S> {
    this.live++;
    const scope = this.scopes[this.scopes.length - 1];
    if (scope) {
      scope.add(t);
      t.scope = scope;
    }
    return t;
  }

  private make(data: S, shape: readonly number[]): TapeTensor<S> {
    return this.track(new TapeTensor(this, shape, new Storage(data, sizeOf(shape))));
  }

  /** A new handle on the same storage (for reshape, variables and saved inputs). */
  private alias(
    t: TapeTensor<S>,
    shape: readonly number[],
    tracked: boolean,
    sameGradId = false,
  ): TapeTensor<S> {
    const s = t.storage!;
    s.refs++;
    const a = new TapeTensor(this, shape, s);
    a.gradId = t.gradId;
    if (tracked) {
      if (!sameGradId) a.gradId = a.id;
      this.track(a);
    } else this.live++;
    return a;
  }

  private d(t: TapeTensor<S>): S {
    return t.storage!.data;
  }

  private operand(x: Operand, where: string, temps: TapeTensor<S>[]): TapeTensor<S> {
    if (typeof x === 'number') {
      const t = new TapeTensor(this, [], new Storage(this.kernels.fill(1, x), 1));
      this.live++;
      temps.push(t);
      return t;
    }
    return this.unwrap(x, where);
  }

  /**
   * Runs one op: computes the output and, while recording and if any input needs a gradient,
   * records the node with its gradient rule. The rule learns which inputs need a gradient
   * (`needs`), so it may skip the others' (a convolution's input gradient for the image).
   */
  private record(
    op: string,
    inputs: TapeTensor<S>[],
    out: TapeTensor<S>,
    backward: (
      dy: TapeTensor<S>,
      saved: TapeTensor<S>[],
      y: TapeTensor<S>,
      needs: readonly boolean[],
    ) => Grad<S>[],
    saveOutput = false,
  ): TapeTensor<S> {
    const tape = this.tape;
    if (!tape || !this.recording || !inputs.some((t) => tape.requires.has(t.gradId))) return out;
    const needs = inputs.map((t) => tape.requires.has(t.gradId));
    const saved = inputs.map((t) => this.alias(t, t.shape, false));
    tape.held.push(...saved);
    let y = out;
    if (saveOutput) {
      y = this.alias(out, out.shape, false);
      tape.held.push(y);
    }
    tape.requires.add(out.gradId);
    tape.nodes.push({
      op,
      inputs: saved,
      outputId: out.gradId,
      backward: (dy) => backward(dy, saved, y, needs),
    });
    return out;
  }

  private disposeTemps(temps: TapeTensor<S>[]): void {
    for (const t of temps) this.disposeOne(t);
  }

  private disposeOne(t: TapeTensor<S>): void {
    if (!t.storage) return;
    if (t instanceof TapeVariable) this.variableNames.delete(t.name);
    this.releaseStorage(t.storage);
    t.storage = null;
    t.scope?.delete(t);
    t.scope = null;
    this.live--;
  }

  // ── creation and read-back ──────────────────────────────────────────────────────────────
  tensor(values: ArrayLike<number>, shape: readonly number[]): Tensor {
    assertShape(shape, 'tensor');
    const size = sizeOf(shape);
    if (values.length !== size) {
      throw new ShapeError(
        `tensor: ${values.length} values do not fill shape ${formatShape(shape)} (${size} elements)`,
      );
    }
    const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.make(this.kernels.upload(f32, size), [...shape]);
  }

  scalar(value: number): Tensor {
    return this.make(this.kernels.fill(1, value), []);
  }

  fill(shape: readonly number[], value: number): Tensor {
    assertShape(shape, 'fill');
    return this.make(this.kernels.fill(sizeOf(shape), value), [...shape]);
  }

  async read(t: Tensor): Promise<Float32Array> {
    return this.readSync(t);
  }

  readSync(t: Tensor): Float32Array {
    const x = this.unwrap(t, 'read');
    return this.kernels.download(this.d(x), x.size);
  }

  // ── memory ──────────────────────────────────────────────────────────────────────────────
  tidy<T>(fn: () => T): T {
    const scope = new Set<TapeTensor<S>>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      // A failed scope frees what it created, as tfjs does.
      this.scopes.pop();
      for (const t of [...scope]) this.disposeOne(t);
      throw e;
    }
    this.scopes.pop();
    const keep = new Set<TapeTensor<S>>();
    collectTensors(result, (t) => {
      if (t instanceof TapeTensor && t.owner === this) keep.add(t as TapeTensor<S>);
    });
    const parent = this.scopes[this.scopes.length - 1] ?? null;
    for (const t of [...scope]) {
      if (keep.has(t)) {
        t.scope = parent;
        parent?.add(t);
      } else this.disposeOne(t);
    }
    return result;
  }

  keep<T extends Tensor>(t: T): T {
    const x = this.unwrap(t, 'keep');
    x.scope?.delete(x);
    x.scope = null;
    return t;
  }

  dispose(t: Tensor | readonly Tensor[]): void {
    const list = Array.isArray(t) ? (t as readonly Tensor[]) : [t as Tensor];
    for (const x of list) {
      if (x instanceof TapeTensor && x.owner === this) this.disposeOne(x as TapeTensor<S>);
      else this.unwrap(x, 'dispose');
    }
  }

  memory(): MemoryInfo {
    return { numTensors: this.live };
  }

  // ── variables and gradients ────────────────────────────────────────────────────────────
  variable(initial: Tensor, options: { name: string; trainable?: boolean }): Variable {
    const x = this.unwrap(initial, `variable '${options.name}'`);
    if (this.variableNames.has(options.name)) {
      throw new ArgumentError(
        `variable: a variable named '${options.name}' already exists on backend '${this.name}'`,
      );
    }
    this.variableNames.add(options.name);
    const s = x.storage!;
    s.refs++;
    this.live++;
    return new TapeVariable(this, [...x.shape], s, options.name, options.trainable ?? true);
  }

  valueAndGrads(f: () => Tensor, wrt: readonly Variable[]): ValueAndGrads {
    if (this.tape) {
      throw new DqaError(
        'GRADIENT',
        `valueAndGrads: nested gradient computations are not supported by backend '${this.name}'`,
      );
    }
    const vars = wrt.map((v) => this.unwrap(v, 'valueAndGrads'));
    const tape = new Tape<S>();
    for (const v of vars) tape.requires.add(v.gradId);
    this.tape = tape;
    this.recording = true;
    try {
      const value = this.tidy(() => {
        const v = this.unwrap(f(), 'valueAndGrads: the function result');
        // A result the function did not create (a variable, an outer tensor) becomes a new handle
        // with the same gradient identity, so the caller owns what it gets back.
        return v.scope === this.scopes[this.scopes.length - 1]
          ? v
          : this.alias(v, v.shape, true, true);
      });
      if (value.size !== 1) {
        this.disposeOne(value);
        throw new ShapeError(
          `valueAndGrads: the function must return a scalar, got shape ${formatShape(value.shape)}`,
        );
      }
      this.recording = false;
      const grads = this.tidy(() => {
        const acc = new Map<number, TapeTensor<S>>();
        acc.set(value.gradId, this.unwrap(this.fill(value.shape, 1), 'valueAndGrads'));
        for (let i = tape.nodes.length - 1; i >= 0; i--) {
          const node = tape.nodes[i]!;
          const dy = acc.get(node.outputId);
          if (!dy) continue;
          const dxs = node.backward(dy);
          node.inputs.forEach((input, j) => {
            const dx = dxs[j];
            if (!dx || !tape.requires.has(input.gradId)) return;
            if (
              dx.shape.length !== input.shape.length ||
              dx.shape.some((d, k) => d !== input.shape[k])
            ) {
              throw new DqaError(
                'GRADIENT',
                `${node.op}: gradient of shape ${formatShape(dx.shape)} for input ${j} of shape ${formatShape(input.shape)}`,
              );
            }
            const g = dx;
            const prev = acc.get(input.gradId);
            acc.set(input.gradId, prev ? (this.add(prev, g) as TapeTensor<S>) : g);
          });
        }
        // One handle per variable (a rule may hand the same dy to several inputs), so that
        // disposing one gradient never frees another.
        const seen = new Set<TapeTensor<S>>();
        return vars.map((v) => {
          const g = acc.get(v.gradId);
          if (!g) return this.fill(v.shape, 0) as TapeTensor<S>;
          if (seen.has(g)) return this.alias(g, g.shape, true);
          seen.add(g);
          return g;
        });
      });
      return { value, grads };
    } finally {
      this.tape = null;
      this.recording = false;
      for (const t of tape.held) this.disposeOne(t);
    }
  }

  customGrad(f: (...inputs: Tensor[]) => CustomGradResult): (...inputs: Tensor[]) => Tensor {
    return (...inputs: Tensor[]): Tensor => {
      const xs = inputs.map((x, i) => this.unwrap(x, `customGrad input ${i}`));
      const tape = this.tape;
      if (!tape || !this.recording || !xs.some((x) => tape.requires.has(x.gradId))) {
        return this.tidy(() => {
          const value = this.unwrap(f(...xs).value, 'customGrad value');
          // A value that is one of the inputs becomes a new handle, so callers own what they get.
          return xs.includes(value) ? this.alias(value, value.shape, true) : value;
        });
      }
      // Recording: the ops inside f are not recorded; everything f creates lives until the tape ends.
      this.recording = false;
      const scope = new Set<TapeTensor<S>>();
      this.scopes.push(scope);
      let res: CustomGradResult;
      const saved = xs.map((x) => this.alias(x, x.shape, false));
      tape.held.push(...saved);
      try {
        res = f(...saved);
      } catch (e) {
        for (const t of [...scope]) this.disposeOne(t);
        throw e;
      } finally {
        this.scopes.pop();
        this.recording = true;
      }
      for (const t of scope) {
        t.scope = null;
        tape.held.push(t);
      }
      const value = this.unwrap(res.value, 'customGrad value');
      const out = this.alias(value, value.shape, true);
      tape.requires.add(out.gradId);
      const gradFunc = res.gradFunc;
      tape.nodes.push({
        op: 'customGrad',
        inputs: saved,
        outputId: out.gradId,
        backward: (dy) => {
          const gs = gradFunc(dy);
          if (gs.length !== saved.length) {
            throw new DqaError(
              'GRADIENT',
              `customGrad: gradFunc returned ${gs.length} gradients for ${saved.length} inputs`,
            );
          }
          return gs.map((g, i) => this.unwrap(g, `customGrad gradient ${i}`));
        },
      });
      return out;
    };
  }

  // ── elementwise ─────────────────────────────────────────────────────────────────────────
  private binaryOp(
    op: BinaryOp,
    a: Operand,
    b: Operand,
    grad?: (
      dy: TapeTensor<S>,
      a: TapeTensor<S>,
      b: TapeTensor<S>,
      y: TapeTensor<S>,
      needs: readonly boolean[],
    ) => [Grad<S>, Grad<S>],
    saveOutput = false,
  ): Tensor {
    const temps: TapeTensor<S>[] = [];
    const x = this.operand(a, op, temps);
    const y = this.operand(b, op, temps);
    const shape = broadcastShapes(x.shape, y.shape, op);
    const out = this.make(
      this.kernels.binary(op, this.d(x), x.shape, this.d(y), y.shape, shape),
      shape,
    );
    if (grad) {
      this.record(
        op,
        [x, y],
        out,
        (dy, [sa, sb], so, needs) => {
          const [ga, gb] = grad(dy, sa!, sb!, so, needs);
          return [ga && this.sumTo(ga, sa!.shape), gb && this.sumTo(gb, sb!.shape)];
        },
        saveOutput,
      );
    }
    this.disposeTemps(temps);
    return out;
  }

  /** Sums a broadcast gradient back to `shape`. */
  private sumTo(g: TapeTensor<S>, shape: readonly number[]): TapeTensor<S> {
    const axes = broadcastedAxes(shape, g.shape);
    if (axes.length === 0) return g;
    return this.reshape(this.sum(g, axes), shape) as TapeTensor<S>;
  }

  private T(t: Tensor): TapeTensor<S> {
    return t as TapeTensor<S>;
  }

  add(a: Operand, b: Operand): Tensor {
    return this.binaryOp('add', a, b, (dy) => [dy, dy]);
  }
  // Gradient rules skip the operands that need none (`needs`): `mul(x, 0.5)` would otherwise
  // spend two passes over x's size on the number's gradient.
  sub(a: Operand, b: Operand): Tensor {
    // −dy is summed to b's shape before negating: one small pass instead of one over dy.
    return this.binaryOp('sub', a, b, (dy, _x, y, _o, [, needB]) => [
      dy,
      needB ? this.T(this.neg(this.sumTo(dy, y.shape))) : null,
    ]);
  }
  mul(a: Operand, b: Operand): Tensor {
    return this.binaryOp('mul', a, b, (dy, x, y, _o, [needA, needB]) => [
      needA ? this.T(this.mul(dy, y)) : null,
      needB ? this.T(this.mul(dy, x)) : null,
    ]);
  }
  div(a: Operand, b: Operand): Tensor {
    return this.binaryOp('div', a, b, (dy, x, y, _o, [needA, needB]) => [
      needA ? this.T(this.div(dy, y)) : null,
      needB ? this.T(this.neg(this.div(this.mul(dy, x), this.square(y)))) : null,
    ]);
  }
  maximum(a: Operand, b: Operand): Tensor {
    return this.binaryOp('maximum', a, b, (dy, x, y, _o, [needA, needB]) => {
      const m = this.greaterEqual(x, y);
      return [
        needA ? this.T(this.mul(dy, m)) : null,
        needB ? this.T(this.mul(dy, this.sub(1, m))) : null,
      ];
    });
  }
  minimum(a: Operand, b: Operand): Tensor {
    return this.binaryOp('minimum', a, b, (dy, x, y, _o, [needA, needB]) => {
      const m = this.lessEqual(x, y);
      return [
        needA ? this.T(this.mul(dy, m)) : null,
        needB ? this.T(this.mul(dy, this.sub(1, m))) : null,
      ];
    });
  }
  pow(a: Operand, b: Operand): Tensor {
    return this.binaryOp(
      'pow',
      a,
      b,
      (dy, x, y, out, [needA, needB]) => [
        needA ? this.T(this.mul(dy, this.mul(y, this.pow(x, this.sub(y, 1))))) : null,
        needB ? this.T(this.mul(dy, this.mul(out, this.log(this.maximum(x, 1e-30))))) : null,
      ],
      true,
    );
  }
  greater(a: Operand, b: Operand): Tensor {
    return this.binaryOp('greater', a, b);
  }
  greaterEqual(a: Operand, b: Operand): Tensor {
    return this.binaryOp('greaterEqual', a, b);
  }
  less(a: Operand, b: Operand): Tensor {
    return this.binaryOp('less', a, b);
  }
  lessEqual(a: Operand, b: Operand): Tensor {
    return this.binaryOp('lessEqual', a, b);
  }
  equal(a: Operand, b: Operand): Tensor {
    return this.binaryOp('equal', a, b);
  }

  where(cond: Tensor, a: Operand, b: Operand): Tensor {
    const temps: TapeTensor<S>[] = [];
    const c = this.unwrap(cond, 'where');
    const x = this.operand(a, 'where', temps);
    const y = this.operand(b, 'where', temps);
    const shape = broadcastShapes(broadcastShapes(c.shape, x.shape, 'where'), y.shape, 'where');
    const out = this.make(
      this.kernels.where(this.d(c), c.shape, this.d(x), x.shape, this.d(y), y.shape, shape),
      shape,
    );
    this.record('where', [c, x, y], out, (dy, [sc, sx, sy]) => [
      null,
      this.sumTo(this.T(this.where(sc!, dy, 0)), sx!.shape),
      this.sumTo(this.T(this.where(sc!, 0, dy)), sy!.shape),
    ]);
    this.disposeTemps(temps);
    return out;
  }

  private unaryOp(
    op: UnaryOp,
    x: Tensor,
    grad?: (dy: TapeTensor<S>, x: TapeTensor<S>, y: TapeTensor<S>) => Grad<S>,
    saveOutput = false,
  ): Tensor {
    const t = this.unwrap(x, op);
    const out = this.make(this.kernels.unary(op, this.d(t), t.size), t.shape);
    if (grad) this.record(op, [t], out, (dy, [sx], y) => [grad(dy, sx!, y)], saveOutput);
    return out;
  }

  neg(x: Tensor): Tensor {
    return this.unaryOp('neg', x, (dy) => this.T(this.neg(dy)));
  }
  abs(x: Tensor): Tensor {
    return this.unaryOp('abs', x, (dy, t) => this.T(this.mul(dy, this.sign(t))));
  }
  sign(x: Tensor): Tensor {
    return this.unaryOp('sign', x);
  }
  exp(x: Tensor): Tensor {
    return this.unaryOp('exp', x, (dy, _t, y) => this.T(this.mul(dy, y)), true);
  }
  log(x: Tensor): Tensor {
    return this.unaryOp('log', x, (dy, t) => this.T(this.div(dy, t)));
  }
  sqrt(x: Tensor): Tensor {
    return this.unaryOp('sqrt', x, (dy, _t, y) => this.T(this.div(dy, this.mul(y, 2))), true);
  }
  square(x: Tensor): Tensor {
    return this.unaryOp('square', x, (dy, t) => this.T(this.mul(dy, this.mul(t, 2))));
  }
  reciprocal(x: Tensor): Tensor {
    return this.unaryOp(
      'reciprocal',
      x,
      (dy, _t, y) => this.T(this.neg(this.mul(dy, this.square(y)))),
      true,
    );
  }
  relu(x: Tensor): Tensor {
    const fused = this.kernels.reluBackward?.bind(this.kernels);
    return this.unaryOp('relu', x, (dy, t) =>
      fused
        ? this.make(fused(this.d(dy), this.d(t), t.size), t.shape)
        : this.T(this.mul(dy, this.unaryOp('step', t))),
    );
  }
  sigmoid(x: Tensor): Tensor {
    return this.unaryOp(
      'sigmoid',
      x,
      (dy, _t, y) => this.T(this.mul(dy, this.mul(y, this.sub(1, y)))),
      true,
    );
  }
  tanh(x: Tensor): Tensor {
    return this.unaryOp(
      'tanh',
      x,
      (dy, _t, y) => this.T(this.mul(dy, this.sub(1, this.square(y)))),
      true,
    );
  }
  floor(x: Tensor): Tensor {
    return this.unaryOp('floor', x);
  }

  clip(x: Tensor, lo: number, hi: number): Tensor {
    if (!(lo <= hi)) throw new ArgumentError(`clip: lower bound ${lo} exceeds upper bound ${hi}`);
    const t = this.unwrap(x, 'clip');
    const out = this.make(this.kernels.clip(this.d(t), t.size, lo, hi), t.shape);
    return this.record('clip', [t], out, (dy, [sx]) => [
      this.T(this.mul(dy, this.mul(this.greaterEqual(sx!, lo), this.lessEqual(sx!, hi)))),
    ]);
  }

  // ── reductions ──────────────────────────────────────────────────────────────────────────
  private reduceOp(
    op: 'sum' | 'max' | 'min',
    x: Tensor,
    axes: number | readonly number[] | undefined,
    keepDims: boolean,
  ): TapeTensor<S> {
    const t = this.unwrap(x, op);
    const ax = normalizeAxes(axes, t.shape.length, op);
    const shape = reducedShape(t.shape, ax, keepDims);
    const out = this.make(this.kernels.reduce(op, this.d(t), t.shape, ax), shape);
    const kept = reducedShape(t.shape, ax, true);
    if (op === 'sum') {
      return this.record('sum', [t], out, (dy, [sx]) => [
        this.broadcastTo(this.T(this.reshape(dy, kept)), sx!.shape),
      ]);
    }
    return this.record(
      op,
      [t],
      out,
      (dy, [sx], y) => {
        const mask = this.equal(sx!, this.reshape(y, kept));
        return [this.T(this.mul(mask, this.reshape(dy, kept)))];
      },
      true,
    );
  }

  private broadcastTo(t: TapeTensor<S>, shape: readonly number[]): TapeTensor<S> {
    if (this.recording) {
      const zeros = this.fill(shape, 0);
      return this.T(this.add(zeros, t));
    }
    // Outside recording (gradients): one broadcasting kernel pass, t + 0 written at `shape`.
    const zero = this.kernels.fill(1, 0);
    const out = this.make(this.kernels.binary('add', this.d(t), t.shape, zero, [], shape), shape);
    this.kernels.release(zero);
    return out;
  }

  sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    return this.reduceOp('sum', x, axes, keepDims);
  }
  mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    const t = this.unwrap(x, 'mean');
    const ax = normalizeAxes(axes, t.shape.length, 'mean');
    const count = ax.reduce((n, a) => n * t.shape[a]!, 1);
    return this.tidy(() => this.div(this.sum(t, ax, keepDims), count));
  }
  max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    return this.reduceOp('max', x, axes, keepDims);
  }
  min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    return this.reduceOp('min', x, axes, keepDims);
  }

  // ── shapes ──────────────────────────────────────────────────────────────────────────────
  reshape(x: Tensor, shape: readonly number[]): Tensor {
    const t = this.unwrap(x, 'reshape');
    const to = inferReshape(t.shape, shape);
    const out = this.alias(t, to, true);
    return this.record('reshape', [t], out, (dy, [sx]) => [this.T(this.reshape(dy, sx!.shape))]);
  }

  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    const t = this.unwrap(x, 'transpose');
    const p = normalizePerm(t.shape.length, perm);
    const shape = p.map((i) => t.shape[i]!);
    const out = this.make(this.kernels.transpose(this.d(t), t.shape, p), shape);
    const inverse = new Array<number>(p.length);
    p.forEach((v, i) => {
      inverse[v] = i;
    });
    return this.record('transpose', [t], out, (dy) => [this.T(this.transpose(dy, inverse))]);
  }

  // ── neural-network ops ─────────────────────────────────────────────────────────────────
  matMul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
    const x = this.unwrap(a, 'matMul');
    const y = this.unwrap(b, 'matMul');
    if (x.shape.length !== 2 || y.shape.length !== 2) {
      throw new ShapeError(
        `matMul: both operands must be rank 2, got ${formatShape(x.shape)} and ${formatShape(y.shape)}`,
      );
    }
    const [m, k] = transposeA ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
    const [k2, n] = transposeB ? [y.shape[1]!, y.shape[0]!] : [y.shape[0]!, y.shape[1]!];
    if (k !== k2) {
      throw new ShapeError(
        `matMul: inner dimensions differ: ${formatShape(x.shape)}${transposeA ? 'ᵀ' : ''} · ${formatShape(y.shape)}${transposeB ? 'ᵀ' : ''} (${k} vs ${k2})`,
      );
    }
    const out = this.make(
      this.kernels.matMul(
        this.d(x),
        x.shape as [number, number],
        this.d(y),
        y.shape as [number, number],
        transposeA,
        transposeB,
      ),
      [m, n],
    );
    return this.record('matMul', [x, y], out, (dy, [sa, sb], _y, [needA, needB]) => {
      const A = sa!;
      const B = sb!;
      const mm = (need: boolean | undefined, p: Tensor, q: Tensor, tp: boolean, tq: boolean) =>
        need ? this.T(this.matMul(p, q, tp, tq)) : null;
      if (!transposeA && !transposeB)
        return [mm(needA, dy, B, false, true), mm(needB, A, dy, true, false)];
      if (transposeA && !transposeB)
        return [mm(needA, B, dy, false, true), mm(needB, A, dy, false, false)];
      if (!transposeA && transposeB)
        return [mm(needA, dy, B, false, false), mm(needB, dy, A, true, false)];
      return [mm(needA, B, dy, true, true), mm(needB, dy, A, true, true)];
    });
  }

  conv2d(x: Tensor, filter: Tensor, options?: Conv2DOptions): Tensor {
    const t = this.unwrap(x, 'conv2d');
    const w = this.unwrap(filter, 'conv2d');
    const g = conv2dGeometry(t.shape, w.shape, options, false);
    const out = this.make(this.kernels.conv2d(this.d(t), this.d(w), g), outShape(g));
    return this.record('conv2d', [t, w], out, (dy, [sx, sw], _y, [needX, needW]) => [
      needX
        ? this.make(this.kernels.conv2dBackpropInput(this.d(dy), this.d(sw!), g), sx!.shape)
        : null,
      needW
        ? this.make(this.kernels.conv2dBackpropFilter(this.d(sx!), this.d(dy), g), sw!.shape)
        : null,
    ]);
  }

  fusedConv2d(x: Tensor, filter: Tensor, options: FusedConv2DOptions = {}): Tensor {
    const { bias, activation: requested, ...conv } = options;
    const activation = checkFusedActivation('fusedConv2d', requested);
    const t = this.unwrap(x, 'fusedConv2d');
    const w = this.unwrap(filter, 'fusedConv2d');
    const g = conv2dGeometry(t.shape, w.shape, conv, false);
    const bt = bias === undefined ? undefined : this.unwrap(bias, 'fusedConv2d bias');
    checkConvBias(bt?.shape, g.outChannels);
    const k = this.kernels;
    if (!k.conv2dBiasActivation || (!bt && activation === 'linear')) {
      return this.tidy(() => {
        let y = this.conv2d(t, w, conv);
        if (bt) y = this.add(y, bt);
        return activation === 'relu' ? this.relu(y) : y;
      });
    }
    const shape = outShape(g);
    const out = this.make(
      k.conv2dBiasActivation(this.d(t), this.d(w), bt ? this.d(bt) : null, activation, g),
      shape,
    );
    const rows = sizeOf(shape) / g.outChannels;
    return this.record(
      'fusedConv2d',
      [t, w, ...(bt ? [bt] : [])],
      out,
      (dy, [sx, sw], y, [needX, needW, needB]) => {
        // dz: dy through the activation (from the output: ReLU's y > 0 is z > 0), with the bias
        // gradient Σ_rows dz in the same pass where the kernels have it.
        let dz: S = this.d(dy);
        let dBias: S | null = null;
        let ownDz = false;
        if (k.biasActivationBackward && activation === 'relu') {
          const r = k.biasActivationBackward(
            this.d(dy),
            this.d(y),
            rows,
            g.outChannels,
            activation,
          );
          dz = r.dz;
          dBias = r.dBias;
          ownDz = true;
        } else if (activation === 'relu') {
          const mask = k.unary('step', this.d(y), y.size);
          dz = k.binary('mul', this.d(dy), shape, mask, shape, shape);
          k.release(mask);
          ownDz = true;
        }
        if (needB && !dBias) dBias = k.reduce('sum', dz, shape, [0, 1, 2]);
        const grads: Grad<S>[] = [
          needX ? this.make(k.conv2dBackpropInput(dz, this.d(sw!), g), sx!.shape) : null,
          needW ? this.make(k.conv2dBackpropFilter(this.d(sx!), dz, g), sw!.shape) : null,
        ];
        if (bt) grads.push(needB && dBias ? this.make(dBias, bt.shape) : null);
        if (dBias && !(bt && needB)) k.release(dBias);
        if (ownDz) k.release(dz);
        return grads;
      },
      activation === 'relu',
    );
  }

  depthwiseConv2d(x: Tensor, filter: Tensor, options?: Conv2DOptions): Tensor {
    const t = this.unwrap(x, 'depthwiseConv2d');
    const w = this.unwrap(filter, 'depthwiseConv2d');
    const g = conv2dGeometry(t.shape, w.shape, options, true);
    const out = this.make(this.kernels.depthwiseConv2d(this.d(t), this.d(w), g), outShape(g));
    return this.record('depthwiseConv2d', [t, w], out, (dy, [sx, sw], _y, [needX, needW]) => [
      needX
        ? this.make(
            this.kernels.depthwiseConv2dBackpropInput(this.d(dy), this.d(sw!), g),
            sx!.shape,
          )
        : null,
      needW
        ? this.make(
            this.kernels.depthwiseConv2dBackpropFilter(this.d(sx!), this.d(dy), g),
            sw!.shape,
          )
        : null,
    ]);
  }

  maxPool(x: Tensor, options: Pool2DOptions): Tensor {
    const t = this.unwrap(x, 'maxPool');
    const g = pool2dGeometry(t.shape, options, 'maxPool');
    const out = this.make(this.kernels.maxPool(this.d(t), g), outShape(g));
    return this.record('maxPool', [t], out, (dy, [sx]) => [
      this.make(this.kernels.maxPoolBackprop(this.d(dy), this.d(sx!), g), sx!.shape),
    ]);
  }

  avgPool(x: Tensor, options: Pool2DOptions): Tensor {
    const t = this.unwrap(x, 'avgPool');
    const g = pool2dGeometry(t.shape, options, 'avgPool');
    const out = this.make(this.kernels.avgPool(this.d(t), g), outShape(g));
    return this.record('avgPool', [t], out, (dy, [sx]) => [
      this.make(this.kernels.avgPoolBackprop(this.d(dy), g), sx!.shape),
    ]);
  }

  batchNorm(
    x: Tensor,
    mean: Tensor,
    variance: Tensor,
    offset?: Tensor,
    scale?: Tensor,
    epsilon = 1e-3,
  ): Tensor {
    const fused = this.fusedBatchNorm(x, mean, variance, offset, scale, epsilon);
    if (fused) return fused;
    // Composed from differentiable ops, so gradients reach x, the statistics, scale and offset.
    return this.tidy(() => {
      let y = this.mul(this.sub(x, mean), this.reciprocal(this.sqrt(this.add(variance, epsilon))));
      if (scale) y = this.mul(y, scale);
      if (offset) y = this.add(y, offset);
      return y;
    });
  }

  /**
   * Batch norm as one kernel and its gradient as another, where the kernels have them and every
   * statistic and parameter holds one value per channel of x's last axis (else null: composed).
   */
  private fusedBatchNorm(
    x: Tensor,
    mean: Tensor,
    variance: Tensor,
    offset: Tensor | undefined,
    scale: Tensor | undefined,
    epsilon: number,
  ): Tensor | null {
    const k = this.kernels;
    if (!k.batchNorm || !k.batchNormBackward) return null;
    const t = this.unwrap(x, 'batchNorm');
    const channels = t.shape[t.shape.length - 1];
    if (channels === undefined) return null;
    const params = [mean, variance, offset, scale].map((p) =>
      p === undefined ? undefined : this.unwrap(p, 'batchNorm'),
    );
    const perChannel = (p: TapeTensor<S> | undefined) =>
      p === undefined ||
      (p.size === channels &&
        p.shape.length <= t.shape.length &&
        p.shape.every((d, i) => (i === p.shape.length - 1 ? d === channels : d === 1)));
    if (!params.every(perChannel)) return null;
    const [m, v, o, s] = params as [
      TapeTensor<S>,
      TapeTensor<S>,
      TapeTensor<S> | undefined,
      TapeTensor<S> | undefined,
    ];
    const rows = t.size / channels;
    const out = this.make(
      k.batchNorm(
        this.d(t),
        rows,
        channels,
        this.d(m),
        this.d(v),
        o ? this.d(o) : null,
        s ? this.d(s) : null,
        epsilon,
      ),
      t.shape,
    );
    const inputs = [t, m, v, ...(o ? [o] : []), ...(s ? [s] : [])];
    return this.record('batchNorm', inputs, out, (dy, saved) => {
      const [sx, sm, sv] = saved as [TapeTensor<S>, TapeTensor<S>, TapeTensor<S>];
      const ss = s ? saved[saved.length - 1]! : undefined;
      const g = k.batchNormBackward!(
        this.d(dy),
        this.d(sx),
        rows,
        channels,
        this.d(sm),
        this.d(sv),
        ss ? this.d(ss) : null,
        epsilon,
      );
      const grads: Grad<S>[] = [
        this.make(g.dx, sx.shape),
        this.make(g.dMean, sm.shape),
        this.make(g.dVariance, sv.shape),
      ];
      if (o) grads.push(this.make(g.dOffset, o.shape));
      else k.release(g.dOffset);
      if (s) grads.push(this.make(g.dScale, s.shape));
      else k.release(g.dScale);
      return grads;
    });
  }

  batchNormTraining(
    x: Tensor,
    offset?: Tensor,
    scale?: Tensor,
    epsilon = 1e-3,
    epilogue: BatchNormEpilogue = {},
  ): BatchNormTrainingResult {
    const t = this.unwrap(x, 'batchNormTraining');
    const { residual } = epilogue;
    const channels = checkBatchNormTraining(t.shape, offset?.shape, scale?.shape, residual?.shape);
    const activation = checkFusedActivation('batchNormTraining', epilogue.activation);
    const fused = this.fusedBatchNormTraining(
      t,
      channels,
      offset,
      scale,
      epsilon,
      residual,
      activation,
    );
    if (fused) return fused;
    return this.tidy(() =>
      composedBatchNormTraining(this, t, offset, scale, epsilon, residual, activation),
    );
  }

  /** Training batch norm as one kernel and its gradient as another, where the kernels have them. */
  private fusedBatchNormTraining(
    t: TapeTensor<S>,
    channels: number,
    offset: Tensor | undefined,
    scale: Tensor | undefined,
    epsilon: number,
    residual: Tensor | undefined,
    activation: FusedActivation,
  ): BatchNormTrainingResult | null {
    const k = this.kernels;
    if (!k.batchNormTraining || !k.batchNormTrainingBackward) return null;
    const o = offset === undefined ? undefined : this.unwrap(offset, 'batchNormTraining');
    const s = scale === undefined ? undefined : this.unwrap(scale, 'batchNormTraining');
    const res = residual === undefined ? undefined : this.unwrap(residual, 'batchNormTraining');
    const rows = t.size / channels;
    const r = k.batchNormTraining(
      this.d(t),
      rows,
      channels,
      o ? this.d(o) : null,
      s ? this.d(s) : null,
      epsilon,
      res ? this.d(res) : null,
      activation,
    );
    // The statistics are differentiable outputs too (as composed), each with its own rule; in
    // training they only feed the moving averages, so the tape never runs those rules.
    const mean = this.record(
      'batchNormTraining.mean',
      [t],
      this.make(r.mean, [channels]),
      (dy, [sx]) => [this.T(this.add(this.mul(sx!, 0), this.div(dy, rows)))],
    );
    const variance = this.record(
      'batchNormTraining.variance',
      [t, mean],
      this.make(r.variance, [channels]),
      (dy, [sx, sm]) => [this.T(this.mul(this.sub(sx!, sm!), this.mul(dy, 2 / rows))), null],
    );
    // y's rule covers the statistics' dependence on x, so it sends nothing to mean and variance.
    const inputs = [t, mean, variance, ...(o ? [o] : []), ...(s ? [s] : []), ...(res ? [res] : [])];
    const y = this.record(
      'batchNormTraining',
      inputs,
      this.make(r.y, t.shape),
      (dy, saved, out, needs) => {
        const [sx, sm, sv] = saved as [TapeTensor<S>, TapeTensor<S>, TapeTensor<S>];
        const ss = s ? saved[3 + (o ? 1 : 0)] : undefined;
        const needResidual = res !== undefined && needs[needs.length - 1] === true;
        const g = k.batchNormTrainingBackward!(
          this.d(dy),
          this.d(sx),
          rows,
          channels,
          this.d(sm),
          this.d(sv),
          ss ? this.d(ss) : null,
          epsilon,
          activation === 'relu' ? this.d(out) : null,
          activation,
          needResidual,
        );
        const grads: Grad<S>[] = [this.make(g.dx, sx.shape), null, null];
        if (o) grads.push(this.make(g.dOffset, o.shape));
        else k.release(g.dOffset);
        if (s) grads.push(this.make(g.dScale, s.shape));
        else k.release(g.dScale);
        if (res) grads.push(g.dResidual ? this.make(g.dResidual, res.shape) : null);
        else if (g.dResidual) k.release(g.dResidual);
        return grads;
      },
      activation === 'relu',
    );
    return { y, mean, variance };
  }

  /** Forward of log-softmax over the last axis with kernels only (max-shifted for stability). */
  private logSoftmaxData(t: TapeTensor<S>): S {
    const k = this.kernels;
    const rank = t.shape.length;
    if (rank === 0) throw new ShapeError('logSoftmax: input must have at least one axis');
    const kept = [...t.shape.slice(0, -1), 1];
    const m = k.reduce('max', this.d(t), t.shape, [rank - 1]);
    const shifted = k.binary('sub', this.d(t), t.shape, m, kept, t.shape);
    const e = k.unary('exp', shifted, t.size);
    const s = k.reduce('sum', e, t.shape, [rank - 1]);
    const lse = k.unary('log', s, sizeOf(kept));
    const out = k.binary('sub', shifted, t.shape, lse, kept, t.shape);
    for (const tmp of [m, shifted, e, s, lse]) k.release(tmp);
    return out;
  }

  logSoftmax(x: Tensor): Tensor {
    const t = this.unwrap(x, 'logSoftmax');
    const out = this.make(this.logSoftmaxData(t), t.shape);
    return this.record(
      'logSoftmax',
      [t],
      out,
      (dy, _s, y) => [this.T(this.sub(dy, this.mul(this.exp(y), this.sum(dy, -1, true))))],
      true,
    );
  }

  softmax(x: Tensor): Tensor {
    const t = this.unwrap(x, 'softmax');
    const ls = this.logSoftmaxData(t);
    const out = this.make(this.kernels.unary('exp', ls, t.size), t.shape);
    this.kernels.release(ls);
    return this.record(
      'softmax',
      [t],
      out,
      (dy, _s, y) => [this.T(this.mul(y, this.sub(dy, this.sum(this.mul(dy, y), -1, true))))],
      true,
    );
  }

  softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
    const l = this.unwrap(logits, 'softmaxCrossEntropy');
    const y = this.unwrap(labels, 'softmaxCrossEntropy');
    if (
      l.shape.length !== 2 ||
      y.shape.length !== 2 ||
      l.shape[0] !== y.shape[0] ||
      l.shape[1] !== y.shape[1]
    ) {
      throw new ShapeError(
        `softmaxCrossEntropy: logits ${formatShape(l.shape)} and one-hot labels ${formatShape(y.shape)} must both be [batch, classes]`,
      );
    }
    const n = l.shape[0]!;
    const k = this.kernels;
    if (k.softmaxCrossEntropy && k.softmaxCrossEntropyBackward) {
      const classes = l.shape[1]!;
      const out = this.make(k.softmaxCrossEntropy(this.d(l), this.d(y), n, classes), []);
      return this.record('softmaxCrossEntropy', [l, y], out, (dy, [sl, sy], _y, needs) => {
        const [dl, dy2] = k.softmaxCrossEntropyBackward!(
          this.d(dy),
          this.d(sl!),
          this.d(sy!),
          n,
          classes,
          needs[1] === true,
        );
        return [this.make(dl, sl!.shape), dy2 === null ? null : this.make(dy2, sy!.shape)];
      });
    }
    return this.tidy(() => this.div(this.neg(this.sum(this.mul(y, this.logSoftmax(l)))), n));
  }

  setThreads(n: number): void {
    this.kernels.setThreads?.(n);
  }
}

function outShape(g: Conv2DGeometry): number[] {
  return [g.batch, g.outHeight, g.outWidth, g.outChannels];
}

/** Visits the tensors in a tidy result: a tensor, or arrays/objects holding tensors. */
function collectTensors(value: unknown, visit: (t: Tensor) => void, depth = 0): void {
  if (value === null || value === undefined || depth > 4) return;
  if (value instanceof TapeTensor) {
    visit(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, visit, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, visit, depth + 1);
    return;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>))
      collectTensors(v, visit, depth + 1);
  }
}
