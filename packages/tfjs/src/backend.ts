import {
  ArgumentError,
  type Backend,
  type BatchNormEpilogue,
  broadcastShapes,
  builtModuleUrl,
  type Conv2DGeometry,
  type Conv2DOptions,
  type CustomGradResult,
  checkBatchNormTraining,
  checkConvBias,
  checkFusedActivation,
  composedBatchNormTraining,
  conv2dGeometry,
  DqaError,
  type FusedConv2DOptions,
  formatShape,
  inferReshape,
  type MemoryInfo,
  normalizeAxes,
  normalizePerm,
  type Operand,
  type Padding,
  type Pool2DOptions,
  pool2dGeometry,
  type ReplicaRecipe,
  ShapeError,
  sizeOf,
  type Tensor,
} from '@dqa/core';
import * as tf from '@tensorflow/tfjs';
import * as tfWasm from '@tensorflow/tfjs-backend-wasm';
import { registerComparisonGradients } from './gradients.js';
import { registerTrainingKernels } from './kernels/index.js';

/** The tfjs backends @dqa/tfjs runs on (tfjs' own names for them). */
export type TfjsEngine = 'wasm' | 'cpu' | 'tensorflow';

export interface TfjsBackendOptions {
  /**
   * Which tfjs backend computes. `'auto'` (the default) takes `'tensorflow'` (tfjs-node, native
   * libtensorflow) when `@tensorflow/tfjs-node` can be loaded and `'wasm'` otherwise.
   */
  engine?: TfjsEngine | 'auto';
  /**
   * Compute threads for `'wasm'` where its threaded build runs (browsers with cross-origin
   * isolation); applied before the wasm backend starts. In Node the wasm backend has no threads.
   */
  threads?: number;
  /** Where the `.wasm` binaries are served from, passed to tfjs' `setWasmPaths` (browsers). */
  wasmPaths?: string;
}

/** What `createTfjsBackend` chose and why. */
export interface TfjsBackendInfo {
  engine: TfjsEngine;
  /** What was asked for. */
  requested: TfjsEngine | 'auto';
  /** Why this engine, e.g. why `'auto'` did not take tfjs-node. */
  reason: string;
  /** Version of @tensorflow/tfjs-core. */
  tfjsVersion: string;
  /** Compute threads in use; null where the engine manages its own pool (tfjs-node). */
  threads: number | null;
  /** Whether the wasm backend runs its SIMD build (wasm only). */
  simd?: boolean;
}

type TensorReturning = Exclude<
  {
    [K in keyof Backend]-?: NonNullable<Backend[K]> extends (...args: never[]) => Tensor
      ? K
      : never;
  }[keyof Backend],
  'tidy'
>;

/** Backend's ops, returning plain tf.Tensors. */
type TfjsOps = {
  [K in Exclude<TensorReturning, 'keep' | 'variable'>]: Backend[K] extends (
    ...args: infer A
  ) => Tensor
    ? (...args: A) => tf.Tensor
    : never;
};

/**
 * The @dqa/core `Backend` over TensorFlow.js. Every tensor it returns is a plain `tf.Tensor` (every
 * variable a plain `tf.Variable`), so its results go straight into tf ops and tfjs-layers code,
 * and tf.Tensors made elsewhere are accepted as inputs.
 */
export interface TfjsBackend
  extends Omit<Backend, TensorReturning | 'valueAndGrads' | 'customGrad'>,
    TfjsOps {
  readonly name: 'tfjs-wasm' | 'tfjs-cpu' | 'tfjs-tensorflow';
  readonly engine: TfjsEngine;
  readonly info: TfjsBackendInfo;
  /** One line: the engine, its settings and why it was chosen. */
  describe(): string;
  keep<T extends Tensor>(t: T): T;
  /** tfjs' counts, for the whole tfjs engine (every tensor tfjs holds, not only this backend's). */
  memory(): MemoryInfo;
  variable(initial: Tensor, options: { name: string; trainable?: boolean }): tf.Variable;
  valueAndGrads(f: () => Tensor, wrt: readonly Tensor[]): { value: tf.Scalar; grads: tf.Tensor[] };
  customGrad(f: (...inputs: tf.Tensor[]) => CustomGradResult): (...inputs: Tensor[]) => tf.Tensor;
  setThreads(n: number): void;
  close(): void;
}

const ENGINES: readonly (TfjsEngine | 'auto')[] = ['auto', 'wasm', 'cpu', 'tensorflow'];
const TFJS_NODE = '@tensorflow/tfjs-node';
const INSTALL_TFJS_NODE = `pnpm add ${TFJS_NODE}@${tf.version_core} (its install script downloads libtensorflow)`;

/**
 * Creates the tfjs backend and makes it tfjs' active backend (tfjs has one per process: a later
 * `tf.setBackend` elsewhere makes this one's ops throw, naming both). `info`/`describe()` say which
 * engine was chosen and why.
 */
export async function createTfjsBackend(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
  const requested = options.engine ?? 'auto';
  if (!ENGINES.includes(requested)) {
    throw new ArgumentError(
      `createTfjsBackend: engine must be one of ${ENGINES.map((e) => `'${e}'`).join(', ')}, got ${JSON.stringify(requested)}`,
    );
  }
  if (
    options.threads !== undefined &&
    !(Number.isInteger(options.threads) && options.threads > 0)
  ) {
    throw new ArgumentError(
      `createTfjsBackend: threads must be a positive integer, got ${options.threads}`,
    );
  }
  registerComparisonGradients();

  let engine: TfjsEngine;
  let reason = 'requested';
  if (requested === 'auto') {
    const node = await loadTfjsNode();
    engine = node.ok ? 'tensorflow' : 'wasm';
    reason = node.ok
      ? `auto: ${TFJS_NODE} is installed`
      : `auto: ${TFJS_NODE} ${node.why}, so wasm`;
  } else {
    if (requested === 'tensorflow') {
      const node = await loadTfjsNode();
      if (!node.ok) {
        throw new DqaError(
          'BACKEND_UNAVAILABLE',
          `createTfjsBackend: engine 'tensorflow' needs ${TFJS_NODE}, which ${node.why}. Install it with \`${INSTALL_TFJS_NODE}\`, or choose engine 'wasm' or 'cpu'`,
        );
      }
    }
    engine = requested;
  }

  // Again here (idempotent): a tfjs backend package imported after ours re-registers its stock
  // kernels over our training kernels.
  if (engine !== 'tensorflow') registerTrainingKernels([engine]);
  if (engine === 'wasm') {
    if (options.wasmPaths !== undefined) tfWasm.setWasmPaths(options.wasmPaths);
    // setThreadsCount only takes effect before the wasm backend starts.
    if (options.threads !== undefined && !tf.engine().registry.wasm) {
      tfWasm.setThreadsCount(options.threads);
    }
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(engine);
    await tf.ready();
  } catch (e) {
    throw new DqaError(
      'BACKEND_UNAVAILABLE',
      `createTfjsBackend: tfjs backend '${engine}' failed to start: ${firstLine(e)}`,
      { cause: e },
    );
  }
  if (!ok || tf.getBackend() !== engine) {
    throw new DqaError(
      'BACKEND_UNAVAILABLE',
      `createTfjsBackend: tfjs backend '${engine}' failed to start (tf.setBackend returned false; see tfjs' warning above)`,
    );
  }
  const info: TfjsBackendInfo = {
    engine,
    requested,
    reason,
    tfjsVersion: tf.version_core,
    threads: engine === 'tensorflow' ? null : engine === 'cpu' ? 1 : tfWasm.getThreadsCount(),
  };
  if (engine === 'wasm') info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') as boolean;
  return new TfjsBackendImpl(info);
}

type NodeProbe = { ok: true } | { ok: false; why: string };

/** Loads tfjs-node, which registers and activates tfjs' 'tensorflow' backend. */
async function loadTfjsNode(): Promise<NodeProbe> {
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions
    ?.node;
  if (!node) return { ok: false, why: 'runs only in Node' };
  // A variable specifier: bundlers and TypeScript must not require the optional peer.
  const specifier = TFJS_NODE;
  try {
    await import(/* @vite-ignore */ specifier);
    return { ok: true };
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    const message = e instanceof Error ? e.message : String(e);
    const notFound =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      message.includes(`'${TFJS_NODE}'`);
    return {
      ok: false,
      why: notFound ? 'is not installed' : `is installed but failed to load (${firstLine(e)})`,
    };
  }
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n').find((l) => l.trim() !== '') ?? message;
}

type TfPadding =
  | 'same'
  | 'valid'
  | [[number, number], [number, number], [number, number], [number, number]];

/** Explicit `[[top, bottom], [left, right]]` becomes tfjs' NHWC `[[0,0],[t,b],[l,r],[0,0]]`. */
function tfPadding(padding: Padding): TfPadding {
  if (padding === 'same' || padding === 'valid') return padding;
  return [
    [0, 0],
    [padding[0][0], padding[0][1]],
    [padding[1][0], padding[1][1]],
    [0, 0],
  ];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Tensors a custom gradient rule may read, held until backprop reaches it or its tape ends. */
interface HeldGroup {
  tape: unknown;
  tensors: tf.Tensor[];
}

class TfjsBackendImpl implements TfjsBackend {
  readonly name: TfjsBackend['name'];
  readonly engine: TfjsEngine;
  readonly replica: ReplicaRecipe;
  /** wasm, cpu and tfjs-node all keep tensors in this process's memory. */
  readonly hostMemory = true;
  private readonly tfEngine = tf.engine();
  private closed = false;
  private requestedThreads: number | null = null;
  private held: HeldGroup[] = [];
  private readonly variables = new Set<tf.Variable>();
  /** tfjs' cpu backend (and tfjs-node) keep the caller's array / hand out their own. */
  private readonly readIsCopy: boolean;

  constructor(readonly info: TfjsBackendInfo) {
    this.engine = info.engine;
    // Worker threads of data-parallel training build the same engine.
    this.replica = {
      module: builtModuleUrl(import.meta.url),
      export: 'createTfjsBackend',
      args: { engine: info.engine } satisfies TfjsBackendOptions,
    };
    this.name = `tfjs-${info.engine}`;
    this.readIsCopy = info.engine === 'wasm';
  }

  describe(): string {
    const i = this.info;
    const parts = [`tfjs ${i.tfjsVersion}`];
    if (i.simd !== undefined) parts.push(`SIMD ${i.simd ? 'on' : 'off'}`);
    parts.push(i.threads === null ? 'threads managed by libtensorflow' : `${i.threads} thread(s)`);
    if (this.requestedThreads !== null && this.requestedThreads !== i.threads) {
      parts.push(`setThreads(${this.requestedThreads}) has no effect once tfjs started`);
    }
    return `${this.name} (${parts.join(', ')}); ${i.reason}`;
  }

  // ── plumbing ────────────────────────────────────────────────────────────────────────────
  /** Every op starts here: tfjs has one active backend, and it must still be this one. */
  private guard(op: string): void {
    if (this.closed) {
      throw new DqaError('BACKEND_STATE', `${op}: backend '${this.name}' was closed`);
    }
    const active = this.tfEngine.backendName;
    if (active !== this.engine) {
      throw new DqaError(
        'BACKEND_STATE',
        `${op}: backend '${this.name}' needs tfjs' active backend to be '${this.engine}', but it was switched to '${active}' (tf.setBackend elsewhere, or another createTfjsBackend); call tf.setBackend('${this.engine}') or create a new backend`,
      );
    }
  }

  private t(x: Tensor, where: string): tf.Tensor {
    if (!(x instanceof tf.Tensor)) {
      const from = (x as Partial<Tensor> | null)?.backend;
      throw new ArgumentError(
        `${where}: expected a tf.Tensor of backend '${this.name}', got ${from ? `a tensor of backend '${from}'` : String(x)}`,
      );
    }
    if (x.isDisposed) {
      throw new DqaError(
        'DISPOSED_TENSOR',
        `${where}: the tensor of shape ${formatShape(x.shape)} was disposed`,
      );
    }
    return x;
  }

  private operand(x: Operand, where: string): tf.Tensor | number {
    return typeof x === 'number' ? x : this.t(x, where);
  }

  private static shapeOf(x: tf.Tensor | number): readonly number[] {
    return typeof x === 'number' ? [] : x.shape;
  }

  /** Core's broadcasting check (its error names the op and both shapes); cheap when shapes match. */
  private broadcast(op: string, a: tf.Tensor | number, b: tf.Tensor | number): void {
    const sa = TfjsBackendImpl.shapeOf(a);
    const sb = TfjsBackendImpl.shapeOf(b);
    if (sa.length === 0 || sb.length === 0 || sameShape(sa, sb)) return;
    broadcastShapes(sa, sb, op);
  }

  // ── creation and read-back ──────────────────────────────────────────────────────────────
  private checkShape(shape: readonly number[], op: string): void {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ShapeError(`${op}: shape ${formatShape(shape)} has an invalid dimension ${d}`);
      }
    }
  }

  tensor(values: ArrayLike<number>, shape: readonly number[]): tf.Tensor {
    this.guard('tensor');
    this.checkShape(shape, 'tensor');
    const size = sizeOf(shape);
    if (values.length !== size) {
      throw new ShapeError(
        `tensor: ${values.length} values do not fill shape ${formatShape(shape)} (${size} elements)`,
      );
    }
    // tfjs' cpu backend keeps the array it is given: copy it, so later writes by the caller do
    // not change the tensor. wasm copies into its heap anyway.
    let data: Float32Array | number[];
    if (values instanceof Float32Array) data = this.readIsCopy ? values : values.slice();
    else if (Array.isArray(values)) data = values;
    else data = Float32Array.from(values);
    return tf.tensor(data, [...shape], 'float32');
  }

  scalar(value: number): tf.Tensor {
    this.guard('scalar');
    return tf.scalar(value, 'float32');
  }

  fill(shape: readonly number[], value: number): tf.Tensor {
    this.guard('fill');
    this.checkShape(shape, 'fill');
    return tf.fill([...shape], value, 'float32');
  }

  private copyOut(data: tf.DataTypeMap[keyof tf.DataTypeMap]): Float32Array {
    if (data instanceof Float32Array) return this.readIsCopy ? data : data.slice();
    return Float32Array.from(data as ArrayLike<number>);
  }

  async read(x: Tensor): Promise<Float32Array> {
    this.guard('read');
    return this.copyOut(await this.t(x, 'read').data());
  }

  readSync(x: Tensor): Float32Array {
    this.guard('readSync');
    return this.copyOut(this.t(x, 'readSync').dataSync());
  }

  // ── memory ──────────────────────────────────────────────────────────────────────────────
  tidy<T>(fn: () => T): T {
    this.guard('tidy');
    let result: T;
    // tfjs walks the returned value for tensors element by element; skip that for typed arrays
    // and plain values (b.tidy(() => b.readSync(...)) is common).
    tf.tidy(() => {
      result = fn();
      const r = result as unknown;
      return r === null || typeof r !== 'object' || ArrayBuffer.isView(r)
        ? undefined
        : (r as tf.TensorContainer);
    });
    return result!;
  }

  keep<T extends Tensor>(x: T): T {
    this.guard('keep');
    tf.keep(this.t(x, 'keep'));
    return x;
  }

  /** Not guarded: cleanup must work after a close or a backend switch. */
  dispose(x: Tensor | readonly Tensor[]): void {
    const list = Array.isArray(x) ? (x as readonly Tensor[]) : [x as Tensor];
    for (const t of list) {
      if (!(t instanceof tf.Tensor)) this.t(t, 'dispose');
      else {
        if (t instanceof tf.Variable) this.variables.delete(t);
        t.dispose();
      }
    }
  }

  /** tfjs' counts, for the whole tfjs engine (every tensor tfjs holds, not only this backend's). */
  memory(): MemoryInfo {
    this.sweepHeld();
    const m = tf.memory();
    return { numTensors: m.numTensors, numBytes: m.numBytes };
  }

  // ── variables and gradients ─────────────────────────────────────────────────────────────
  variable(initial: Tensor, options: { name: string; trainable?: boolean }): tf.Variable {
    this.guard('variable');
    const x = this.t(initial, `variable '${options.name}'`);
    if (this.tfEngine.registeredVariables[options.name]) {
      throw new ArgumentError(
        `variable: a variable named '${options.name}' already exists in tfjs (variable names are global to the tfjs engine)`,
      );
    }
    const v = tf.variable(x, options.trainable ?? true, options.name, 'float32');
    // The contract's error on a shape mismatch names both shapes; tfjs' says "(3) and (2)".
    // An own property: `v` stays a plain tf.Variable for tfjs-layers and optimizers.
    const assign = v.assign;
    Object.defineProperty(v, 'assign', {
      configurable: true,
      writable: true,
      value: (value: tf.Tensor): void => {
        const t = this.t(value, `variable '${v.name}'.assign`);
        if (!sameShape(t.shape, v.shape)) {
          throw new ShapeError(
            `variable '${v.name}'.assign: value of shape ${formatShape(t.shape)} does not match the variable's ${formatShape(v.shape)}`,
          );
        }
        assign.call(v, t.dtype === 'float32' ? t : tf.cast(t, 'float32'));
      },
    });
    this.variables.add(v);
    return v;
  }

  valueAndGrads(f: () => Tensor, wrt: readonly Tensor[]): { value: tf.Scalar; grads: tf.Tensor[] } {
    this.guard('valueAndGrads');
    const xs = wrt.map((v, i) => this.t(v, `valueAndGrads: wrt[${i}]`));
    // A new scalar handle every time, so the caller owns `value` even when f returns a variable.
    const scalarOf = (): tf.Scalar => {
      const y = this.t(f(), 'valueAndGrads: the function result');
      if (y.size !== 1) {
        throw new ShapeError(
          `valueAndGrads: the function must return a scalar, got shape ${formatShape(y.shape)}`,
        );
      }
      return tf.reshape(y, []) as tf.Scalar;
    };
    try {
      if (xs.length === 0) return { value: tf.tidy(scalarOf), grads: [] };
      // engine.gradients rather than tf.variableGrads: variableGrads drops non-trainable
      // variables and throws when no variable reaches the value; the contract wants a gradient
      // (zeros where unused) for every entry of `wrt`, in order.
      const { value, grads } = this.tfEngine.gradients(scalarOf, xs, undefined, true);
      const seen = new Set<tf.Tensor>();
      const out = grads.map((g, i) => {
        if (!g) return tf.zeros(xs[i]!.shape);
        // One handle per entry (the same tensor listed twice), so disposing one frees no other.
        if (seen.has(g)) return tf.clone(g);
        seen.add(g);
        return g;
      });
      return { value: value as tf.Scalar, grads: out };
    } finally {
      this.sweepHeld();
    }
  }

  /**
   * tf.customGrad, adapted: core's `gradFunc` is a closure over tensors `f` computed (PACT's
   * masks, …), where tfjs disposes everything a custom op's forward creates unless it is `save`d.
   * While a tape records, the forward therefore runs on fresh handles of its inputs (which the
   * caller's scopes may dispose before backprop) and every tensor it creates is held until
   * backprop has run the rule, or, for a rule backprop never reaches, until that tape has ended
   * (released at the next customGrad, valueAndGrads or memory call).
   */
  customGrad(f: (...inputs: tf.Tensor[]) => CustomGradResult): (...inputs: Tensor[]) => tf.Tensor {
    return (...inputs: Tensor[]): tf.Tensor => {
      this.guard('customGrad');
      const xs = inputs.map((x, i) => this.t(x, `customGrad input ${i}`));
      this.sweepHeld();
      const state = this.tfEngine.state;
      if (!(state.gradientDepth > 0 && state.kernelDepth === 0)) {
        // Nothing records: the rule is never needed.
        return tf.tidy(() => {
          const v = this.t(f(...xs).value, 'customGrad value');
          return this.tfEngine.state.activeScope.track.includes(v) ? v : tf.clone(v);
        });
      }
      const group: HeldGroup = { tape: state.activeTape, tensors: [] };
      const shapes = xs.map((x) => x.shape);
      const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        let rule: CustomGradResult['gradFunc'] | undefined;
        const value = tf.tidy(() => {
          const own = (args.slice(0, xs.length) as tf.Tensor[]).map((x) => tf.clone(x));
          const res = f(...own);
          let v = this.t(res.value, 'customGrad value');
          const track = this.tfEngine.state.activeScope.track;
          if (!track.includes(v)) v = tf.clone(v);
          for (const t of track) {
            if (t !== v && !t.isDisposed) group.tensors.push(tf.keep(t));
          }
          rule = res.gradFunc;
          return v;
        });
        return {
          value,
          gradFunc: (dy: tf.Tensor) => this.runRule(rule!, dy, shapes, group),
        };
      });
      this.held.push(group);
      try {
        return op(...xs);
      } catch (e) {
        this.release(group);
        throw e;
      }
    };
  }

  private runRule(
    rule: CustomGradResult['gradFunc'],
    dy: tf.Tensor,
    shapes: readonly (readonly number[])[],
    group: HeldGroup,
  ): tf.Tensor[] {
    try {
      const gs = rule(dy);
      if (!Array.isArray(gs) || gs.length !== shapes.length) {
        throw new DqaError(
          'GRADIENT',
          `customGrad: gradFunc returned ${Array.isArray(gs) ? gs.length : 'no array of'} gradients for ${shapes.length} inputs`,
        );
      }
      const seen = new Set<tf.Tensor>();
      return gs.map((g, i) => {
        const t = this.t(g, `customGrad gradient ${i}`);
        if (!sameShape(t.shape, shapes[i]!)) {
          throw new DqaError(
            'GRADIENT',
            `customGrad: gradient ${i} has shape ${formatShape(t.shape)}, its input ${formatShape(shapes[i]!)}`,
          );
        }
        // Held tensors are released below and dy belongs to tfjs' backprop: hand out own handles.
        const mine = t === dy || seen.has(t) || group.tensors.includes(t) ? tf.clone(t) : t;
        seen.add(t);
        return mine;
      });
    } finally {
      this.release(group);
    }
  }

  private release(group: HeldGroup): void {
    for (const t of group.tensors) t.dispose();
    group.tensors = [];
    this.held = this.held.filter((g) => g !== group);
  }

  /** Releases the held tensors of tapes that have ended. */
  private sweepHeld(): void {
    if (this.held.length === 0) return;
    const state = this.tfEngine.state;
    for (const g of [...this.held]) {
      if (state.gradientDepth === 0 || g.tape !== state.activeTape) this.release(g);
    }
  }

  // ── elementwise ─────────────────────────────────────────────────────────────────────────
  private binary(
    op: string,
    a: Operand,
    b: Operand,
    fn: (x: tf.Tensor | number, y: tf.Tensor | number) => tf.Tensor,
  ): tf.Tensor {
    this.guard(op);
    const x = this.operand(a, op);
    const y = this.operand(b, op);
    this.broadcast(op, x, y);
    return fn(x, y);
  }

  /** tfjs comparisons return bool tensors; the contract wants float 0/1 masks. */
  private compare(
    op: string,
    a: Operand,
    b: Operand,
    fn: (x: tf.Tensor | number, y: tf.Tensor | number) => tf.Tensor,
  ): tf.Tensor {
    return this.binary(op, a, b, (x, y) => {
      const mask = fn(x, y);
      const out = tf.cast(mask, 'float32');
      mask.dispose();
      return out;
    });
  }

  add(a: Operand, b: Operand): tf.Tensor {
    return this.binary('add', a, b, tf.add);
  }
  sub(a: Operand, b: Operand): tf.Tensor {
    return this.binary('sub', a, b, tf.sub);
  }
  mul(a: Operand, b: Operand): tf.Tensor {
    return this.binary('mul', a, b, tf.mul);
  }
  div(a: Operand, b: Operand): tf.Tensor {
    return this.binary('div', a, b, tf.div);
  }
  maximum(a: Operand, b: Operand): tf.Tensor {
    return this.binary('maximum', a, b, (x, y) => extremum(tf.maximum, x, y));
  }
  minimum(a: Operand, b: Operand): tf.Tensor {
    return this.binary('minimum', a, b, (x, y) => extremum(tf.minimum, x, y));
  }
  pow(a: Operand, b: Operand): tf.Tensor {
    return this.binary('pow', a, b, tf.pow);
  }
  greater(a: Operand, b: Operand): tf.Tensor {
    return this.compare('greater', a, b, tf.greater);
  }
  greaterEqual(a: Operand, b: Operand): tf.Tensor {
    return this.compare('greaterEqual', a, b, tf.greaterEqual);
  }
  less(a: Operand, b: Operand): tf.Tensor {
    return this.compare('less', a, b, tf.less);
  }
  lessEqual(a: Operand, b: Operand): tf.Tensor {
    return this.compare('lessEqual', a, b, tf.lessEqual);
  }
  equal(a: Operand, b: Operand): tf.Tensor {
    return this.compare('equal', a, b, tf.equal);
  }

  where(cond: Tensor, a: Operand, b: Operand): tf.Tensor {
    this.guard('where');
    const c = this.t(cond, 'where');
    const x = this.operand(a, 'where');
    const y = this.operand(b, 'where');
    broadcastShapes(
      broadcastShapes(c.shape, TfjsBackendImpl.shapeOf(x), 'where'),
      TfjsBackendImpl.shapeOf(y),
      'where',
    );
    const mask = tf.notEqual(c, 0);
    const out = tf.where(mask, x, y);
    mask.dispose();
    return out;
  }

  private unary(op: string, x: Tensor, fn: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
    this.guard(op);
    return fn(this.t(x, op));
  }

  neg(x: Tensor): tf.Tensor {
    return this.unary('neg', x, tf.neg);
  }
  abs(x: Tensor): tf.Tensor {
    return this.unary('abs', x, tf.abs);
  }
  sign(x: Tensor): tf.Tensor {
    return this.unary('sign', x, tf.sign);
  }
  exp(x: Tensor): tf.Tensor {
    return this.unary('exp', x, tf.exp);
  }
  log(x: Tensor): tf.Tensor {
    return this.unary('log', x, tf.log);
  }
  sqrt(x: Tensor): tf.Tensor {
    return this.unary('sqrt', x, tf.sqrt);
  }
  square(x: Tensor): tf.Tensor {
    return this.unary('square', x, tf.square);
  }
  reciprocal(x: Tensor): tf.Tensor {
    return this.unary('reciprocal', x, tf.reciprocal);
  }
  relu(x: Tensor): tf.Tensor {
    return this.unary('relu', x, tf.relu);
  }
  sigmoid(x: Tensor): tf.Tensor {
    return this.unary('sigmoid', x, tf.sigmoid);
  }
  tanh(x: Tensor): tf.Tensor {
    return this.unary('tanh', x, tf.tanh);
  }
  floor(x: Tensor): tf.Tensor {
    return this.unary('floor', x, tf.floor);
  }

  clip(x: Tensor, lo: number, hi: number): tf.Tensor {
    this.guard('clip');
    if (!(lo <= hi)) throw new ArgumentError(`clip: lower bound ${lo} exceeds upper bound ${hi}`);
    return tf.clipByValue(this.t(x, 'clip'), lo, hi);
  }

  // ── reductions ──────────────────────────────────────────────────────────────────────────
  private reduce(
    op: string,
    fn: (t: tf.Tensor, axes: number[], keepDims: boolean) => tf.Tensor,
    x: Tensor,
    axes: number | readonly number[] | undefined,
    keepDims: boolean,
  ): tf.Tensor {
    this.guard(op);
    const t = this.t(x, op);
    return fn(t, normalizeAxes(axes, t.rank, op), keepDims);
  }

  sum(x: Tensor, axes?: number | readonly number[], keepDims = false): tf.Tensor {
    return this.reduce('sum', tf.sum, x, axes, keepDims);
  }
  mean(x: Tensor, axes?: number | readonly number[], keepDims = false): tf.Tensor {
    return this.reduce('mean', tf.mean, x, axes, keepDims);
  }
  max(x: Tensor, axes?: number | readonly number[], keepDims = false): tf.Tensor {
    return this.reduce('max', tf.max, x, axes, keepDims);
  }
  min(x: Tensor, axes?: number | readonly number[], keepDims = false): tf.Tensor {
    return this.reduce('min', tf.min, x, axes, keepDims);
  }

  // ── shapes ──────────────────────────────────────────────────────────────────────────────
  reshape(x: Tensor, shape: readonly number[]): tf.Tensor {
    this.guard('reshape');
    const t = this.t(x, 'reshape');
    return tf.reshape(t, inferReshape(t.shape, shape));
  }

  transpose(x: Tensor, perm?: readonly number[]): tf.Tensor {
    this.guard('transpose');
    const t = this.t(x, 'transpose');
    return tf.transpose(t, normalizePerm(t.rank, perm));
  }

  // ── neural-network ops ──────────────────────────────────────────────────────────────────
  matMul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): tf.Tensor {
    this.guard('matMul');
    const x = this.t(a, 'matMul');
    const y = this.t(b, 'matMul');
    if (x.rank !== 2 || y.rank !== 2) {
      throw new ShapeError(
        `matMul: both operands must be rank 2, got ${formatShape(x.shape)} and ${formatShape(y.shape)}`,
      );
    }
    const k = transposeA ? x.shape[0]! : x.shape[1]!;
    const k2 = transposeB ? y.shape[1]! : y.shape[0]!;
    if (k !== k2) {
      throw new ShapeError(
        `matMul: inner dimensions differ: ${formatShape(x.shape)}${transposeA ? 'ᵀ' : ''} · ${formatShape(y.shape)}${transposeB ? 'ᵀ' : ''} (${k} vs ${k2})`,
      );
    }
    return tf.matMul(x, y, transposeA, transposeB);
  }

  private conv(op: 'conv2d' | 'depthwiseConv2d', x: Tensor, filter: Tensor, o?: Conv2DOptions) {
    this.guard(op);
    const t = this.t(x, op) as tf.Tensor4D;
    const w = this.t(filter, op) as tf.Tensor4D;
    const g = conv2dGeometry(t.shape, w.shape, o, op === 'depthwiseConv2d');
    const pad = tfPadding(o?.padding ?? 'same');
    const strides: [number, number] = [g.strideHeight, g.strideWidth];
    const run = (k: tf.Tensor4D) =>
      op === 'conv2d'
        ? tf.conv2d(t, k, strides, pad, 'NHWC', 1)
        : tf.depthwiseConv2d(t, k, strides, pad, 'NHWC', 1);
    if (g.dilationHeight === 1 && g.dilationWidth === 1) return run(w);
    // tfjs has no gradient for dilated convolutions (Conv2D_grad and
    // DepthwiseConv2dNative_grad assert dilation 1) and refuses strides and dilations > 1
    // together: convolve with the equivalent dense filter, zeros between the taps, instead.
    return tf.tidy(() => run(dilateFilter(w, g.dilationHeight, g.dilationWidth)));
  }

  conv2d(x: Tensor, filter: Tensor, options?: Conv2DOptions): tf.Tensor {
    return this.conv('conv2d', x, filter, options);
  }

  depthwiseConv2d(x: Tensor, filter: Tensor, options?: Conv2DOptions): tf.Tensor {
    return this.conv('depthwiseConv2d', x, filter, options);
  }

  fusedConv2d(x: Tensor, filter: Tensor, options: FusedConv2DOptions = {}): tf.Tensor {
    const { bias, activation: requested, ...conv } = options;
    const activation = checkFusedActivation('fusedConv2d', requested);
    // Composed: tfjs differentiates it, and our training kernels cover each op.
    return tf.tidy(() => {
      let y = this.conv('conv2d', x, filter, conv);
      if (bias !== undefined) {
        const b = this.t(bias, 'fusedConv2d bias');
        checkConvBias(b.shape, y.shape[y.rank - 1]!);
        y = tf.add(y, b);
      }
      return activation === 'relu' ? tf.relu(y) : y;
    });
  }

  private pool(op: 'maxPool' | 'avgPool', x: Tensor, o: Pool2DOptions): tf.Tensor {
    this.guard(op);
    const t = this.t(x, op) as tf.Tensor4D;
    const g = pool2dGeometry(t.shape, o, op);
    const filter: [number, number] = [g.filterHeight, g.filterWidth];
    const strides: [number, number] = [g.strideHeight, g.strideWidth];
    const padded = g.padTop + g.padBottom + g.padLeft + g.padRight > 0;
    if (op === 'maxPool') return tf.maxPool(t, filter, strides, tfPadding(o.padding ?? 'valid'));
    if (!padded) return tf.avgPool(t, filter, strides, 'valid');
    // tfjs' avgPool leaves padding out of the divisor, but its gradient (AvgPoolGrad) divides by
    // the whole window: pool the zero-padded input over whole windows and rescale each output by
    // window / in-bounds pixels instead, which both tfjs' forward and backward get right.
    return tf.tidy(() => {
      const x = tf.pad(t, [
        [0, 0],
        [g.padTop, g.padBottom],
        [g.padLeft, g.padRight],
        [0, 0],
      ]);
      return tf.mul(tf.avgPool(x, filter, strides, 'valid'), avgPoolRescale(g));
    });
  }

  maxPool(x: Tensor, options: Pool2DOptions): tf.Tensor {
    return this.pool('maxPool', x, options);
  }

  avgPool(x: Tensor, options: Pool2DOptions): tf.Tensor {
    return this.pool('avgPool', x, options);
  }

  batchNorm(
    x: Tensor,
    mean: Tensor,
    variance: Tensor,
    offset?: Tensor,
    scale?: Tensor,
    epsilon = 1e-3,
  ): tf.Tensor {
    this.guard('batchNorm');
    const t = this.t(x, 'batchNorm');
    const params = [mean, variance, offset, scale].map((p, i) =>
      p === undefined
        ? undefined
        : this.t(p, `batchNorm ${['mean', 'variance', 'offset', 'scale'][i]}`),
    );
    const [m, v, o, s] = params;
    const channels = t.shape[t.rank - 1];
    // tfjs' fused kernel takes per-channel vectors; anything else broadcasts through plain ops.
    // Its gradient fails without a scale or an offset (reading `dataId` of the missing one), so
    // those go through plain ops too.
    if (
      t.rank >= 1 &&
      o !== undefined &&
      s !== undefined &&
      params.every((p) => p === undefined || (p.rank === 1 && p.shape[0] === channels))
    ) {
      return tf.batchNorm(t, m!, v!, o, s, epsilon);
    }
    for (const p of params) if (p) broadcastShapes(t.shape, p.shape, 'batchNorm');
    return tf.tidy(() => {
      let y = tf.mul(tf.sub(t, m!), tf.rsqrt(tf.add(v!, epsilon)));
      if (s) y = tf.mul(y, s);
      if (o) y = tf.add(y, o);
      return y;
    });
  }

  batchNormTraining(
    x: Tensor,
    offset?: Tensor,
    scale?: Tensor,
    epsilon = 1e-3,
    epilogue: BatchNormEpilogue = {},
  ): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
    this.guard('batchNormTraining');
    const t = this.t(x, 'batchNormTraining');
    const res =
      epilogue.residual === undefined
        ? undefined
        : this.t(epilogue.residual, 'batchNormTraining residual');
    checkBatchNormTraining(t.shape, offset?.shape, scale?.shape, res?.shape);
    const activation = checkFusedActivation('batchNormTraining', epilogue.activation);
    // tfjs differentiates the composition, statistics included.
    return tf.tidy(
      () =>
        composedBatchNormTraining(this, t, offset, scale, epsilon, res, activation) as {
          y: tf.Tensor;
          mean: tf.Tensor;
          variance: tf.Tensor;
        },
    );
  }

  private lastAxis(op: string, x: Tensor): tf.Tensor {
    this.guard(op);
    const t = this.t(x, op);
    if (t.rank === 0) throw new ShapeError(`${op}: input must have at least one axis`);
    return t;
  }

  softmax(x: Tensor): tf.Tensor {
    return tf.softmax(this.lastAxis('softmax', x), -1);
  }

  logSoftmax(x: Tensor): tf.Tensor {
    return tf.logSoftmax(this.lastAxis('logSoftmax', x), -1);
  }

  softmaxCrossEntropy(logits: Tensor, labels: Tensor): tf.Tensor {
    this.guard('softmaxCrossEntropy');
    const l = this.t(logits, 'softmaxCrossEntropy');
    const y = this.t(labels, 'softmaxCrossEntropy');
    if (l.rank !== 2 || !sameShape(l.shape, y.shape)) {
      throw new ShapeError(
        `softmaxCrossEntropy: logits ${formatShape(l.shape)} and one-hot labels ${formatShape(y.shape)} must both be [batch, classes]`,
      );
    }
    // Composed rather than tf.losses.softmaxCrossEntropy, whose gradient with respect to the
    // labels is (labels − softmax) instead of −logSoftmax(logits).
    return tf.tidy(() => tf.div(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(l, -1)))), l.shape[0]!));
  }

  // ── optional capabilities ───────────────────────────────────────────────────────────────
  /**
   * Recorded only: tfjs fixes its thread count when a backend starts (the wasm backend's
   * `threads` option of `createTfjsBackend`), Node's wasm build has no threads, tfjs' cpu backend
   * is single-threaded and tfjs-node sizes libtensorflow's pool itself. `describe()` reports a
   * request that could not be met.
   */
  setThreads(n: number): void {
    if (!(Number.isInteger(n) && n > 0)) {
      throw new ArgumentError(`setThreads: expected a positive integer, got ${n}`);
    }
    this.requestedThreads = n;
  }

  /** Disposes the variables this backend created and still holds; later ops throw. */
  close(): void {
    if (this.closed) return;
    for (const g of [...this.held]) this.release(g);
    for (const v of this.variables) v.dispose();
    this.variables.clear();
    this.closed = true;
  }
}

/**
 * tfjs' Maximum/Minimum gradients do not sum back over broadcast axes ("gradient of input 'b' has
 * shape 2,3, which does not match the shape of the input 3"): broadcast tensor operands of other
 * shapes explicitly first (BroadcastTo's gradient sums). A number operand needs no gradient.
 */
function extremum(
  fn: (a: tf.Tensor | number, b: tf.Tensor | number) => tf.Tensor,
  a: tf.Tensor | number,
  b: tf.Tensor | number,
): tf.Tensor {
  if (typeof a === 'number' || typeof b === 'number' || sameShape(a.shape, b.shape)) {
    return fn(a, b);
  }
  const shape = broadcastShapes(a.shape, b.shape, 'broadcast');
  return tf.tidy(() =>
    fn(
      sameShape(a.shape, shape) ? a : tf.broadcastTo(a, shape),
      sameShape(b.shape, shape) ? b : tf.broadcastTo(b, shape),
    ),
  );
}

/** Per output pixel, window area / in-bounds pixels, as a `[1, oh, ow, 1]` tensor. */
function avgPoolRescale(g: Conv2DGeometry): tf.Tensor {
  const rows = (o: number, stride: number, pad: number, f: number, size: number) => {
    const start = o * stride - pad;
    return Math.min(start + f, size) - Math.max(start, 0);
  };
  const out = new Float32Array(g.outHeight * g.outWidth);
  for (let oy = 0; oy < g.outHeight; oy++) {
    const h = rows(oy, g.strideHeight, g.padTop, g.filterHeight, g.inHeight);
    for (let ox = 0; ox < g.outWidth; ox++) {
      const w = rows(ox, g.strideWidth, g.padLeft, g.filterWidth, g.inWidth);
      out[oy * g.outWidth + ox] = (g.filterHeight * g.filterWidth) / (h * w);
    }
  }
  return tf.tensor4d(out, [1, g.outHeight, g.outWidth, 1]);
}

/**
 * The dense equivalent of a dilated filter: (fh − 1)·dh + 1 rows with dh − 1 zero rows between
 * taps (same for columns), built from reshape/pad/slice so gradients reach the filter.
 */
function dilateFilter(w: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [fh0, fw, c, o] = w.shape;
  let fh = fh0;
  let out: tf.Tensor = w;
  if (dh > 1) {
    out = tf.pad(tf.reshape(out, [fh, 1, fw * c * o]), [
      [0, 0],
      [0, dh - 1],
      [0, 0],
    ]);
    fh = (fh - 1) * dh + 1;
    out = tf.slice(tf.reshape(out, [fh0 * dh, fw, c, o]), [0, 0, 0, 0], [fh, fw, c, o]);
  }
  if (dw > 1) {
    out = tf.pad(tf.reshape(out, [fh * fw, 1, c * o]), [
      [0, 0],
      [0, dw - 1],
      [0, 0],
    ]);
    out = tf.slice(
      tf.reshape(out, [fh, fw * dw, c, o]),
      [0, 0, 0, 0],
      [fh, (fw - 1) * dw + 1, c, o],
    );
  }
  return out as tf.Tensor4D;
}
