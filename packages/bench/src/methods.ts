import type { DqaConfigInput } from '@dqa/core';

/**
 * The training methods of the paper's comparisons (Tables 1–4) as configuration: which relaxation
 * and which quantizers Q_1 … Q_K a method uses for a low-bit quantizer family. `dqa train
 * --method` and `dqa bench accuracy` both build their `quantization` sections from here.
 */

export type Method = 'fp' | 'ste' | 'br' | 'br-mix' | 'dqa' | 'qnet';
export const methods: readonly Method[] = ['fp', 'ste', 'br', 'br-mix', 'dqa', 'qnet'];

export const methodDescriptions: Record<Method, string> = {
  fp: 'float32 training, no quantization',
  ste: 'one low-bit quantizer, straight-through gradients',
  br: "Binary-Relax with the paper's original pair: the low-bit quantizer and full precision",
  'br-mix': "Binary-Relax over DQA's mixture (eq. 8: ω from 1, ×1.02 per epoch)",
  dqa: 'DNN Quantization with Attention over the mixture (softmax(α/T), λ·gᵀa/S)',
  qnet: 'Quantization Networks: Q_1 as a sum of sigmoids whose temperature rises to a hard step',
};

/** Weight quantizers with a mixture defined by the paper (Tables 1–4). */
export type WeightQuantizer = 'minmax' | 'sawb' | 'bwn' | 'twn';
export const weightQuantizers: readonly WeightQuantizer[] = ['minmax', 'sawb', 'bwn', 'twn'];

/** A quantizer reference of the configuration: plugin id and bitwidth. */
export type QuantizerRef = { id: string; bits: number };

/**
 * The mixture Q_1 … Q_3 of the paper for each low-bit quantizer: min-max and SAWB at 2/4/8 bits
 * (n_1 = `bits`, then 2·n_1 and 4·n_1 capped at 8), BWN with TWN and FP (Table 1), TWN with
 * 4- and 8-bit min-max (Table 1).
 */
export function mixture(q: WeightQuantizer, bits: number): QuantizerRef[] {
  switch (q) {
    case 'bwn':
      return [
        { id: 'bwn', bits: 1 },
        { id: 'twn', bits: 2 },
        { id: 'fp', bits: 32 },
      ];
    case 'twn':
      return [
        { id: 'twn', bits: 2 },
        { id: 'minmax', bits: 4 },
        { id: 'minmax', bits: 8 },
      ];
    default: {
      const n2 = Math.min(2 * bits, 8);
      const n3 = Math.min(4 * bits, 8);
      const refs = [bits, n2, n3].filter((b, i, all) => all.indexOf(b) === i);
      if (refs.length < 2) refs.push(16);
      return refs.map((b) => ({ id: q, bits: b }));
    }
  }
}

/** Q_1 of a quantizer family: the quantizer and bits the model is finally quantized to. */
export function lowBit(q: WeightQuantizer, bits: number): QuantizerRef {
  return mixture(q, bits)[0]!;
}

/**
 * λ of the paper's tables for a data set and quantizer (weights only: Table 1 for CIFAR, Table 3
 * for ImageNet; weights and activations: Tables 2 and 4). Data sets the paper did not use take
 * CIFAR-10's value.
 */
export function paperLambda(data: string, q: WeightQuantizer, activations: boolean): number {
  const set = data === 'cifar100' ? 'c100' : data === 'imagenet' ? 'imagenet' : 'c10';
  if (activations) {
    const table: Record<string, Partial<Record<WeightQuantizer, number>>> = {
      c10: { minmax: 5, sawb: 1 },
      c100: { minmax: 10, sawb: 5 },
      imagenet: { minmax: 0.5 },
    };
    return table[set]![q] ?? table[set]!.minmax!;
  }
  const table: Record<string, Record<WeightQuantizer, number>> = {
    c10: { minmax: 5, sawb: 1, bwn: 5, twn: 5 },
    c100: { minmax: 10, sawb: 5, bwn: 30, twn: 20 },
    imagenet: { minmax: 1, sawb: 1, bwn: 10, twn: 1 },
  };
  return table[set]![q];
}

export interface MethodChoice {
  method: Method;
  quantizer: WeightQuantizer;
  /** n_1, the final bitwidth (min-max and SAWB). */
  bits: number;
  /** Quantize activations with PACT (n_1 = activationBits), same relaxation as the weights. */
  activations: boolean;
  activationBits: number;
}

/** The `quantization` section for a method. */
export function quantizationFor(c: MethodChoice): NonNullable<DqaConfigInput['quantization']> {
  const weights = (() => {
    switch (c.method) {
      case 'fp':
        return null;
      case 'ste':
        return { relaxation: 'ste', quantizers: [lowBit(c.quantizer, c.bits)] };
      case 'br':
        return {
          relaxation: 'binary-relax',
          quantizers: [lowBit(c.quantizer, c.bits), { id: 'fp', bits: 32 }],
        };
      case 'br-mix':
        return { relaxation: 'binary-relax', quantizers: mixture(c.quantizer, c.bits) };
      case 'dqa':
        return { relaxation: 'dqa', quantizers: mixture(c.quantizer, c.bits) };
      case 'qnet':
        return { relaxation: 'qnet', quantizers: [lowBit(c.quantizer, c.bits)] };
    }
  })();
  const pact = (bits: number) => ({ id: 'pact', bits });
  const activations =
    !c.activations || c.method === 'fp'
      ? null
      : c.method === 'ste' || c.method === 'br'
        ? { relaxation: 'ste', quantizers: [pact(c.activationBits)] }
        : c.method === 'qnet'
          ? { relaxation: 'qnet', quantizers: [pact(c.activationBits)] }
          : {
              relaxation: c.method === 'dqa' ? 'dqa' : 'binary-relax',
              quantizers: [
                ...new Set([c.activationBits, Math.min(2 * c.activationBits, 8), 8]),
              ].map(pact),
            };
  return { weights, activations };
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` merged into `base`, objects key by key, anything else replaced (`undefined` skipped). */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isPlain(base) || !isPlain(over)) return (over === undefined ? base : over) as T;
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlain(v) && isPlain(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out as T;
}
