import {
  BatchMatMul,
  type BatchMatMulAttrs,
  type KernelConfig,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { input, type KernelArgs, KernelScope, runStock } from './kernel-util.js';

/**
 * wasm's BatchMatMul runs XNNPACK's GEMM only for untransposed, unbatched operands; with
 * `transposeA` or `transposeB` (both products of a dense layer's gradient) it falls back to
 * naive loops. Here the transposed operand is materialised with wasm's Transpose and the
 * product goes to the XNNPACK path. Batched products keep the stock kernel.
 */
export function batchMatMul(args: KernelArgs): TensorInfo {
  const a = input(args, 'a', BatchMatMul);
  const b = input(args, 'b', BatchMatMul);
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  if (
    (!transposeA && !transposeB) ||
    batchA !== 1 ||
    batchB !== 1 ||
    a.dtype !== 'float32' ||
    b.dtype !== 'float32'
  ) {
    return runStock(BatchMatMul, 'wasm', args) as TensorInfo;
  }
  const scope = new KernelScope('wasm', args.backend);
  const matrix = (t: TensorInfo, transpose: boolean) => {
    const [r, c] = t.shape.slice(-2) as [number, number];
    const flat = scope.reshape(t, [r, c]);
    return transpose ? scope.transpose(flat, [1, 0]) : flat;
  };
  const a2 = matrix(a, transposeA);
  const b2 = matrix(b, transposeB);
  const product = scope.track(
    runStock(BatchMatMul, 'wasm', {
      inputs: { a: a2, b: b2 },
      backend: args.backend,
      attrs: { transposeA: false, transposeB: false },
    }) as TensorInfo,
  );
  const outer = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  return scope.keep(scope.reshape(product, [...outer, a2.shape[0]!, b2.shape[1]!]));
}

export function batchMatMulConfig(): KernelConfig {
  return { kernelName: BatchMatMul, backendName: 'wasm', kernelFunc: batchMatMul };
}
