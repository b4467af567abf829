import { ArgumentError, BackendCapabilityError, ShapeError } from '@dqa/core';
import {
  type DataId,
  type DataType,
  getKernel,
  type KernelConfig,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

/** The tfjs backends `@dqa/tfjs` adds training kernels to. */
export type TrainingBackendName = 'wasm' | 'cpu';

/** The arguments tfjs hands a kernel function (`backend` is the backend instance, untyped in tfjs). */
export interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: object;
  attrs?: NamedAttrMap;
}

/** The slice of a tfjs backend that composed kernels use: reference counting of data ids. */
interface RefCountingBackend {
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/** tfjs-backend-wasm: tensors live on the WebAssembly heap. */
interface HeapBackend extends RefCountingBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): ArrayLike<number>;
}

/** tfjs-backend-cpu: tensors are plain typed arrays in a data map. */
export interface ArrayBackend extends RefCountingBackend {
  data: { get(dataId: DataId): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values: TypedArray): TensorInfo;
}

function isHeapBackend(backend: object): backend is HeapBackend {
  return 'typedArrayFromHeap' in backend && 'makeOutput' in backend;
}

export function isArrayBackend(backend: object): backend is ArrayBackend {
  return 'data' in backend && 'makeTensorInfo' in backend;
}

export type TypedArray = Float32Array | Int32Array | Uint8Array;

/** A new typed array of `n` elements for `dtype`, as tfjs' cpu backend stores it. */
export function typedArrayFor(dtype: DataType, n: number): TypedArray {
  if (dtype === 'int32') return new Int32Array(n);
  if (dtype === 'bool') return new Uint8Array(n);
  return new Float32Array(n);
}

/** The typed array a cpu tensor holds, or `undefined` (strings, complex numbers). */
export function cpuValues(backend: ArrayBackend, t: TensorInfo): TypedArray | undefined {
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array
    ? v
    : undefined;
}

/**
 * A cpu tensor's typed array together with the backend that holds it, or `undefined` where a
 * cpu-only kernel leaves the call to the stock kernel (another backend, strings, complex numbers).
 */
export function cpuArray(
  backend: object,
  t: TensorInfo,
): { backend: ArrayBackend; values: TypedArray } | undefined {
  if (!isArrayBackend(backend)) return undefined;
  const values = cpuValues(backend, t);
  return values === undefined ? undefined : { backend, values };
}

/** Row-major strides of `shape`: how many elements apart neighbours along each axis lie. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) strides[a] = strides[a + 1]! * shape[a + 1]!;
  return strides;
}

/**
 * One step of an odometer over the leading axes of `extent` (all but the last, which the caller
 * walks in a tight loop): advances `counter` to the next row and returns `offset` moved with it,
 * by `step[a]` per unit of axis a.
 */
export function nextRow(
  counter: number[],
  extent: readonly number[],
  step: readonly number[],
  offset: number,
): number {
  for (let a = extent.length - 2; a >= 0; a--) {
    offset += step[a]!;
    if (++counter[a]! < extent[a]!) break;
    offset -= step[a]! * extent[a]!;
    counter[a] = 0;
  }
  return offset;
}

function asRefCounting(backend: object): RefCountingBackend {
  if (!('disposeData' in backend)) throw new BackendCapabilityError('tfjs', 'disposeData()');
  return backend as RefCountingBackend;
}

/** Returns `input` of a kernel call, or throws naming the kernel and the missing input. */
export function input(args: KernelArgs, name: string, kernel: string): TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new ArgumentError(`${kernel}: input '${name}' is missing`);
  return t;
}

/** Float32 tensors only: the training kernels compute in float32 like the kernels they replace. */
export function assertFloat32(kernel: string, ...tensors: TensorInfo[]): void {
  for (const t of tensors) {
    if (t.dtype !== 'float32') {
      throw new ArgumentError(`${kernel}: expected float32 tensors, got ${t.dtype} [${t.shape}]`);
    }
  }
}

export function assertRank4(kernel: string, what: string, shape: readonly number[]): void {
  if (shape.length !== 4) {
    throw new ShapeError(`${kernel}: ${what} must be rank 4 (NHWC), got shape [${shape}]`);
  }
}

/**
 * Runs other registered kernels of one backend on behalf of a composed kernel and disposes every
 * intermediate it made: the caller keeps only what `keep` returns. Kernels are looked up at call
 * time, so a composed kernel on `cpu` picks up our faster `Conv2D` when that is registered.
 */
export class KernelScope {
  private readonly temps: TensorInfo[] = [];
  private readonly refs: RefCountingBackend;

  constructor(
    readonly backendName: TrainingBackendName,
    readonly backend: object,
  ) {
    this.refs = asRefCounting(backend);
  }

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const config = getKernel(kernelName, this.backendName);
    if (config === undefined) {
      throw new BackendCapabilityError(this.backendName, `kernel '${kernelName}'`);
    }
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    if (info === undefined) throw new ArgumentError(`${kernelName} returned no output`);
    this.temps.push(info);
    return info;
  }

  /** Hands an output made outside `run` (a host kernel's) to the scope, to be disposed with the rest. */
  track(info: TensorInfo): TensorInfo {
    this.temps.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    return this.run(
      'StridedSlice',
      { x },
      {
        begin,
        end,
        strides,
        beginMask: 0,
        endMask: 0,
        ellipsisMask: 0,
        newAxisMask: 0,
        shrinkAxisMask: 0,
      },
    );
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  pack(xs: TensorInfo[], axis: number): TensorInfo {
    // Pack takes its inputs as an array (tfjs' own `stack` op passes one).
    return this.run('Pack', xs as unknown as NamedTensorInfoMap, { axis });
  }

  zeros(shape: number[]): TensorInfo {
    return this.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
  }

  /**
   * Disposes every intermediate but `keep`; one that shares `keep`'s data (it was reshaped into
   * `keep`) only gives up its own reference.
   */
  keep(keep: TensorInfo): TensorInfo {
    for (const t of this.temps) if (t !== keep) this.refs.disposeData(t.dataId);
    this.temps.length = 0;
    return keep;
  }
}

/**
 * Plain-array access for kernels written in TypeScript, on either backend. On `wasm` the views
 * point into the WebAssembly heap, so they are taken only after the output has been allocated
 * (an allocation may grow, and so detach, the heap).
 */
export function runHostKernel(
  backendName: TrainingBackendName,
  backend: object,
  inputs: TensorInfo[],
  outShape: number[],
  compute: (ins: ArrayLike<number>[], out: Float32Array) => void,
): TensorInfo {
  const size = outShape.reduce((a, b) => a * b, 1);
  if (backendName === 'wasm' && isHeapBackend(backend)) {
    const out = backend.makeOutput(outShape, 'float32');
    const ins = inputs.map((t) => backend.typedArrayFromHeap(t));
    const o = backend.typedArrayFromHeap(out);
    if (!(o instanceof Float32Array)) throw new ArgumentError('wasm output is not float32');
    o.fill(0);
    compute(ins, o);
    return out;
  }
  if (backendName === 'cpu' && isArrayBackend(backend)) {
    const ins = inputs.map((t) => {
      // A float32 tensor may hold an Int32Array: tfjs' cpu Cast from int32 keeps the array.
      const values = cpuValues(backend, t);
      if (values === undefined) {
        throw new ArgumentError(`cpu tensor [${t.shape}] holds no numeric values`);
      }
      return values;
    });
    const o = new Float32Array(size);
    compute(ins, o);
    return backend.makeTensorInfo(outShape, 'float32', o);
  }
  throw new BackendCapabilityError(backendName, 'plain-array tensor access');
}

/**
 * Shared by every copy of this package in the process (two bundles, or ESM and CJS builds): the
 * stock kernels ours replaced, captured once, before any copy replaced them.
 */
interface RegistryState {
  readonly stock: Map<string, KernelConfig>;
}
const STATE = Symbol.for('@dqa/tfjs/training-kernels');

export function registryState(): RegistryState {
  const g = globalThis as { [STATE]?: RegistryState };
  g[STATE] ??= { stock: new Map() };
  return g[STATE];
}

/**
 * Runs the stock kernel ours replaced, for the inputs ours does not handle (dtypes, layouts).
 * Throws if there is none (ours was registered where the backend had no such kernel).
 */
export function runStock(kernelName: string, backendName: TrainingBackendName, args: KernelArgs) {
  const stock = registryState().stock.get(`${backendName}_${kernelName}`);
  if (stock === undefined) {
    throw new BackendCapabilityError(backendName, `stock kernel '${kernelName}' to fall back to`);
  }
  return stock.kernelFunc({ inputs: args.inputs, backend: args.backend, attrs: args.attrs });
}

/** A training kernel's function: one call of the kernel on the named backend. */
export type TrainingKernelFunc = (backendName: TrainingBackendName, args: KernelArgs) => TensorInfo;

/** The config that registers `kernel` under `kernelName` on `backendName`. */
export function kernelConfig(
  kernelName: string,
  backendName: TrainingBackendName,
  kernel: TrainingKernelFunc,
): KernelConfig {
  return { kernelName, backendName, kernelFunc: (args) => kernel(backendName, args) };
}

/** A kernel config together with how it is installed: added, or replacing the stock kernel. */
export interface TrainingKernel {
  readonly config: KernelConfig;
  /** `replace`: the backend has a stock kernel of this name and ours is faster (measured). */
  readonly mode: 'add' | 'replace';
}
