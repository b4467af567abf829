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
  /** Backend id → DQA median / STE median − 1 (on the DQA row only). */
  dqaOverSte: Record<string, number | null>;
}

const reference = (r: SpeedResult) => r.backends.find((b) => b.role === 'reference');
const find = (r: SpeedResult, backend: string, model: string, variant: string) =>
  r.cells.find((c) => c.backend === backend && c.model === model && c.variant === variant);

/** The table's rows, model by model, variants in the order they ran. */
export function speedRows(r: SpeedResult): SpeedRow[] {
  const ref = reference(r);
  const rows: SpeedRow[] = [];
  for (const model of r.settings.models) {
    const refFp = ref ? (find(r, ref.id, model, 'fp')?.medianMs ?? null) : null;
    for (const variant of r.settings.variants) {
      const row: SpeedRow = { model, variant, cells: {}, vsReferenceFp: {}, dqaOverSte: {} };
      for (const b of r.settings.backends) {
        const cell = find(r, b, model, variant);
        row.cells[b] = cell;
        const ms = cell?.medianMs ?? null;
        if (ref && b !== ref.id) row.vsReferenceFp[b] = ms !== null && refFp ? ms / refFp : null;
        if (variant === 'dqa248') {
          const ste = find(r, b, model, 'ste2')?.medianMs ?? null;
          row.dqaOverSte[b] = ms !== null && ste ? ms / ste - 1 : null;
        }
      }
      rows.push(row);
    }
  }
  return rows;
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

function cellText(r: SpeedResult, backend: string, cell: SpeedCell | undefined): string {
  const run = r.backends.find((b) => b.id === backend);
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

/** The markdown report: settings, the table, how to read it, the engines and the machine. */
export function speedMarkdown(r: SpeedResult): string {
  const s = r.settings;
  const ref = reference(r);
  const rows = speedRows(r);
  const labels = new Map(r.backends.map((b) => [b.id, b.label]));
  const label = (id: string) => labels.get(id) ?? id;
  const short = (id: string) => label(id).replace(/^tfjs /, '');
  const others = ref ? s.backends.filter((b) => b !== ref.id) : [];
  const withDqa = s.variants.includes('dqa248') && s.variants.includes('ste2');

  const head = [
    'model',
    'variant',
    ...s.backends.map((b) => `${label(b)} ms`),
    ...others.map((b) => `${short(b)} / ${label(ref!.id)} FP`),
    ...(withDqa ? s.backends.map((b) => `DQA over STE, ${short(b)}`) : []),
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
      ...s.backends.map((b) => cellText(r, b, row.cells[b])),
      ...others.map((b) => ratio(row.vsReferenceFp[b])),
      ...(withDqa
        ? s.backends.map((b) => (row.variant === 'dqa248' ? percent(row.dqaOverSte[b]) : ''))
        : []),
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
  if (withDqa) lines.push('"DQA over STE": DQA 2/4/8 step / STE 2-bit step − 1, per backend.');
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

/** The JSON report: the whole result plus the table's rows. */
export function speedJson(r: SpeedResult): string {
  return `${JSON.stringify({ ...r, rows: speedRows(r) }, null, 2)}\n`;
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
