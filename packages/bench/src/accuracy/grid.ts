import { ArgumentError, type DqaConfig, type DqaConfigInput, parseConfig } from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import {
  methods as allMethods,
  deepMerge,
  type Method,
  type MethodChoice,
  quantizationFor,
  type WeightQuantizer,
  weightQuantizers,
} from '../methods.js';

/**
 * The experiment grid of `dqa bench accuracy`, in the shape of the paper's Tables 1 and 2: per
 * model, full precision, then for each low-bit quantizer setting every method (plain STE,
 * Binary-Relax with the FP pair, Binary-Relax over the 2/4/8 mixture of eq. 8, DQA, Quantization
 * Networks), weights only (Table 1) and weights with PACT activations (Table 2), each over seeds.
 */

/** A low-bit weight quantizer of the tables: its family and final bitwidth n_1. */
export interface QuantizerSetting {
  quantizer: WeightQuantizer;
  bits: number;
}

/** A Table 2 row's setting: weights as `QuantizerSetting`, activations PACT at `activationBits`. */
export interface ActivationSetting extends QuantizerSetting {
  activationBits: number;
}

/** An architecture of @dqa/models with its options. */
export interface AccuracyModel {
  name: string;
  options?: Record<string, unknown>;
}

export interface AccuracyGridSpec {
  /**
   * The configuration every cell starts from (data set, batch, optimizer, learning rate, DQA's λ
   * and temperatures, which layers are quantized); each cell sets the model, seed, quantization,
   * epochs and training subset over it. `dqa bench accuracy` passes its `quick` preset.
   */
  base: DqaConfigInput;
  models: readonly AccuracyModel[];
  /** Methods, in row order; `fp` gives one row per model. */
  methods: readonly Method[];
  /** Weights-only settings (Table 1). */
  weights: readonly QuantizerSetting[];
  /** Weights and PACT activations (Table 2). */
  activations: readonly ActivationSetting[];
  /** At least one; mean ± std needs two or more. */
  seeds: readonly number[];
}

export type AccuracyTarget = 'fp' | 'weights' | 'weights+activations';

/** One run of the grid: a row of the table at one seed. */
export interface AccuracyCell {
  /** The table row, seed left out: `cnn-small/w/minmax2/dqa`. */
  key: string;
  /** The run folder's name under the grid folder: `cnn-small-w-minmax2-dqa-s0`. */
  name: string;
  model: AccuracyModel;
  method: Method;
  target: AccuracyTarget;
  /** The weight quantizer (absent for `fp`). */
  setting?: QuantizerSetting;
  /** PACT's n_1, for weights+activations rows. */
  activationBits?: number;
  seed: number;
}

/** The weight settings of the paper's tables: 2-bit min-max and SAWB, BWN (1 bit), TWN (2 bits). */
export const paperWeightSettings: readonly QuantizerSetting[] = [
  { quantizer: 'minmax', bits: 2 },
  { quantizer: 'sawb', bits: 2 },
  { quantizer: 'bwn', bits: 1 },
  { quantizer: 'twn', bits: 2 },
];

/** Table 2's settings: 2-bit min-max and SAWB weights ("PS": PACT-SAWB) with 2-bit PACT. */
export const paperActivationSettings: readonly ActivationSetting[] = [
  { quantizer: 'minmax', bits: 2, activationBits: 2 },
  { quantizer: 'sawb', bits: 2, activationBits: 2 },
];

/** The final bitwidth each family takes by default (BWN is binary, TWN ternary). */
export function defaultBits(q: WeightQuantizer): number {
  return q === 'bwn' ? 1 : 2;
}

const modelSlug = (m: AccuracyModel) =>
  m.options && Object.keys(m.options).length
    ? `${m.name}-${Object.entries(m.options)
        .map(([k, v]) => `${k}${String(v)}`)
        .join('-')
        .replace(/[^A-Za-z0-9.]+/g, '')}`
    : m.name;

const settingSlug = (s: QuantizerSetting) => `${s.quantizer}${s.bits}`;

function checkSpec(spec: AccuracyGridSpec): void {
  if (!spec.models.length) throw new ArgumentError('accuracy grid: models is empty; name one');
  if (!spec.methods.length) throw new ArgumentError('accuracy grid: methods is empty; name one');
  if (!spec.seeds.length) throw new ArgumentError('accuracy grid: seeds is empty; give one');
  for (const m of spec.methods) {
    if (!allMethods.includes(m))
      throw new ArgumentError(
        `accuracy grid: unknown method '${m}'; known: ${allMethods.join(', ')}`,
      );
  }
  for (const s of [...spec.weights, ...spec.activations]) {
    if (!weightQuantizers.includes(s.quantizer))
      throw new ArgumentError(
        `accuracy grid: unknown quantizer '${s.quantizer}'; known: ${weightQuantizers.join(', ')}`,
      );
  }
  for (const s of spec.seeds) {
    if (!(Number.isInteger(s) && s >= 0))
      throw new ArgumentError(`accuracy grid: seeds must be integers ≥ 0, got ${s}`);
  }
  const dupe = <T>(list: readonly T[], id: (x: T) => string, what: string) => {
    const seen = new Set<string>();
    for (const x of list) {
      const k = id(x);
      if (seen.has(k)) throw new ArgumentError(`accuracy grid: ${what} '${k}' is listed twice`);
      seen.add(k);
    }
  };
  dupe(spec.models, modelSlug, 'model');
  dupe(spec.methods, String, 'method');
  dupe(spec.weights, settingSlug, 'weight setting');
  dupe(spec.activations, (s) => `${settingSlug(s)}-a${s.activationBits}`, 'activation setting');
  dupe(spec.seeds, String, 'seed');
}

/**
 * Every cell of the grid, seeds outermost (all rows at the first seed, then the next seed), so an
 * interrupted grid already has a whole table at one seed. Within a seed: per model, FP, then each
 * weights-only setting with every other method, then each weights+activations setting.
 */
export function expandAccuracyGrid(spec: AccuracyGridSpec): AccuracyCell[] {
  checkSpec(spec);
  const rows: Omit<AccuracyCell, 'seed' | 'name'>[] = [];
  const quantized = spec.methods.filter((m) => m !== 'fp');
  for (const model of spec.models) {
    const m = modelSlug(model);
    if (spec.methods.includes('fp'))
      rows.push({ key: `${m}/fp`, model, method: 'fp', target: 'fp' });
    for (const setting of spec.weights)
      for (const method of quantized)
        rows.push({
          key: `${m}/w/${settingSlug(setting)}/${method}`,
          model,
          method,
          target: 'weights',
          setting: { quantizer: setting.quantizer, bits: setting.bits },
        });
    for (const s of spec.activations)
      for (const method of quantized)
        rows.push({
          key: `${m}/wa/${settingSlug(s)}-a${s.activationBits}/${method}`,
          model,
          method,
          target: 'weights+activations',
          setting: { quantizer: s.quantizer, bits: s.bits },
          activationBits: s.activationBits,
        });
  }
  return spec.seeds.flatMap((seed) =>
    rows.map((r) => ({ ...r, name: `${r.key.replaceAll('/', '-')}-s${seed}`, seed })),
  );
}

/** The method shorthand of a cell, as `dqa train --method … --quantizer … --bits …` reads it. */
export function cellChoice(cell: AccuracyCell): MethodChoice {
  return {
    method: cell.method,
    quantizer: cell.setting?.quantizer ?? 'minmax',
    bits: cell.setting?.bits ?? 2,
    activations: cell.target === 'weights+activations',
    activationBits: cell.activationBits ?? 2,
  };
}

/** How long each run of the grid trains, and on how much data (from `planAccuracyBudget`). */
export interface RunLength {
  epochs: number;
  /** Training examples per epoch (the first N of the split), or null for all of them. */
  trainExamples: number | null;
  /** Test examples (the first N), or null for the whole test split. */
  testExamples: number | null;
}

/** Where a run computes; not part of what a cell means (a grid may move between backends). */
export interface RunPlace {
  backend: string;
  threads: number | 'auto';
}

/**
 * The resolved configuration of a cell: the grid's base with the cell's model, seed and
 * quantization (`quantizationFor`, as `dqa train --method` builds it), the run length, and
 * Binary-Relax's ω on its `scaled` schedule (ω = 1.02^(300·t): the paper's 300-epoch ramp
 * compressed into the run, whatever its length). DQA's temperature, Quantization Networks' and
 * the learning-rate steps already span each run's own length.
 */
export function cellConfig(
  spec: AccuracyGridSpec,
  cell: AccuracyCell,
  length: RunLength,
  place: RunPlace,
): DqaConfig {
  const q = quantizationFor(cellChoice(cell));
  let merged = deepMerge(spec.base, {
    seed: cell.seed,
    quantization: { weights: q.weights, activations: q.activations },
    relaxation: { binaryRelax: { schedule: 'scaled' } },
    training: { epochs: length.epochs, backend: place.backend, threads: place.threads },
  }) as DqaConfigInput;
  const data = { ...merged.data } as Record<string, unknown>;
  delete data.limitTrain;
  delete data.limitTest;
  if (length.trainExamples !== null) data.limitTrain = length.trainExamples;
  if (length.testExamples !== null) data.limitTest = length.testExamples;
  merged = {
    ...merged,
    model: { name: cell.model.name, options: { ...(cell.model.options ?? {}) } },
    data: data as DqaConfigInput['data'],
  };
  return parseConfig(merged, { quantizers }, `grid cell ${cell.name}`);
}

/**
 * The first place two configurations differ, as `key.path: a here, b there`, or null when equal.
 * Key order does not matter.
 */
export function configDifference(a: unknown, b: unknown, path = ''): string | null {
  const show = (v: unknown) => (v === undefined ? 'absent' : JSON.stringify(v));
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path || '(root)'}: ${show(a)} vs ${show(b)}`;
    for (let i = 0; i < a.length; i++) {
      const d = configDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = configDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : `${path || '(root)'}: ${show(a)} vs ${show(b)}`;
}
