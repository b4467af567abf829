import { ArgumentError } from '@dqa/core';
import * as ort from 'onnxruntime-node';
import { ModelFileError } from './errors.js';
import { ONNX_INPUT, ONNX_OUTPUT } from './onnx-export.js';

/**
 * How onnxruntime-node optimises the graph. At its default level (`default`) it fuses
 * DequantizeLinear → MatMul into MatMulNBits, which quantizes the activations to int8 on the fly
 * (a small drift, ≈ 0.2–0.6 % of the logits); `exact` keeps every other optimisation but sets
 * `session.qdq_matmulnbits_accuracy_level = 0`, so that fused kernel computes in float: the model's
 * own arithmetic.
 */
export type OnnxPrecision = 'exact' | 'default';

export interface OnnxRunnerOptions {
  precision?: OnnxPrecision;
  /** Label of the model in errors (its file path). */
  path?: string;
  /** Images per inference call (default 256). */
  batchSize?: number;
}

/** An onnxruntime-node session over an exported model: uint8 NHWC images in, logits out. */
export interface OnnxRunner {
  readonly precision: OnnxPrecision;
  /** Logits `[count, classes]` of `count` images, row-major, `images` holding `count · h · w · c` bytes. */
  run(images: Uint8Array, count: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * Loads exported ONNX bytes into onnxruntime-node (its CPU execution provider). A model the runtime
 * refuses is a `ModelFileError` naming `path` with the runtime's reason.
 */
export async function createOnnxRunner(
  bytes: Uint8Array,
  input: { shape: readonly number[] },
  options: OnnxRunnerOptions = {},
): Promise<OnnxRunner> {
  const precision = options.precision ?? 'exact';
  const path = options.path ?? '(bytes)';
  const batchSize = options.batchSize ?? 256;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
      ...(precision === 'exact'
        ? { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } }
        : {}),
    });
  } catch (e) {
    throw new ModelFileError(
      path,
      'invalid',
      `onnxruntime-node ${ort.env.versions.node ?? ''} cannot load ONNX model ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const [h, w, c] = input.shape as [number, number, number];
  const per = h * w * c;
  return {
    precision,
    async run(images: Uint8Array, count: number): Promise<Float32Array> {
      if (images.length < count * per)
        throw new ArgumentError(
          `${path}: ${count} images of [${h}, ${w}, ${c}] need ${count * per} bytes, got ${images.length}`,
        );
      const parts: Float32Array[] = [];
      for (let start = 0; start < count; start += batchSize) {
        const n = Math.min(batchSize, count - start);
        const feed = new ort.Tensor('uint8', images.subarray(start * per, (start + n) * per), [
          n,
          h,
          w,
          c,
        ]);
        const result = await session.run({ [ONNX_INPUT]: feed });
        const out = result[ONNX_OUTPUT]!;
        parts.push(Float32Array.from(out.data as Float32Array));
        out.dispose();
      }
      const total = parts.reduce((a, p) => a + p.length, 0);
      const logits = new Float32Array(total);
      let off = 0;
      for (const p of parts) {
        logits.set(p, off);
        off += p.length;
      }
      return logits;
    },
    release: () => session.release(),
  };
}

/** How two models' logits on the same images compare. */
export interface LogitAgreement {
  examples: number;
  /** Images where both pick the same class (the first maximum). */
  sameTop1: number;
  /** sameTop1 / examples. */
  top1Agreement: number;
  /** max |a − b| over every logit. */
  maxAbsDiff: number;
  /** max |a| over the reference's logits. */
  maxAbsLogit: number;
  /** maxAbsDiff / maxAbsLogit. */
  relativeDiff: number;
}

const argmax = (x: Float32Array, offset: number, n: number) => {
  let best = 0;
  for (let k = 1; k < n; k++) if (x[offset + k]! > x[offset + best]!) best = k;
  return best;
};

/** Compares logits `[examples, classes]` of a reference and another run of the same model. */
export function compareLogits(
  reference: Float32Array,
  other: Float32Array,
  classes: number,
): LogitAgreement {
  if (reference.length !== other.length || reference.length % classes !== 0)
    throw new ArgumentError(
      `compareLogits: ${reference.length} and ${other.length} logits are not the same [examples, ${classes}]`,
    );
  const examples = reference.length / classes;
  let sameTop1 = 0;
  let maxAbsDiff = 0;
  let maxAbsLogit = 0;
  for (let i = 0; i < examples; i++) {
    if (argmax(reference, i * classes, classes) === argmax(other, i * classes, classes)) sameTop1++;
  }
  for (let j = 0; j < reference.length; j++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(reference[j]! - other[j]!));
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(reference[j]!));
  }
  return {
    examples,
    sameTop1,
    top1Agreement: examples ? sameTop1 / examples : 1,
    maxAbsDiff,
    maxAbsLogit,
    relativeDiff: maxAbsLogit > 0 ? maxAbsDiff / maxAbsLogit : maxAbsDiff,
  };
}

/** The bar an exported model must clear: the same top-1 everywhere, logits within 1e-4 · max|logit|. */
export const AGREEMENT_TOLERANCE = 1e-4;

export function agrees(a: LogitAgreement, tolerance = AGREEMENT_TOLERANCE): boolean {
  return a.sameTop1 === a.examples && a.relativeDiff <= tolerance;
}

/** Predicted class per image: the first maximum of each row of logits. */
export function topClasses(logits: Float32Array, classes: number): number[] {
  return Array.from({ length: logits.length / classes }, (_, i) =>
    argmax(logits, i * classes, classes),
  );
}
