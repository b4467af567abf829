import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { SpeedCell, SpeedResult } from './runner.js';
import { type SpeedModelId, type SpeedVariantId, speedModels, speedVariants } from './spec.js';

/** One table row: a model and variant, with each backend's cell and the derived ratios. */
export interface SpeedRow {
  model: SpeedModelId;
  variant: SpeedVariantId;
  /** Backend id → the cell (undefined: the backend did not run it). */
  cells: Record<string, SpeedCell | undefined>;
  /** Backend id → this variant's median / the reference's (PyTorch) FP median of the model. */
  vsReferenceFp: Record<string, number | null>;
  /**
   * DQA-TS backend id → this variant's median / the limit's (the plain oneDNN C++ step) FP median
   * of the model; empty when no limit backend ran.
   */
  vsLimitFp: Record<string, number | null>;
  /** Backend id → DQA median / STE median − 1 (on the DQA row only). */
  dqaOverSte: Record<string, number | null>;
}

const reference = (r: SpeedResult) => r.backends.find((b) => b.role === 'reference');
const limit = (r: SpeedResult) => r.backends.find((b) => b.role === 'limit');
/** The DQA-TS backends of the run (not the reference, not the limit). */
const dqaBackends = (r: SpeedResult) =>
  r.settings.backends.filter((id) => r.backends.find((b) => b.id === id)?.role === 'dqa');
/** Whether `backend` measures `variant` (the limit measures FP only). */
const measures = (r: SpeedResult, backend: string, variant: SpeedVariantId) =>
  (r.settings.backendVariants[backend] ?? r.settings.variants).includes(variant);
const find = (r: SpeedResult, backend: string, model: string, variant: string) =>
  r.cells.find((c) => c.backend === backend && c.model === model && c.variant === variant);

/** The table's rows, model by model, variants in the order they ran. */
export function speedRows(r: SpeedResult): SpeedRow[] {
  const ref = reference(r);
  const lim = limit(r);
  const dqa = dqaBackends(r);
  const rows: SpeedRow[] = [];
  for (const model of r.settings.models) {
    const refFp = ref ? (find(r, ref.id, model, 'fp')?.medianMs ?? null) : null;
    const limFp = lim ? (find(r, lim.id, model, 'fp')?.medianMs ?? null) : null;
    for (const variant of r.settings.variants) {
      const row: SpeedRow = {
        model,
        variant,
        cells: {},
        vsReferenceFp: {},
        vsLimitFp: {},
        dqaOverSte: {},
      };
      for (const b of r.settings.backends) {
        const cell = find(r, b, model, variant);
        row.cells[b] = cell;
        const ms = cell?.medianMs ?? null;
        if (ref && b !== ref.id) row.vsReferenceFp[b] = ms !== null && refFp ? ms / refFp : null;
        if (lim && dqa.includes(b)) row.vsLimitFp[b] = ms !== null && limFp ? ms / limFp : null;
        if (variant === 'dqa248' && measures(r, b, 'dqa248') && measures(r, b, 'ste2')) {
          const ste = find(r, b, model, 'ste2')?.medianMs ?? null;
          row.dqaOverSte[b] = ms !== null && ste ? ms / ste - 1 : null;
        }
      }
      rows.push(row);
    }
  }
  return rows;
}

/** The issue's targets for a DQA-TS backend's DQA 2/4/8 step (issue 6). */
export const speedTargets = {
  /** DQA step / the plain oneDNN C++ FP step of the same model: at most 1.2×. */
  vsLimitFp: 1.2,
  /** DQA step / STE step − 1 on the same backend: at most 10 %. */
  dqaOverSte: 0.1,
  /** DQA step / PyTorch's FP step: at most 1 / 2.5 (2.5× faster). */
  vsReferenceFp: 1 / 2.5,
} as const;

/** One DQA-TS backend's DQA 2/4/8 step on one model, against the targets. */
export interface SpeedTargetRow {
  backend: string;
  model: SpeedModelId;
  /** Median DQA 2/4/8 step, ms. */
  dqaMs: number | null;
  /** DQA / the limit's FP step (null: no limit, or a cell missing). */
  vsLimitFp: number | null;
  /** DQA / STE − 1 on this backend. */
  dqaOverSte: number | null;
  /** DQA / PyTorch's FP step. */
  vsReferenceFp: number | null;
  /** DQA / PyTorch's DQA 2/4/8 step (the same work on both). */
  vsReferenceDqa: number | null;
}

/**
 * The targets table: for each DQA-TS backend and model, its DQA 2/4/8 step against the limit's
 * FP step, its own STE step and PyTorch's FP and DQA steps. Empty unless DQA 2/4/8 ran.
 */
export function speedTargetRows(r: SpeedResult): SpeedTargetRow[] {
  if (!r.settings.variants.includes('dqa248')) return [];
  const ref = reference(r);
  const lim = limit(r);
  const med = (backend: string | undefined, model: string, variant: string) =>
    backend ? (find(r, backend, model, variant)?.medianMs ?? null) : null;
  const over = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
  return dqaBackends(r).flatMap((backend) =>
    r.settings.models.map((model) => {
      const dqaMs = med(backend, model, 'dqa248');
      const steMs = med(backend, model, 'ste2');
      return {
        backend,
        model,
        dqaMs,
        vsLimitFp: over(dqaMs, med(lim?.id, model, 'fp')),
        dqaOverSte: dqaMs !== null && steMs ? dqaMs / steMs - 1 : null,
        vsReferenceFp: over(dqaMs, med(ref?.id, model, 'fp')),
        vsReferenceDqa: over(dqaMs, med(ref?.id, model, 'dqa248')),
      };
    }),
  );
}

/** Milliseconds with three significant digits at most, thousands separated by a space. */
export function formatMs(ms: number): string {
  const digits = ms >= 100 ? 0 : ms >= 10 ? 1 : 2;
  const [int, frac] = ms.toFixed(digits).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return frac ? `${grouped}.${frac}` : grouped;
}

const perSecond = (v: number) =>
  v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);

function cellText(
  r: SpeedResult,
  backend: string,
  variant: SpeedVariantId,
  cell: SpeedCell | undefined,
): string {
  const run = r.backends.find((b) => b.id === backend);
  if (!measures(r, backend, variant)) return '';
  if (run?.status === 'not-installed') return 'not installed';
  if (!cell) return '—';
  if (cell.medianMs === null) return 'failed';
  const n = cell.stepsMs.length;
  const short = n < r.settings.steps ? `, ${n} step${n === 1 ? '' : 's'}` : '';
  return `${formatMs(cell.medianMs)} (${perSecond(cell.stepsPerSecond ?? 0)}/s${short})`;
}

const ratio = (v: number | null | undefined) =>
  v == null ? '—' : `${v.toFixed(v >= 10 ? 0 : v >= 1 ? 1 : 2)}×`;
const percent = (v: number | null | undefined) =>
  v == null ? '—' : `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(1)}%`;
/** A ratio with two decimals, for the targets table (1.17× is within 1.2×, 1.21× is not). */
const ratio2 = (v: number | null | undefined) => (v == null ? '—' : `${v.toFixed(2)}×`);
/** `text`, marked ✓ or ✗ by whether `v` is within `bound` (nothing to mark when `v` is null). */
const against = (text: string, v: number | null, bound: number) =>
  v === null ? text : `${text} ${v <= bound ? '✓' : '✗'}`;

/** The markdown report: settings, the table, how to read it, the engines and the machine. */
export function speedMarkdown(r: SpeedResult): string {
  const s = r.settings;
  const ref = reference(r);
  const rows = speedRows(r);
  const labels = new Map(r.backends.map((b) => [b.id, b.label]));
  const label = (id: string) => labels.get(id) ?? id;
  const short = (id: string) => label(id).replace(/^tfjs /, '');
  const others = ref ? s.backends.filter((b) => b !== ref.id) : [];
  const lim = limit(r);
  const vsLimit = lim ? dqaBackends(r) : [];
  const withDqa = s.variants.includes('dqa248') && s.variants.includes('ste2');
  const dqaCols = withDqa
    ? s.backends.filter((b) => measures(r, b, 'dqa248') && measures(r, b, 'ste2'))
    : [];

  const head = [
    'model',
    'variant',
    ...s.backends.map((b) => `${label(b)} ms`),
    ...others.map((b) => `${short(b)} / ${label(ref!.id)} FP`),
    ...vsLimit.map((b) => `${short(b)} / ${label(lim!.id)}`),
    ...dqaCols.map((b) => `DQA over STE, ${short(b)}`),
  ];
  const align = head.map((_, i) => (i < 2 ? '---' : '---:'));
  const lines = [
    '# Speed: one training step, median',
    '',
    `${s.models.map((m) => `${speedModels[m].label} at batch ${s.batch[m]}`).join(', ')}; ` +
      `median of up to ${s.steps} timed step${s.steps === 1 ? '' : 's'} after ${s.warmup} warm-up step${s.warmup === 1 ? '' : 's'}` +
      (s.timeBudgetS > 0
        ? ` (a cell stops after ${s.timeBudgetS} s of timed steps, with at least ${s.minSteps})`
        : '') +
      '; milliseconds per step (steps per second).',
    '',
    `| ${head.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
  ];
  for (const row of rows) {
    const cols = [
      speedModels[row.model].label,
      speedVariants[row.variant].label,
      ...s.backends.map((b) => cellText(r, b, row.variant, row.cells[b])),
      ...others.map((b) => (measures(r, b, row.variant) ? ratio(row.vsReferenceFp[b]) : '')),
      ...vsLimit.map((b) => ratio(row.vsLimitFp[b])),
      ...dqaCols.map((b) => (row.variant === 'dqa248' ? percent(row.dqaOverSte[b]) : '')),
    ];
    lines.push(`| ${cols.join(' | ')} |`);
  }
  lines.push(
    '',
    `A step is forward, gradients and an SGD update with momentum (lr ${s.optimizer.learningRate}, ` +
      `momentum ${s.optimizer.momentum}) on one batch of random images; for the quantized variants ` +
      "it includes DQA's per-step work (the step's temperature and Algorithm 1's α normalisation) and " +
      'the regularizer. Every Conv2D/Dense layer is quantized in STE and DQA, the first and last included; batch norm stays in float.',
  );
  if (ref && others.length)
    lines.push(
      `"x / ${label(ref.id)} FP": that backend's step for the row's variant divided by ${label(ref.id)}'s float step of the same model.`,
    );
  if (lim && vsLimit.length)
    lines.push(
      `"x / ${label(lim.id)}": that backend's step for the row's variant divided by the plain oneDNN C++ float step of the same model (\`native/onednn-step.cc\`: forward, loss, backward and SGD on oneDNN with blocked layouts and fused ReLU, nothing in between): the limit a native backend can reach here.`,
    );
  if (dqaCols.length)
    lines.push('"DQA over STE": DQA 2/4/8 step / STE 2-bit step − 1, per backend.');
  const targets = speedTargetRows(r);
  if (targets.length) {
    const t = speedTargets;
    lines.push(
      '',
      `Targets for the DQA 2/4/8 step (issue 6): at most ${t.vsLimitFp}× the oneDNN C++ FP step, ` +
        `at most ${t.dqaOverSte * 100}% over the same backend's STE step, and ${1 / t.vsReferenceFp}× faster ` +
        `than ${ref ? label(ref.id) : 'PyTorch'}'s FP step (at most ${ratio2(t.vsReferenceFp)}); ✓ met, ✗ missed.`,
      '',
      `| backend | model | DQA 2/4/8 ms | / ${lim ? label(lim.id) : 'oneDNN C++ FP'} | over STE | / ${ref ? label(ref.id) : 'PyTorch'} FP | / ${ref ? label(ref.id) : 'PyTorch'} DQA 2/4/8 |`,
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const row of targets)
      lines.push(
        `| ${label(row.backend)} | ${speedModels[row.model].label} | ${row.dqaMs === null ? '—' : formatMs(row.dqaMs)} | ` +
          `${against(ratio2(row.vsLimitFp), row.vsLimitFp, t.vsLimitFp)} | ` +
          `${against(percent(row.dqaOverSte), row.dqaOverSte, t.dqaOverSte)} | ` +
          `${against(ratio2(row.vsReferenceFp), row.vsReferenceFp, t.vsReferenceFp)} | ${ratio2(row.vsReferenceDqa)} |`,
      );
  }
  lines.push('', 'Variants:', '');
  for (const v of s.variants)
    lines.push(`- ${speedVariants[v].label}: ${speedVariants[v].description}`);
  lines.push('', 'Backends:', '');
  for (const b of r.backends) {
    const what =
      b.status === 'ok'
        ? `${b.engine ?? b.id} ${b.version ?? ''}${b.details ? ` — ${b.details}` : ''}`.trim()
        : b.status === 'not-installed'
          ? `not installed: ${b.reason ?? ''}${b.hint ? `. ${b.hint}` : ''}`
          : `failed: ${(b.reason ?? '').split('\n')[0]}`;
    lines.push(`- ${b.label}: ${what} (${b.seconds} s)`);
  }
  const failed = r.cells.filter(
    (c) =>
      c.error &&
      c.medianMs === null &&
      !r.backends.some((b) => b.id === c.backend && b.status !== 'ok'),
  );
  for (const c of failed)
    lines.push(`- ${label(c.backend)} ${c.model} ${c.variant} failed: ${c.error}`);
  const m = r.machine;
  lines.push(
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; ` +
      `load average ${m.loadBefore} before, ${m.loadAfter} after. Started ${r.startedAt}, took ${r.seconds} s.`,
    '',
  );
  return lines.join('\n');
}

/** The JSON report: the whole result plus the table's rows and the targets table. */
export function speedJson(r: SpeedResult): string {
  return `${JSON.stringify({ ...r, rows: speedRows(r), targets: speedTargetRows(r) }, null, 2)}\n`;
}

/** Writes `speed.md` and `speed.json` into `dir`, each atomically. */
export async function writeSpeed(
  r: SpeedResult,
  dir: string,
): Promise<{ md: string; json: string }> {
  const files = { md: join(dir, 'speed.md'), json: join(dir, 'speed.json') };
  await writeFileAtomic(files.md, speedMarkdown(r));
  await writeFileAtomic(files.json, speedJson(r));
  return files;
}
