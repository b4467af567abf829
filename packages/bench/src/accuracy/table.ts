import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import { type QuantizerRef, quantizationFor } from '../methods.js';
import { type AccuracyCell, type AccuracyTarget, cellChoice } from './grid.js';

/** The final accuracies of one finished run of the grid. */
export interface AccuracyRunResult {
  /** `AccuracyCell.name`. */
  name: string;
  /** Test accuracy of the final low-bit model (every quantizer collapsed to Q_1); FP: the float model. */
  hardAccuracy: number;
  /** Test accuracy of the relaxed model at the end of training (the mixture). */
  relaxedAccuracy: number;
  /** Training seconds (the epochs' own times, evaluation after each epoch included). */
  seconds: number;
}

/** Mean and sample standard deviation (n − 1) of a row's seeds; std is null for one seed. */
export interface AccuracyStat {
  mean: number;
  std: number | null;
  values: number[];
}

/** One row of the tables: a cell over its seeds. */
export interface AccuracyRow {
  key: string;
  model: string;
  method: AccuracyCell['method'];
  target: AccuracyTarget;
  /** Q_1 … Q_K of the weights ([] for FP) and of the activations (null: float). */
  weights: QuantizerRef[];
  activations: QuantizerRef[] | null;
  /** DQA's λ (eq. 6), for DQA rows. */
  lambda: number | null;
  /** Seeds in the grid, those with a finished run, and those whose loss became NaN or infinite. */
  seeds: number[];
  finished: number[];
  diverged: number[];
  hard: AccuracyStat | null;
  relaxed: AccuracyStat | null;
}

export function meanStd(values: readonly number[]): AccuracyStat | null {
  if (!values.length) return null;
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std =
    values.length > 1
      ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1))
      : null;
  return { mean, std, values: [...values] };
}

/**
 * The grid's rows in cell order, each over the seeds of its finished runs (`results`, by cell
 * name). `lambda` is the DQA λ the cells were trained with.
 */
export function summarizeAccuracy(
  cells: readonly AccuracyCell[],
  results: ReadonlyMap<string, AccuracyRunResult>,
  options: { lambda: number; diverged?: ReadonlyMap<string, string> },
): AccuracyRow[] {
  const rows = new Map<string, AccuracyRow & { hardValues: number[]; relaxedValues: number[] }>();
  for (const cell of cells) {
    let row = rows.get(cell.key);
    if (!row) {
      const q = quantizationFor(cellChoice(cell));
      row = {
        key: cell.key,
        model: cell.key.split('/')[0]!,
        method: cell.method,
        target: cell.target,
        weights: (q.weights?.quantizers ?? []).map((r) => ({ id: r.id, bits: r.bits })),
        activations: q.activations
          ? q.activations.quantizers.map((r) => ({ id: r.id, bits: r.bits }))
          : null,
        lambda: cell.method === 'dqa' ? options.lambda : null,
        seeds: [],
        finished: [],
        diverged: [],
        hard: null,
        relaxed: null,
        hardValues: [],
        relaxedValues: [],
      };
      rows.set(cell.key, row);
    }
    row.seeds.push(cell.seed);
    if (options.diverged?.has(cell.name)) row.diverged.push(cell.seed);
    const r = results.get(cell.name);
    if (r) {
      row.finished.push(cell.seed);
      row.hardValues.push(r.hardAccuracy);
      row.relaxedValues.push(r.relaxedAccuracy);
    }
  }
  return [...rows.values()].map(({ hardValues, relaxedValues, ...row }) => ({
    ...row,
    hard: meanStd(hardValues),
    relaxed: meanStd(relaxedValues),
  }));
}

const quantizerNames: Record<string, string> = {
  minmax: 'min-max',
  sawb: 'SAWB',
  bwn: 'BWN',
  twn: 'TWN',
  fp: 'FP',
  pact: 'PACT',
};
const qName = (id: string) => quantizerNames[id] ?? id;

const methodSuffix: Record<AccuracyCell['method'], string> = {
  fp: '',
  ste: '',
  br: '+BR',
  'br-mix': '+BR',
  dqa: '+DQA',
  qnet: '+QN',
};

/** `89.04 ± 0.21` (percent), `89.04` for one seed, `–` for none. */
export function formatStat(s: AccuracyStat | null): string {
  if (!s) return '–';
  const m = (100 * s.mean).toFixed(2);
  return s.std === null ? m : `${m} ± ${(100 * s.std).toFixed(2)}`;
}

/** `3`; `2/3` while a seed is missing; `2/3 (1 diverged)` when a run's loss became NaN. */
function seedsColumn(r: AccuracyRow): string {
  const n = r.finished.length;
  const count = n === r.seeds.length ? String(n) : `${n}/${r.seeds.length}`;
  return r.diverged.length ? `${count} (${r.diverged.length} diverged)` : count;
}

const formatLambda = (v: number) =>
  v >= 1e4 ? v.toExponential(0).replace('e+', 'e') : String(Number(v.toPrecision(6)));

function quantizerColumns(row: AccuracyRow): string[] {
  const refs = row.method === 'fp' ? [{ id: 'fp', bits: 32 }] : row.weights;
  const cols: string[] = [];
  for (let k = 0; k < 3; k++) {
    const r = refs[k];
    cols.push(r ? String(r.bits) : '-', r ? qName(r.id) : '-');
  }
  return cols;
}

function activationColumn(row: AccuracyRow): string {
  if (!row.activations) return 'float';
  const ids = [...new Set(row.activations.map((r) => qName(r.id)))].join('/');
  return `${ids} ${row.activations.map((r) => r.bits).join('/')}`;
}

/**
 * The tables in the paper's layout (Tables 1 and 2): per model, weights only, then weights and
 * activations; columns n_1, Q_1, n_2, Q_2, n_3, Q_3, λ and the accuracy of the final low-bit
 * model as mean ± std over the seeds (in %), with the relaxed model's accuracy and the number of
 * seeds beside it. `notes` are printed under the title (the budget and schedules).
 */
export function accuracyMarkdown(
  rows: readonly AccuracyRow[],
  options: { title?: string; notes?: readonly string[] } = {},
): string {
  const out: string[] = [`# ${options.title ?? 'Accuracy grid'}`, ''];
  if (options.notes?.length) out.push(...options.notes.map((n) => `- ${n}`), '');
  const models = [...new Set(rows.map((r) => r.model))];
  for (const model of models) {
    const fp = rows.filter((r) => r.model === model && r.target === 'fp');
    const quantized = rows.some((r) => r.model === model && r.target !== 'fp');
    for (const target of ['weights', 'weights+activations'] as const) {
      const body = rows.filter((r) => r.model === model && r.target === target);
      // A grid of FP rows alone still gets its table.
      if (!body.length && (quantized || target !== 'weights')) continue;
      const acts = target === 'weights+activations';
      out.push(
        `## ${model}: ${acts ? 'weights and activations (the layout of Table 2)' : 'weights only (the layout of Table 1)'}`,
        '',
        `| model | n_1 | Q_1 | n_2 | Q_2 | n_3 | Q_3 |${acts ? ' activations |' : ''} λ | acc. % (final low-bit) | acc. % (relaxed) | seeds |`,
        `| --- | ---: | --- | ---: | --- | ---: | --- |${acts ? ' --- |' : ''} ---: | ---: | ---: | ---: |`,
      );
      for (const r of [...fp, ...body]) {
        const cols = [
          `${model}${methodSuffix[r.method]}`,
          ...quantizerColumns(r),
          ...(acts ? [r.method === 'fp' ? 'float' : activationColumn(r)] : []),
          r.lambda === null ? '-' : formatLambda(r.lambda),
          formatStat(r.hard),
          formatStat(r.relaxed),
          seedsColumn(r),
        ];
        out.push(`| ${cols.join(' | ')} |`);
      }
      out.push('');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** The JSON written beside the table: the settings, every row and every run. */
export function accuracyJson(
  rows: readonly AccuracyRow[],
  runs: readonly (
    | (AccuracyRunResult & { key: string; seed: number })
    | { name: string; key: string; seed: number; diverged: string }
  )[],
  settings: Record<string, unknown>,
): string {
  return `${JSON.stringify({ format: 'dqa-bench-accuracy-results', version: 1, settings, rows, runs }, null, 2)}\n`;
}

/** Writes `accuracy.md` and `accuracy.json` in `dir`, each atomically. */
export async function writeAccuracy(
  dir: string,
  markdown: string,
  json: string,
): Promise<{ md: string; json: string }> {
  const md = join(dir, 'accuracy.md');
  const js = join(dir, 'accuracy.json');
  await writeFileAtomic(md, markdown);
  await writeFileAtomic(js, json);
  return { md, json: js };
}
