import { ArgumentError, type Backend, DqaError, type Granularity } from '@dqa/core';
import {
  type BuiltModel,
  hardWeights,
  type ImageShape,
  inferShapes,
  type ModelOp,
  type ModelSpec,
  type ParameterRole,
  parameterSpecs,
} from '@dqa/models';
import { type LevelTensor, levelValues, toLevelTensor } from './levels.js';

/**
 * What the exported model takes: images as bytes, `[height, width, channels]` NHWC, normalised
 * inside the model to `(byte / 255 − mean[c]) / std[c]`, as the data set's batches are in training.
 */
export interface ExportedInput {
  readonly shape: ImageShape;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** Q_1 of a layer's weights: what the trained model was finally quantized with. */
export interface WeightQuantizerInfo {
  /** Quantizer plugin id (`minmax`, `sawb`, `bwn`, `twn`, …). */
  readonly quantizer: string;
  readonly bits: number;
  /** The relaxation it was trained with (`ste`, `dqa`, `binary-relax`, `qnet`, …). */
  readonly relaxation: string;
  readonly granularity: Granularity;
}

/** PACT on a layer's input: clip to [0, α], then `bits`-bit uniform levels. */
export interface ActivationQuantization {
  readonly quantizer: 'pact';
  readonly bits: number;
  /** The learned clip level α (float32). */
  readonly alpha: number;
  readonly relaxation: string;
}

/** A float tensor, row-major, in the model spec's layout (HWIO kernels, `[in, out]` dense). */
export interface FloatTensor {
  readonly kind: 'float';
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** A hard-quantized tensor: each group's exact levels and each element's level index. */
export interface QuantizedTensor extends LevelTensor {
  readonly kind: 'levels';
}

export type ExportedTensor = FloatTensor | QuantizedTensor;

/** One node with variables: its tensors by role, and how its weights and input are quantized. */
export interface ExportedLayer {
  readonly name: string;
  readonly op: ModelOp;
  readonly tensors: Partial<Record<ParameterRole, ExportedTensor>>;
  /** Present when the kernel was trained quantized. */
  readonly weightQuantizer?: WeightQuantizerInfo;
  /** Present when the layer's input is quantized (PACT). */
  readonly activation?: ActivationQuantization;
}

/**
 * A trained model as deployed: the architecture, the input it takes, and every variable as the
 * final low-bit model uses it (hard-quantized kernels as exact levels, the rest as float32). Both
 * export formats (ONNX, packed) are written from this, and the packed format reads back into it.
 */
export interface ExportedModel {
  readonly spec: ModelSpec;
  readonly input: ExportedInput;
  readonly classNames?: readonly string[];
  /** Where it came from (run folder, data set, test accuracy, …), kept in the files' metadata. */
  readonly source?: Readonly<Record<string, string | number>>;
  readonly layers: readonly ExportedLayer[];
}

export interface ExportModelOptions {
  /** The input the model was trained on: shape and the data set's normalisation. */
  input: ExportedInput;
  classNames?: readonly string[];
  source?: Record<string, string | number>;
}

/** A `DqaError` for a model that has something the exporters cannot write. */
export class UnsupportedExportError extends DqaError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

function checkInput(spec: ModelSpec, input: ExportedInput): void {
  const [h, w, c] = input.shape;
  if (spec.inputShape.some((d, i) => d !== input.shape[i]))
    throw new ArgumentError(
      `exportModel: the input shape [${input.shape.join(', ')}] is not the model's [${spec.inputShape.join(', ')}]`,
    );
  if (input.mean.length !== c || input.std.length !== c)
    throw new ArgumentError(
      `exportModel: ${c} input channels need ${c} means and standard deviations, got ${input.mean.length} and ${input.std.length}`,
    );
  if (!input.std.every((s) => s > 0) || !(h > 0 && w > 0))
    throw new ArgumentError('exportModel: standard deviations must be positive');
}

/**
 * The final low-bit model of `model` on backend `b`, ready to write: each quantized layer's kernel
 * through its collapsed hard quantizer Q_1 (what `evaluate(…, { hard: true })` computes with),
 * kept as exact levels per calibration group; batch norm, biases and float layers as float32;
 * PACT-quantized inputs with their learned clip level. Throws an `UnsupportedExportError` for an
 * input quantizer other than PACT (min-max and SAWB activations calibrate on every batch, which a
 * deployed model cannot) or a Quantization Networks activation.
 */
export async function exportModel(
  b: Backend,
  model: BuiltModel,
  options: ExportModelOptions,
): Promise<ExportedModel> {
  checkInput(model.spec, options.input);
  const built = new Map(model.layers.map((l) => [l.node.name, l]));
  const hard = await hardWeights(b, model);
  const layers: ExportedLayer[] = hard.map((h) => {
    const layer = built.get(h.name);
    const wq = layer?.weightQuantizer?.quantizers[0];
    const quantized = h.quantized && wq !== undefined && !wq.plugin.identity;
    const tensors: Partial<Record<ParameterRole, ExportedTensor>> = {};
    for (const [role, w] of Object.entries(h.weights) as [
      ParameterRole,
      { shape: number[]; values: Float32Array },
    ][]) {
      if (role === 'kernel' && quantized) {
        const axis = wq.granularity === 'channel' ? wq.channelAxis : null;
        const levels = toLevelTensor(w.values, w.shape, axis, `${h.name}/kernel`);
        tensors[role] = levels
          ? { kind: 'levels', ...levels }
          : { kind: 'float', shape: w.shape, values: w.values };
      } else tensors[role] = { kind: 'float', shape: w.shape, values: w.values };
    }
    const out: ExportedLayer = {
      name: h.name,
      op: h.op,
      tensors,
      ...(quantized
        ? {
            weightQuantizer: {
              quantizer: wq.plugin.id,
              bits: wq.bits,
              relaxation: layer!.weightQuantizer!.relaxation,
              granularity: wq.granularity,
            },
          }
        : {}),
    };
    const aq = layer?.activationQuantizer;
    const q1 = aq?.quantizers[0];
    if (!aq || !q1 || q1.plugin.identity) return out;
    if (aq.relaxation === 'qnet')
      throw new UnsupportedExportError(
        `layer '${h.name}': its input is quantized with Quantization Networks (qnet), whose hard steps move with the learned β; the exporters write PACT activations only (train with --activations under ste, dqa or binary-relax)`,
      );
    if (q1.plugin.id !== 'pact')
      throw new UnsupportedExportError(
        `layer '${h.name}': its input is quantized with '${q1.plugin.id}', which calibrates on every batch; a deployed model needs a fixed range, so the exporters write PACT activations only`,
      );
    if (q1.bits > 8)
      throw new UnsupportedExportError(
        `layer '${h.name}': PACT activations of ${q1.bits} bits; the exporters write 1–8-bit activations`,
      );
    const alphaVar = q1.params.alpha;
    if (!alphaVar)
      throw new UnsupportedExportError(`layer '${h.name}': its PACT quantizer has no clip level α`);
    const alpha = b.readSync(alphaVar)[0]!;
    if (!(alpha > 0 && Number.isFinite(alpha)))
      throw new UnsupportedExportError(
        `layer '${h.name}': PACT's clip level α is ${alpha}; it must be a positive number`,
      );
    return {
      ...out,
      activation: { quantizer: 'pact', bits: q1.bits, alpha, relaxation: aq.relaxation },
    };
  });
  return {
    spec: model.spec,
    input: {
      shape: [options.input.shape[0], options.input.shape[1], options.input.shape[2]],
      mean: [...options.input.mean],
      std: [...options.input.std],
    },
    ...(options.classNames ? { classNames: [...options.classNames] } : {}),
    ...(options.source ? { source: { ...options.source } } : {}),
    layers,
  };
}

/** The float32 values of an exported tensor (a quantized one's exact levels). */
export function tensorValues(t: ExportedTensor): Float32Array {
  return t.kind === 'float' ? t.values : levelValues(t);
}

/**
 * Checks that `m` is a well-formed exported model: a valid spec, one layer entry per node with
 * variables, each tensor of the shape its role needs, level indices inside their groups. `what`
 * names the source in errors (a file path).
 */
export function validateExportedModel(m: ExportedModel, what: string): void {
  const fail = (msg: string): never => {
    throw new ArgumentError(`${what}: ${msg}`);
  };
  try {
    inferShapes(m.spec);
  } catch (e) {
    fail(`its model spec is invalid: ${(e as Error).message}`);
  }
  checkInput(m.spec, m.input);
  const byLayer = new Map(m.layers.map((l) => [l.name, l]));
  const expected = parameterSpecs(m.spec);
  for (const p of expected) {
    const layer = byLayer.get(p.layer);
    if (!layer) fail(`it has no weights for layer '${p.layer}'`);
    const t = layer!.tensors[p.role];
    if (!t) fail(`layer '${p.layer}' has no ${p.role}`);
    if (t!.shape.length !== p.shape.length || t!.shape.some((d, i) => d !== p.shape[i]))
      fail(
        `layer '${p.layer}' ${p.role} has shape [${t!.shape.join(', ')}], the model needs [${p.shape.join(', ')}]`,
      );
    if (t!.kind === 'float') {
      if (t!.values.length !== p.shape.reduce((a, d) => a * d, 1))
        fail(`layer '${p.layer}' ${p.role} has ${t!.values.length} values for its shape`);
    } else {
      const g = t!.axis === null ? 1 : t!.shape[t!.axis]!;
      if (t!.levels.length !== g)
        fail(`layer '${p.layer}' ${p.role} has ${t!.levels.length} level sets for ${g} groups`);
      const values = levelValues(t!);
      if (values.some((v) => v === undefined || Number.isNaN(v)))
        fail(`layer '${p.layer}' ${p.role} has a level index outside its group's levels`);
    }
  }
  if (m.layers.length !== new Set(expected.map((p) => p.layer)).size)
    fail('it holds layers the model does not have');
}
