import { totalmem } from 'node:os';
import {
  type BinaryOp,
  type Conv2DGeometry,
  DqaError,
  type FusedActivation,
  type Kernels,
  type ReduceOp,
  type UnaryOp,
} from '@dqa/core';
import type { NativeAddon } from './addon.js';

/**
 * @dqa/core's `Kernels` over the addon, with `Float32Array` storage: JavaScript owns every
 * tensor's memory, the addon reads inputs and writes each result into a fresh array. Arrays that
 * the tape backend releases go back to a pool (by length) and are handed out again as outputs,
 * so a training step does not pay for allocating and zeroing its large activations each time.
 */
export interface NativeKernelsOptions {
  /**
   * Most bytes of released arrays kept for reuse. A training step reuses what the previous one
   * released only if the pool can hold a step's worth (ResNet-20 at batch 128: ≈ 1.5 GiB; with
   * 512 MiB its step takes 1.8× as long). Default: a quarter of the machine's memory, at most
   * 4 GiB.
   */
  poolBytes?: number;
}

/** The default pool cap: a quarter of the memory, at most 4 GiB. */
export function defaultPoolBytes(): number {
  return Math.min(4 * 2 ** 30, Math.floor(totalmem() / 4));
}

const binaryCodes: Record<BinaryOp, number> = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  maximum: 4,
  minimum: 5,
  pow: 6,
  greater: 7,
  greaterEqual: 8,
  less: 9,
  lessEqual: 10,
  equal: 11,
};

const unaryCodes: Record<UnaryOp, number> = {
  neg: 0,
  abs: 1,
  sign: 2,
  exp: 3,
  log: 4,
  sqrt: 5,
  square: 6,
  reciprocal: 7,
  relu: 8,
  sigmoid: 9,
  tanh: 10,
  floor: 11,
  step: 12,
};

const reduceCodes: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

/** Arrays shorter than this are left to the garbage collector (cheap to allocate). */
const POOL_MIN_LENGTH = 4096;

/** Released arrays by length, reused as kernel outputs. */
export class ArrayPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly pooled = new WeakSet<Float32Array>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** An array of `length` values whose contents are unspecified (kernels overwrite them all). */
  take(length: number): Float32Array {
    if (length >= POOL_MIN_LENGTH) {
      const a = this.free.get(length)?.pop();
      if (a) {
        this.pooled.delete(a);
        this.bytes -= a.byteLength;
        return a;
      }
    }
    return new Float32Array(length);
  }

  give(a: Float32Array): void {
    if (a.length < POOL_MIN_LENGTH || this.pooled.has(a)) return;
    if (this.bytes + a.byteLength > this.maxBytes) return;
    let list = this.free.get(a.length);
    if (!list) {
      list = [];
      this.free.set(a.length, list);
    }
    list.push(a);
    this.pooled.add(a);
    this.bytes += a.byteLength;
  }

  /** Bytes held for reuse. */
  get heldBytes(): number {
    return this.bytes;
  }

  clear(): void {
    this.free.clear();
    this.bytes = 0;
  }
}

/** A native failure as a DqaError naming the kernel. */
function nativeError(kernel: string, e: unknown): DqaError {
  if (e instanceof DqaError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new DqaError('BACKEND_STATE', `native-cpu ${kernel}: ${message}`, { cause: e });
}

export interface NativeKernels extends Kernels<Float32Array> {
  readonly pool: ArrayPool;
}

export function createNativeKernels(
  addon: NativeAddon,
  options: NativeKernelsOptions = {},
): NativeKernels {
  const pool = new ArrayPool(options.poolBytes ?? defaultPoolBytes());
  /**
   * Every array handed out gets a new version: the addon keeps inputs it reordered for oneDNN by
   * (array, version), valid while the array holds the same tensor (kernels never write inputs).
   */
  const versions = new WeakMap<Float32Array, number>();
  let nextVersion = 1;
  const fresh = (length: number): Float32Array => {
    const a = pool.take(length);
    versions.set(a, nextVersion++);
    return a;
  };
  const version = (a: Float32Array): number => versions.get(a) ?? 0;
  const geometries = new WeakMap<Conv2DGeometry, Int32Array>();
  /** Max-pooling workspaces by input array, valid for the geometry they were computed with. */
  const workspaces = new WeakMap<Float32Array, { g: Conv2DGeometry; ws: Uint8Array }>();
  /** Workspaces of released inputs, by byte length, for the next max pooling. */
  const freeWorkspaces = new Map<number, Uint8Array[]>();
  const takeWorkspace = (bytes: number): Uint8Array =>
    freeWorkspaces.get(bytes)?.pop() ?? new Uint8Array(bytes);

  const geometry = (g: Conv2DGeometry): Int32Array => {
    let a = geometries.get(g);
    if (!a) {
      a = Int32Array.of(
        g.batch,
        g.inHeight,
        g.inWidth,
        g.inChannels,
        g.outHeight,
        g.outWidth,
        g.outChannels,
        g.filterHeight,
        g.filterWidth,
        g.strideHeight,
        g.strideWidth,
        g.dilationHeight,
        g.dilationWidth,
        g.padTop,
        g.padBottom,
        g.padLeft,
        g.padRight,
        g.multiplier,
      );
      geometries.set(g, a);
    }
    return a;
  };
  const inSize = (g: Conv2DGeometry) => g.batch * g.inHeight * g.inWidth * g.inChannels;
  const outSize = (g: Conv2DGeometry) => g.batch * g.outHeight * g.outWidth * g.outChannels;
  const filterSize = (g: Conv2DGeometry, depthwise: boolean) =>
    g.filterHeight * g.filterWidth * g.inChannels * (depthwise ? g.multiplier : g.outChannels);
  const sizeOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

  const conv = (depthwise: boolean) => ({
    forward(x: Float32Array, filter: Float32Array, g: Conv2DGeometry): Float32Array {
      const out = fresh(outSize(g));
      try {
        addon.convForward(depthwise, x, version(x), filter, version(filter), geometry(g), out);
      } catch (e) {
        throw nativeError(depthwise ? 'depthwiseConv2d' : 'conv2d', e);
      }
      return out;
    },
    backpropInput(dy: Float32Array, filter: Float32Array, g: Conv2DGeometry): Float32Array {
      const out = fresh(inSize(g));
      try {
        addon.convBackwardData(
          depthwise,
          dy,
          version(dy),
          filter,
          version(filter),
          geometry(g),
          out,
        );
      } catch (e) {
        throw nativeError(depthwise ? 'depthwiseConv2dBackpropInput' : 'conv2dBackpropInput', e);
      }
      return out;
    },
    backpropFilter(x: Float32Array, dy: Float32Array, g: Conv2DGeometry): Float32Array {
      const out = fresh(filterSize(g, depthwise));
      try {
        addon.convBackwardWeights(depthwise, x, version(x), dy, version(dy), geometry(g), out);
      } catch (e) {
        throw nativeError(depthwise ? 'depthwiseConv2dBackpropFilter' : 'conv2dBackpropFilter', e);
      }
      return out;
    },
  });
  const dense = conv(false);
  const activationCodes: Record<FusedActivation, number> = { linear: 0, relu: 1 };
  const depthwise = conv(true);

  return {
    name: 'native-cpu',
    pool,

    upload(values: Float32Array, size: number): Float32Array {
      const out = fresh(size);
      out.set(values.length === size ? values : values.subarray(0, size));
      return out;
    },
    download: (data, size) => data.slice(0, size),
    release(data: Float32Array): void {
      const kept = workspaces.get(data);
      if (kept) {
        workspaces.delete(data);
        const list = freeWorkspaces.get(kept.ws.byteLength);
        if (!list) freeWorkspaces.set(kept.ws.byteLength, [kept.ws]);
        else if (list.length < 8) list.push(kept.ws);
      }
      pool.give(data);
    },
    fill(size: number, value: number): Float32Array {
      const out = fresh(size);
      if (size >= POOL_MIN_LENGTH) addon.fill(out, size, value);
      else out.fill(value);
      return out;
    },

    binary(op, a, aShape, b, bShape, outShape) {
      const out = fresh(sizeOf(outShape));
      try {
        addon.binary(binaryCodes[op], a, aShape, b, bShape, outShape, out);
      } catch (e) {
        throw nativeError(op, e);
      }
      return out;
    },
    unary(op, x, size) {
      const out = fresh(size);
      try {
        addon.unary(unaryCodes[op], x, size, out);
      } catch (e) {
        throw nativeError(op, e);
      }
      return out;
    },
    clip(x, size, lo, hi) {
      const out = fresh(size);
      try {
        addon.clip(x, size, lo, hi, out);
      } catch (e) {
        throw nativeError('clip', e);
      }
      return out;
    },
    where(cond, condShape, a, aShape, b, bShape, outShape) {
      const out = fresh(sizeOf(outShape));
      try {
        addon.where(cond, condShape, a, aShape, b, bShape, outShape, out);
      } catch (e) {
        throw nativeError('where', e);
      }
      return out;
    },
    reduce(op, x, shape, axes) {
      const out = fresh(sizeOf(shape.filter((_, i) => !axes.includes(i))));
      try {
        addon.reduce(reduceCodes[op], x, shape, axes, out);
      } catch (e) {
        throw nativeError(op, e);
      }
      return out;
    },
    transpose(x, shape, perm) {
      const out = fresh(sizeOf(shape));
      try {
        addon.transpose(x, shape, perm, out);
      } catch (e) {
        throw nativeError('transpose', e);
      }
      return out;
    },
    matMul(a, aShape, b, bShape, transposeA, transposeB) {
      const m = transposeA ? aShape[1] : aShape[0];
      const n = transposeB ? bShape[0] : bShape[1];
      const out = fresh(m * n);
      try {
        addon.matMul(a, aShape[0], aShape[1], b, bShape[0], bShape[1], transposeA, transposeB, out);
      } catch (e) {
        throw nativeError('matMul', e);
      }
      return out;
    },

    conv2d: dense.forward,
    conv2dBiasActivation(x, filter, bias, activation, g) {
      const out = fresh(outSize(g));
      try {
        addon.convForward(
          false,
          x,
          version(x),
          filter,
          version(filter),
          geometry(g),
          out,
          bias ?? undefined,
          activationCodes[activation],
        );
      } catch (e) {
        throw nativeError('fusedConv2d', e);
      }
      return out;
    },
    biasActivationBackward(dy, y, rows, channels, activation) {
      const dz = fresh(rows * channels);
      const dBias = fresh(channels);
      try {
        addon.biasActivationBackward(dy, y, rows, channels, activationCodes[activation], dz, dBias);
      } catch (e) {
        throw nativeError('fusedConv2d gradient', e);
      }
      return { dz, dBias };
    },
    conv2dBackpropInput: dense.backpropInput,
    conv2dBackpropFilter: dense.backpropFilter,
    depthwiseConv2d: depthwise.forward,
    depthwiseConv2dBackpropInput: depthwise.backpropInput,
    depthwiseConv2dBackpropFilter: depthwise.backpropFilter,

    maxPool(x, g) {
      const out = fresh(g.batch * g.outHeight * g.outWidth * g.inChannels);
      try {
        const gm = geometry(g);
        const kept = workspaces.get(x);
        const bytes = addon.poolWorkspaceBytes(gm);
        const ws = kept?.ws.byteLength === bytes ? kept.ws : takeWorkspace(bytes);
        addon.poolForward(true, x, gm, out, ws);
        workspaces.set(x, { g, ws });
      } catch (e) {
        throw nativeError('maxPool', e);
      }
      return out;
    },
    maxPoolBackprop(dy, x, g) {
      const out = fresh(inSize(g));
      const kept = workspaces.get(x);
      try {
        addon.poolBackward(true, dy, x, geometry(g), out, kept?.g === g ? kept.ws : undefined);
      } catch (e) {
        throw nativeError('maxPoolBackprop', e);
      }
      return out;
    },
    avgPool(x, g) {
      const out = fresh(g.batch * g.outHeight * g.outWidth * g.inChannels);
      try {
        addon.poolForward(false, x, geometry(g), out);
      } catch (e) {
        throw nativeError('avgPool', e);
      }
      return out;
    },
    avgPoolBackprop(dy, g) {
      const out = fresh(inSize(g));
      try {
        addon.poolBackward(false, dy, undefined, geometry(g), out);
      } catch (e) {
        throw nativeError('avgPoolBackprop', e);
      }
      return out;
    },

    reluBackward(dy, x, size) {
      const out = fresh(size);
      try {
        addon.reluBackward(dy, x, size, out);
      } catch (e) {
        throw nativeError('relu gradient', e);
      }
      return out;
    },
    softmaxCrossEntropy(logits, labels, rows, cols) {
      const out = new Float32Array(1);
      try {
        addon.softmaxCrossEntropy(logits, labels, rows, cols, out);
      } catch (e) {
        throw nativeError('softmaxCrossEntropy', e);
      }
      return out;
    },
    softmaxCrossEntropyBackward(dy, logits, labels, rows, cols, needLabels) {
      const dLogits = fresh(rows * cols);
      const dLabels = needLabels ? fresh(rows * cols) : null;
      try {
        addon.softmaxCrossEntropyBackward(
          dy,
          logits,
          labels,
          rows,
          cols,
          dLogits,
          dLabels ?? undefined,
        );
      } catch (e) {
        throw nativeError('softmaxCrossEntropy gradient', e);
      }
      return [dLogits, dLabels];
    },

    batchNorm(x, rows, channels, mean, variance, offset, scale, epsilon) {
      const out = fresh(rows * channels);
      try {
        addon.batchNorm(
          x,
          rows,
          channels,
          mean,
          variance,
          offset ?? undefined,
          scale ?? undefined,
          epsilon,
          out,
        );
      } catch (e) {
        throw nativeError('batchNorm', e);
      }
      return out;
    },
    batchNormTraining(x, rows, channels, offset, scale, epsilon, residual, activation) {
      const y = fresh(rows * channels);
      const mean = fresh(channels);
      const variance = fresh(channels);
      try {
        addon.batchNormTraining(
          x,
          rows,
          channels,
          offset ?? undefined,
          scale ?? undefined,
          epsilon,
          y,
          mean,
          variance,
          residual ?? undefined,
          activationCodes[activation],
        );
      } catch (e) {
        throw nativeError('batchNormTraining', e);
      }
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
      const dx = fresh(rows * channels);
      const dOffset = fresh(channels);
      const dScale = fresh(channels);
      const dResidual = needResidual ? fresh(rows * channels) : null;
      try {
        addon.batchNormTrainingBackward(
          dy,
          x,
          rows,
          channels,
          mean,
          variance,
          scale ?? undefined,
          epsilon,
          dx,
          dOffset,
          dScale,
          y ?? undefined,
          activationCodes[activation],
          dResidual ?? undefined,
        );
      } catch (e) {
        throw nativeError('batchNormTraining gradient', e);
      }
      return { dx, dOffset, dScale, dResidual };
    },
    batchNormBackward(dy, x, rows, channels, mean, variance, scale, epsilon) {
      const dx = fresh(rows * channels);
      const dMean = fresh(channels);
      const dVariance = fresh(channels);
      const dOffset = fresh(channels);
      const dScale = fresh(channels);
      try {
        addon.batchNormBackward(
          dy,
          x,
          rows,
          channels,
          mean,
          variance,
          scale ?? undefined,
          epsilon,
          dx,
          dMean,
          dVariance,
          dOffset,
          dScale,
        );
      } catch (e) {
        throw nativeError('batchNorm gradient', e);
      }
      return { dx, dMean, dVariance, dOffset, dScale };
    },

    setThreads(n: number): void {
      addon.setThreads(n);
    },
  };
}
