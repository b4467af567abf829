import {
  ArgumentError,
  type Backend,
  type Batch,
  type DqaConfig,
  type DqaConfigInput,
  parseConfig,
  Random,
  type StepInfo,
} from '@dqa/core';
import { type BuiltModel, buildModel, createTrainData, type Dataset } from '@dqa/models';
import { quantizers } from '@dqa/quantizers';
import { deepMerge, type Method, quantizationFor, type WeightQuantizer } from '../methods.js';
import { filterNormalizedDirection, type HostTensor } from './directions.js';
import { type Roughness, surfaceRoughness } from './roughness.js';

/**
 * The paper's Fig. 4: the loss of a randomly initialised network along two random
 * filter-normalised directions (Li et al. 2017), L(α, β) = L(θ + α·d₁ + β·d₂), for the same
 * weights θ and directions computed with float32 weights, with the low-bit quantizer Q_1, and
 * with DQA's mixture of Q_1 … Q_3 at a fixed attention. Quantization acts on the perturbed
 * weights, as it does in training.
 */

/** One of the compared networks: a method of `quantizationFor` over the surface's quantizer. */
export interface SurfaceVariant {
  id: string;
  method: Extract<Method, 'fp' | 'ste' | 'dqa' | 'br-mix'>;
  /** Panel title; default from the quantizers (`float32`, `2-bit min-max`, `mixed 2/4/8-bit`). */
  label?: string;
}

/** The paper's three panels: float32, the low-bit quantizer Q_1, and DQA's mixture. */
export const defaultSurfaceVariants: readonly SurfaceVariant[] = [
  { id: 'fp', method: 'fp' },
  { id: 'low-bit', method: 'ste' },
  { id: 'mixed', method: 'dqa' },
];

export interface LossSurfaceOptions {
  backend: Backend;
  /**
   * Model, data set name and which layers are quantized (`quantizeFirstLayer`,
   * `quantizeLastLayer`); the quantization itself is set per variant.
   */
  base: DqaConfigInput;
  /** The data set named by `base.data`; its first `examples` test images are the batch. */
  dataset: Dataset;
  /** Images in the batch the loss is measured on (default 256). */
  examples?: number;
  /** The low-bit quantizer family and its final bits (default 2-bit min-max). */
  quantizer?: WeightQuantizer;
  bits?: number;
  variants?: readonly SurfaceVariant[];
  /**
   * DQA's temperature T for the mixture's attention a = softmax(α/T), α at eq. 7's initial values
   * normalised as Algorithm 1 does before a step. Default 100: the paper's T(0), where training
   * starts (a ≈ uniform over 2/4/8 bits).
   */
  temperature?: number;
  /** Grid points per axis, odd so that the origin is one (default 21). */
  points?: number;
  /** The grid spans α, β ∈ [−span, span] (default 1: one filter norm either way). */
  span?: number;
  /** Seed of the initialisation (`base.seed` when absent) and of the directions. */
  seed?: number;
  /** Called after each grid point with the variant's label (progress). */
  onPoint?: (done: number, total: number, variant: string) => void;
}

export interface SurfaceVariantResult {
  id: string;
  label: string;
  method: SurfaceVariant['method'];
  /** What the variant's layers quantize with, in words (`DQA over min-max 2/4/8`). */
  description: string;
  /** Loss at grid point (row j: β = axis[j], column i: α = axis[i]), row-major. */
  loss: number[];
  /** L at α = β = 0: the network's own loss on the batch. */
  originLoss: number;
  roughness: Roughness;
  /** DQA's attention per quantized layer at the fixed temperature (absent for the others). */
  attention?: { layer: string; a: number[]; bits: number[] }[];
}

export interface LossSurfaceResult {
  settings: {
    model: string;
    data: string;
    examples: number;
    quantizer: WeightQuantizer;
    bits: number;
    temperature: number;
    points: number;
    span: number;
    seed: number;
    quantizeFirstLayer: boolean;
    quantizeLastLayer: boolean;
  };
  /** Grid coordinates, the same for α and β. */
  axis: number[];
  variants: SurfaceVariantResult[];
}

const quantizerNames: Record<string, string> = {
  minmax: 'min-max',
  sawb: 'SAWB',
  bwn: 'BWN',
  twn: 'TWN',
  fp: 'FP',
};

function label(config: DqaConfig): string {
  const w = config.quantization.weights;
  if (!w) return 'float32';
  const q = w.quantizers;
  if (q.length === 1) return `${q[0]!.bits}-bit ${quantizerNames[q[0]!.id] ?? q[0]!.id}`;
  return `mixed ${q.map((r) => r.bits).join('/')}-bit${w.relaxation === 'dqa' ? ' (DQA)' : ` (${w.relaxation})`}`;
}

function describe(config: DqaConfig): string {
  const w = config.quantization.weights;
  if (!w) return 'float32 weights';
  const refs = w.quantizers.map((q) => `${quantizerNames[q.id] ?? q.id} ${q.bits}`).join(' + ');
  const how =
    w.relaxation === 'dqa' ? 'DQA mixture of' : w.relaxation === 'ste' ? '' : `${w.relaxation} of`;
  return `${how} ${refs}`.trim();
}

/** Builds the network of a variant (same seed: same initial weights for every variant). */
function variantConfig(
  o: LossSurfaceOptions,
  v: SurfaceVariant,
  seed: number,
  temperature: number,
): DqaConfig {
  const q = quantizationFor({
    method: v.method,
    quantizer: o.quantizer ?? 'minmax',
    bits: o.bits ?? 2,
    activations: false,
    activationBits: 2,
  });
  const merged = deepMerge(o.base, {
    seed,
    quantization: { weights: q.weights, activations: null },
    relaxation: {
      dqa: { temperature: { shape: 'exponential', t0: temperature, tEnd: temperature / 2 } },
    },
  });
  return parseConfig(merged, { quantizers }, `loss surface variant '${v.id}'`);
}

/** The grid's coordinates: `points` evenly spaced values from −span to span. */
export function surfaceAxis(points: number, span: number): number[] {
  if (!(Number.isInteger(points) && points >= 3 && points % 2 === 1))
    throw new ArgumentError(
      `loss surface: points must be an odd integer ≥ 3 (the origin is the middle one), got ${points}`,
    );
  if (!(span > 0 && Number.isFinite(span)))
    throw new ArgumentError(`loss surface: span must be a positive number, got ${span}`);
  const half = (points - 1) / 2;
  return Array.from({ length: points }, (_, i) => (span * (i - half)) / half);
}

/** Mean cross-entropy of `model` on `batch` at `step` (relaxed quantizers, inference mode). */
function batchLoss(b: Backend, model: BuiltModel, batch: Batch, step: StepInfo): number {
  return b.tidy(() => {
    const logits = model.forward(batch.x, { training: false, step, hard: false });
    return b.readSync(b.softmaxCrossEntropy(logits, batch.y))[0]!;
  });
}

/**
 * Computes the loss surface of every variant on one batch of real images: the same random
 * initialisation θ (from the seed), the same two filter-normalised directions (from θ and the
 * seed), every kernel set to θ + α·d₁ + β·d₂ at each grid point; biases stay as initialised.
 */
export async function computeLossSurface(o: LossSurfaceOptions): Promise<LossSurfaceResult> {
  const b = o.backend;
  const points = o.points ?? 21;
  const span = o.span ?? 1;
  const axis = surfaceAxis(points, span);
  const temperature = o.temperature ?? 100;
  if (!(temperature > 0 && Number.isFinite(temperature)))
    throw new ArgumentError(`loss surface: temperature must be positive, got ${temperature}`);
  const variants = o.variants ?? defaultSurfaceVariants;
  if (!variants.length) throw new ArgumentError('loss surface: no variants to compute');
  const examples = o.examples ?? 256;
  if (!(Number.isInteger(examples) && examples >= 1))
    throw new ArgumentError(`loss surface: examples must be an integer ≥ 1, got ${examples}`);
  const seed = o.seed ?? (o.base.seed as number | undefined) ?? 0;

  const configs = variants.map((v) => variantConfig(o, v, seed, temperature));
  const data = createTrainData(b, o.dataset, {
    batchSize: examples,
    seed,
    limitTest: examples,
  });
  const batch = data.testBatches()[Symbol.iterator]().next().value as Batch;
  // Step 0 of a one-step run: DQA's T(0) is `temperature`; nothing else reads the step.
  const step: StepInfo = { step: 0, totalSteps: 1, stepsPerEpoch: 1 };

  let theta: HostTensor[] | null = null;
  let directions: [Float32Array[], Float32Array[]] | null = null;
  const results: SurfaceVariantResult[] = [];
  try {
    for (const [vi, v] of variants.entries()) {
      const config = configs[vi]!;
      const model = buildModel(b, config, {
        quantizers,
        inputShape: o.dataset.inputShape,
        classes: o.dataset.classes,
      });
      try {
        const kernels = model.layers.map((l) => l.kernel);
        const current = kernels.map((k) => ({ values: b.readSync(k), shape: [...k.shape] }));
        if (!theta) {
          theta = current;
          const random = new Random(seed + 0x5eed);
          directions = [
            filterNormalizedDirection(theta, random),
            filterNormalizedDirection(theta, random),
          ];
        } else if (
          current.length !== theta.length ||
          current.some((t, i) => t.values.length !== theta![i]!.values.length)
        ) {
          throw new ArgumentError(
            `loss surface: variant '${v.id}' builds another network than '${variants[0]!.id}'`,
          );
        }
        // Algorithm 1 normalises α before every step; the attention is then softmax(α/T).
        for (const q of model.quantizers) q.beforeStep(step);
        const attention =
          v.method === 'dqa'
            ? model.quantizers.map((q) => ({
                layer: q.name,
                a: q.mixingWeights(step),
                bits: q.quantizers.map((k) => (k.plugin.identity ? 32 : k.bits)),
              }))
            : undefined;
        const [d1, d2] = directions!;
        const loss: number[] = [];
        const total = points * points;
        for (let j = 0; j < points; j++) {
          for (let i = 0; i < points; i++) {
            const alpha = axis[i]!;
            const beta = axis[j]!;
            kernels.forEach((k, t) => {
              const base = theta![t]!.values;
              const u = d1[t]!;
              const w = d2[t]!;
              const moved = new Float32Array(base.length);
              for (let e = 0; e < base.length; e++)
                moved[e] = base[e]! + alpha * u[e]! + beta * w[e]!;
              b.tidy(() => k.assign(b.tensor(moved, k.shape)));
            });
            const value = batchLoss(b, model, batch, step);
            if (!Number.isFinite(value))
              throw new ArgumentError(
                `loss surface: the loss of '${v.id}' is ${value} at α = ${alpha}, β = ${beta}; use a smaller span`,
              );
            loss.push(value);
            o.onPoint?.(j * points + i + 1, total, v.label ?? label(config));
            // Let the event loop run (progress, Ctrl-C).
            if (i === points - 1) await new Promise((r) => setImmediate(r));
          }
        }
        const mid = (points - 1) / 2;
        results.push({
          id: v.id,
          label: v.label ?? label(config),
          method: v.method,
          description: describe(config),
          loss,
          originLoss: loss[mid * points + mid]!,
          roughness: surfaceRoughness(loss, points, points),
          ...(attention ? { attention } : {}),
        });
      } finally {
        model.dispose();
      }
    }
  } finally {
    b.dispose([batch.x, batch.y]);
  }
  const c = configs[0]!;
  return {
    settings: {
      model: c.model.name,
      data: c.data.name,
      examples: Math.min(examples, o.dataset.test.count),
      quantizer: o.quantizer ?? 'minmax',
      bits: o.bits ?? 2,
      temperature,
      points,
      span,
      seed,
      quantizeFirstLayer: c.quantization.quantizeFirstLayer,
      quantizeLastLayer: c.quantization.quantizeLastLayer,
    },
    axis,
    variants: results,
  };
}
