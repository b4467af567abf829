import { join } from 'node:path';
import { ArgumentError, attention, normalizeAlpha, Random, softmax } from '@dqa/core';
import { quantizers } from '@dqa/quantizers';
import { writeFileAtomic } from '../io/atomic-write.js';
import { type DataRow, lineChart } from '../plot/line-chart.js';
import { writePlot } from '../plot/render.js';

/**
 * The paper's Fig. 2 (Section 3, the paragraph after eq. 5) as a reproducible study: the mean
 * absolute quantization error E|w − q(T)| of BR and DQA under a fixed temperature sweep, where
 * q(T) = Σ_k a_k(T)·Q_k(w) (eq. 2–3) and a(T) is the softmax attention of eq. 4.
 *
 * The paper says "a = softmax(α/T)" (eq. 4) in the text but Algorithm 1 normalises α by its
 * standard deviation first, which rescales the temperature axis; the study reports both.
 */

export type Fig2Method = 'br' | 'dqa';
export type Fig2Variant = 'algorithm1' | 'eq4';

export const fig2MethodIds: readonly Fig2Method[] = ['br', 'dqa'];
export const fig2VariantIds: readonly Fig2Variant[] = ['algorithm1', 'eq4'];

export interface Fig2QuantizerSpec {
  /** Plugin id in @dqa/quantizers. */
  id: string;
  bits: number;
  label: string;
}

export interface Fig2MethodSpec {
  label: string;
  /** Soft attention α of the Fig. 2 paragraph, one entry per quantizer. */
  alpha: readonly number[];
  /** Q_1 … Q_K, sorted by bitwidth (the lowest first, as eq. 3 assumes). */
  quantizers: readonly Fig2QuantizerSpec[];
}

const minmax = (bits: number): Fig2QuantizerSpec => ({
  id: 'minmax',
  bits,
  label: `${bits}-bit min-max`,
});

/** BR and DQA exactly as the Fig. 2 paragraph sets them up. */
export const fig2Methods: Readonly<Record<Fig2Method, Fig2MethodSpec>> = {
  br: {
    label: 'BR',
    alpha: [3 / 4, 1 / 4],
    quantizers: [minmax(2), { id: 'fp', bits: 32, label: 'FP' }],
  },
  dqa: {
    label: 'DQA',
    alpha: [4 / 7, 2 / 4, 1 / 7],
    quantizers: [minmax(2), minmax(4), minmax(8)],
  },
};

export interface Fig2VariantInfo {
  label: string;
  formula: string;
  description: string;
}

export const fig2Variants: Readonly<Record<Fig2Variant, Fig2VariantInfo>> = {
  algorithm1: {
    label: '(a) Algorithm 1',
    formula: 'a = softmax((α / std(α)) / T), population std',
    description: "as @dqa/core trains it (core's `attention(alpha, T)`)",
  },
  eq4: {
    label: '(b) eq. 4 literal',
    formula: 'a = softmax(α / T), α not normalised',
    description: 'what the text about Fig. 2 describes',
  },
};

/** The attention a(T) of each variant. */
export function fig2Attention(variant: Fig2Variant, alpha: readonly number[], T: number): number[] {
  if (variant === 'algorithm1') return attention([...alpha], T);
  if (!(T > 0 && Number.isFinite(T)))
    throw new ArgumentError(`fig2: temperature must be positive and finite, got ${T}`);
  return softmax(alpha.map((v) => v / T));
}

export interface Fig2Options {
  /** Number of Gaussian weights w ~ N(0, 1). Default 100 000; at least 2 (min-max needs a range). */
  samples?: number;
  /** Seed of core's `Random`. Default 0. */
  seed?: number;
  /** Log-spaced temperatures from `tMax` down to `tMin`, both included. Default 41 (10 a decade). */
  points?: number;
  /** Default 100, the paper's T(0). */
  tMax?: number;
  /** Default 0.01. */
  tMin?: number;
  /**
   * Temperatures shown in the markdown table; those inside [tMin, tMax] are added to the grid so
   * the table shows them exactly. Default 100, 30, 10, 3, 1, 0.3, 0.1, 0.03 (the paper's T(B)),
   * 0.01.
   */
  tableTemperatures?: readonly number[];
}

export const fig2Defaults: Readonly<Required<Fig2Options>> = {
  samples: 100_000,
  seed: 0,
  points: 41,
  tMax: 100,
  tMin: 0.01,
  tableTemperatures: [100, 30, 10, 3, 1, 0.3, 0.1, 0.03, 0.01],
};

/** One temperature of the sweep. */
export interface Fig2Row {
  T: number;
  /** Whether the markdown table shows this row. */
  inTable: boolean;
  /** a(T) per variant and method: BR [2 bit, FP], DQA [2, 4, 8 bit]. */
  attention: Record<Fig2Variant, Record<Fig2Method, number[]>>;
  /** E|w − q(T)| per variant and method. */
  mae: Record<Fig2Variant, Record<Fig2Method, number>>;
  /** E|w − Q(w; 2)| of pure 2-bit min-max (the same at every T; the limit T → 0). */
  minmax2: number;
}

export interface Fig2Result {
  study: 'fig2';
  settings: Required<Fig2Options>;
  weights: {
    distribution: 'N(0, 1)';
    samples: number;
    seed: number;
    min: number;
    max: number;
    mean: number;
    std: number;
  };
  methods: Record<Fig2Method, Fig2MethodSpec & { normalizedAlpha: number[] }>;
  variants: Record<Fig2Variant, Fig2VariantInfo>;
  /** E|w − Q_k(w)| of every quantizer used, alone. */
  quantizerMae: (Fig2QuantizerSpec & { mae: number })[];
  reference: { label: string; mae: number };
  /** Temperatures in descending order. */
  rows: Fig2Row[];
  /** Per variant: at how many temperatures DQA's MAE is below BR's. */
  summary: Record<Fig2Variant, { temperatures: number; dqaLower: number; brLower: number }>;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new ArgumentError(`fig2: ${message}`);
}

function resolveOptions(o: Fig2Options): Required<Fig2Options> {
  const s: Required<Fig2Options> = {
    ...fig2Defaults,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  };
  check(
    Number.isSafeInteger(s.samples) && s.samples >= 2,
    `samples must be an integer ≥ 2, got ${s.samples}`,
  );
  check(
    Number.isInteger(s.seed) && s.seed >= 0 && s.seed <= 0xffffffff,
    `seed must be an integer in [0, 2^32 − 1], got ${s.seed}`,
  );
  check(
    Number.isInteger(s.points) && s.points >= 2,
    `points must be an integer ≥ 2, got ${s.points}`,
  );
  check(
    s.tMin > 0 && Number.isFinite(s.tMax) && s.tMax > s.tMin,
    `need 0 < tMin < tMax, got tMin = ${s.tMin}, tMax = ${s.tMax}`,
  );
  for (const t of s.tableTemperatures)
    check(t > 0 && Number.isFinite(t), `table temperatures must be positive, got ${t}`);
  return s;
}

const sameT = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(a, b);

/** `points` log-spaced temperatures from tMax to tMin plus the table's, descending. */
export function fig2Temperatures(o: Fig2Options = {}): { T: number; inTable: boolean }[] {
  const s = resolveOptions(o);
  const hi = Math.log10(s.tMax);
  const lo = Math.log10(s.tMin);
  const grid = Array.from({ length: s.points }, (_, i) =>
    i === 0 ? s.tMax : i === s.points - 1 ? s.tMin : 10 ** (hi + ((lo - hi) * i) / (s.points - 1)),
  );
  const table = s.tableTemperatures.filter(
    (t) => (t <= s.tMax || sameT(t, s.tMax)) && (t >= s.tMin || sameT(t, s.tMin)),
  );
  // A table temperature replaces the grid point it coincides with (10^0.5 ≠ 3, but 10^1 = 10).
  const merged = grid.filter((g) => !table.some((t) => sameT(t, g)));
  const all = [
    ...merged.map((T) => ({ T, inTable: false })),
    ...table.map((T) => ({ T, inTable: true })),
  ];
  all.sort((a, b) => b.T - a.T);
  return all.filter((r, i) => i === 0 || !sameT(r.T, all[i - 1]!.T));
}

/** E|w − Σ_k a_k Q_k| over all weights, in float64. */
function mixMae(w: Float32Array, Q: readonly Float32Array[], a: readonly number[]): number {
  let sum = 0;
  const K = Q.length;
  for (let i = 0; i < w.length; i++) {
    let q = 0;
    for (let k = 0; k < K; k++) q += a[k]! * Q[k]![i]!;
    sum += Math.abs(w[i]! - q);
  }
  return sum / w.length;
}

/**
 * Runs the Fig. 2 sweep. Deterministic for given options. Each Q_k is the @dqa/quantizers
 * plugin's plain reference, calibrated on the whole weight tensor (min-max: eq. 10 and 13).
 */
export function runFig2Study(options: Fig2Options = {}): Fig2Result {
  const settings = resolveOptions(options);
  const w = new Random(settings.seed).normalArray(settings.samples);

  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let mean = 0;
  for (const v of w) {
    if (v < min) min = v;
    if (v > max) max = v;
    mean += v;
  }
  mean /= w.length;
  let variance = 0;
  for (const v of w) variance += (v - mean) * (v - mean);
  const std = Math.sqrt(variance / w.length);

  // Each distinct quantizer runs once; BR and DQA share the 2-bit one.
  const outputs = new Map<string, Float32Array>();
  const quantize = (q: Fig2QuantizerSpec): Float32Array => {
    const key = `${q.id}:${q.bits}`;
    let out = outputs.get(key);
    if (!out) {
      out = quantizers.get(q.id).reference(w, q.bits);
      outputs.set(key, out);
    }
    return out;
  };
  const Q: Record<Fig2Method, Float32Array[]> = {
    br: fig2Methods.br.quantizers.map(quantize),
    dqa: fig2Methods.dqa.quantizers.map(quantize),
  };
  const specs = [...fig2Methods.br.quantizers, ...fig2Methods.dqa.quantizers].filter(
    (q, i, all) => all.findIndex((p) => p.id === q.id && p.bits === q.bits) === i,
  );
  const quantizerMae = specs
    .map((q) => ({ ...q, mae: mixMae(w, [quantize(q)], [1]) }))
    .sort((a, b) => a.bits - b.bits);
  const minmax2 = quantizerMae.find((q) => q.id === 'minmax' && q.bits === 2)!.mae;

  const rows: Fig2Row[] = fig2Temperatures(settings).map(({ T, inTable }) => {
    const att = {} as Fig2Row['attention'];
    const mae = {} as Fig2Row['mae'];
    for (const v of fig2VariantIds) {
      att[v] = {} as Record<Fig2Method, number[]>;
      mae[v] = {} as Record<Fig2Method, number>;
      for (const m of fig2MethodIds) {
        const a = fig2Attention(v, fig2Methods[m].alpha, T);
        att[v][m] = a;
        mae[v][m] = mixMae(w, Q[m], a);
      }
    }
    return { T, inTable, attention: att, mae, minmax2 };
  });

  const summary = {} as Fig2Result['summary'];
  for (const v of fig2VariantIds) {
    let dqaLower = 0;
    let brLower = 0;
    for (const r of rows) {
      const c = compare(r.mae[v].br, r.mae[v].dqa);
      if (c === 'DQA') dqaLower++;
      else if (c === 'BR') brLower++;
    }
    summary[v] = { temperatures: rows.length, dqaLower, brLower };
  }

  const methods = {} as Fig2Result['methods'];
  for (const m of fig2MethodIds) {
    const spec = fig2Methods[m];
    methods[m] = {
      label: spec.label,
      alpha: [...spec.alpha],
      quantizers: spec.quantizers.map((q) => ({ ...q })),
      normalizedAlpha: normalizeAlpha(spec.alpha),
    };
  }

  return {
    study: 'fig2',
    settings: { ...settings, tableTemperatures: [...settings.tableTemperatures] },
    weights: {
      distribution: 'N(0, 1)',
      samples: settings.samples,
      seed: settings.seed,
      min,
      max,
      mean,
      std,
    },
    methods,
    variants: { algorithm1: { ...fig2Variants.algorithm1 }, eq4: { ...fig2Variants.eq4 } },
    quantizerMae,
    reference: { label: 'pure 2-bit min-max', mae: minmax2 },
    rows,
    summary,
  };
}

/** Which MAE is lower, or '=' when they agree to 1e-6 relative. */
function compare(br: number, dqa: number): 'BR' | 'DQA' | '=' {
  if (Math.abs(br - dqa) <= 1e-6 * Math.max(br, dqa)) return '=';
  return dqa < br ? 'DQA' : 'BR';
}

const fmtT = (t: number): string => String(Number(t.toPrecision(3)));
const fmtMae = (v: number): string => v.toFixed(4);
const fmtVec = (a: readonly number[]): string => a.map((v) => v.toFixed(3)).join(', ');
const fmtNum = (v: number): string => String(Number(v.toPrecision(4)));
const fmtAlpha = (a: readonly number[]): string => `[${a.map(fmtNum).join(', ')}]`;

/** The study as a markdown report: settings, both attention variants, and a table of each. */
export function fig2Markdown(result: Fig2Result): string {
  const { weights: wt, methods, settings } = result;
  const br = methods.br;
  const dqa = methods.dqa;
  const tableRows = result.rows.filter((r) => r.inTable);
  const shown = tableRows.length > 0 ? tableRows : result.rows;
  const lines: string[] = [
    '# Fig. 2: quantization error of BR and DQA against the temperature T',
    '',
    `Mean absolute quantization error E|w − q(T)|, q(T) = Σ_k a_k(T)·Q_k(w) (eq. 2), on w ~ N(0, 1): ` +
      `${wt.samples} samples drawn with @dqa/core's \`Random\` (seed ${wt.seed}); ` +
      `min ${fmtNum(wt.min)}, max ${fmtNum(wt.max)}, mean ${fmtNum(wt.mean)}, std ${fmtNum(wt.std)}. ` +
      'Each Q_k is a @dqa/quantizers reference calibrated on the whole tensor: min-max (eq. 10, 13) ' +
      'uses the weights’ own min and max; FP is the identity.',
    '',
    `- **BR** (K = ${br.quantizers.length}): Q = [${br.quantizers.map((q) => q.label).join(', ')}], α = [3/4, 1/4]`,
    `- **DQA** (K = ${dqa.quantizers.length}): Q = [${dqa.quantizers.map((q) => q.label).join(', ')}], α = [4/7, 2/4, 1/7]`,
    '',
    'Two ways to turn α into the attention a(T), reported separately:',
    '',
    `- **${fig2Variants.algorithm1.label}**, ${fig2Variants.algorithm1.description}: ` +
      `${fig2Variants.algorithm1.formula}. α / std(α) is BR ${fmtAlpha(br.normalizedAlpha)}, ` +
      `DQA ${fmtAlpha(dqa.normalizedAlpha)}.`,
    `- **${fig2Variants.eq4.label}**, ${fig2Variants.eq4.description}: ${fig2Variants.eq4.formula}.`,
    '',
    `Each quantizer alone: ${result.quantizerMae.map((q) => `${q.label} ${fmtMae(q.mae)}`).join(', ')}.`,
    `Reference, ${result.reference.label} (the limit T → 0 of both methods): **${fmtMae(result.reference.mae)}**.`,
    '',
    `Temperatures: ${settings.points} log-spaced from ${fmtT(settings.tMax)} to ${fmtT(settings.tMin)}` +
      (tableRows.length ? ' plus the table’s own' : '') +
      `, ${result.rows.length} in all; ` +
      (shown.length < result.rows.length
        ? `the tables show ${shown.length} of them, fig2.json has every one.`
        : 'the tables show every one.'),
    '“lower” names the method with the smaller MAE where the two differ by more than 1e-6 ' +
      'relative, which can be below the 4 decimals shown.',
  ];
  for (const v of fig2VariantIds) {
    const info = fig2Variants[v];
    const s = result.summary[v];
    lines.push(
      '',
      `## ${info.label}: ${info.formula}`,
      '',
      '| T | a BR [2-bit, FP] | a DQA [2, 4, 8-bit] | MAE BR | MAE DQA | lower |',
      '|---:|:---|:---|---:|---:|:---:|',
      ...shown.map(
        (r) =>
          `| ${fmtT(r.T)} | ${fmtVec(r.attention[v].br)} | ${fmtVec(r.attention[v].dqa)} | ` +
          `${fmtMae(r.mae[v].br)} | ${fmtMae(r.mae[v].dqa)} | ${compare(r.mae[v].br, r.mae[v].dqa)} |`,
      ),
      '',
      `Over all ${s.temperatures} temperatures: DQA's MAE is lower at ${s.dqaLower}, BR's at ${s.brLower}` +
        (s.temperatures - s.dqaLower - s.brLower > 0
          ? `, equal (to 1e-6 relative) at ${s.temperatures - s.dqaLower - s.brLower}.`
          : '.'),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The whole result, every row, as pretty JSON. */
export function fig2Json(result: Fig2Result): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}

const seriesLabel = (m: Fig2Method, v: Fig2Variant): string =>
  `${fig2Methods[m].label}, ${fig2Variants[v].label}`;
const referenceLabel = 'pure 2-bit min-max (reference)';

/** The plot: MAE against T on a log axis, one line per method and variant, 2-bit dashed. */
export function fig2Spec(result: Fig2Result) {
  const data: DataRow[] = [];
  for (const v of fig2VariantIds)
    for (const m of fig2MethodIds)
      for (const r of result.rows)
        data.push({ T: r.T, mae: r.mae[v][m], series: seriesLabel(m, v) });
  for (const r of result.rows) data.push({ T: r.T, mae: r.minmax2, series: referenceLabel });
  const order = [
    seriesLabel('br', 'algorithm1'),
    seriesLabel('dqa', 'algorithm1'),
    seriesLabel('br', 'eq4'),
    seriesLabel('dqa', 'eq4'),
    referenceLabel,
  ];
  return lineChart({
    title: 'Fig. 2 reproduction: quantization error of BR and DQA against temperature',
    subtitle: [
      `w ~ N(0, 1), ${result.weights.samples} samples, seed ${result.weights.seed}; q(T) = Σ a_k(T)·Q_k(w)`,
      'BR: [2-bit min-max, FP], α = [3/4, 1/4];  DQA: [2, 4, 8-bit min-max], α = [4/7, 2/4, 1/7]',
      `${fig2Variants.algorithm1.label}: ${fig2Variants.algorithm1.formula} (as @dqa/core trains)`,
      `${fig2Variants.eq4.label}: ${fig2Variants.eq4.formula}`,
    ],
    x: {
      field: 'T',
      title: 'temperature T (log scale)',
      log: true,
      format: '~g',
      ticks: [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100].filter(
        (t) => t >= result.settings.tMin && t <= result.settings.tMax,
      ),
    },
    y: { field: 'mae', title: 'mean absolute error E|w − q(T)|' },
    series: {
      field: 'series',
      title: 'method, attention',
      order,
      colors: {
        [order[0]!]: '#1f5fa8',
        [order[1]!]: '#d9480f',
        [order[2]!]: '#74a9e0',
        [order[3]!]: '#f59f55',
        [referenceLabel]: '#333333',
      },
      dashes: { [order[2]!]: [7, 3], [order[3]!]: [7, 3], [referenceLabel]: [2, 3] },
    },
    data,
    width: 620,
    height: 360,
  });
}

/** The files `writeFig2` wrote. */
export interface Fig2Files {
  md: string;
  json: string;
  svg: string;
  png?: string;
}

/**
 * Writes `fig2.md`, `fig2.json`, `fig2.svg` and (unless `png: false`) `fig2.png` into `outDir`,
 * each atomically, creating the folder if needed. Returns the paths written.
 */
export async function writeFig2(
  result: Fig2Result,
  outDir: string,
  options: { png?: boolean } = {},
): Promise<Fig2Files> {
  const md = join(outDir, 'fig2.md');
  const json = join(outDir, 'fig2.json');
  await writeFileAtomic(json, fig2Json(result));
  await writeFileAtomic(md, fig2Markdown(result));
  const plot = await writePlot(join(outDir, 'fig2'), fig2Spec(result), {
    png: options.png ?? true,
  });
  return { md, json, ...plot };
}
