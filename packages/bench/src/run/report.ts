import { basename, join } from 'node:path';
import {
  type DqaConfig,
  type LearningRateConfig,
  qnetEndTemperature,
  type TensorQuantConfig,
} from '@dqa/core';
import { writeFileAtomic } from '../io/atomic-write.js';
import { type WrittenPlot, writePlot } from '../plot/render.js';
import { describeMethod, hasMixtures, quantizerLabels, relaxationLabel } from './describe.js';
import { runFiles } from './layout.js';
import {
  type AttentionPlotOptions,
  attentionSpec,
  type QuantizationPlotOptions,
  quantizationSpec,
  trainingSpec,
} from './plots.js';
import { type RunData, readRun } from './read-run.js';

export interface RunReportOptions {
  attention?: AttentionPlotOptions;
  quantization?: QuantizationPlotOptions;
  /** Also write PNGs next to the SVGs. Default true. */
  png?: boolean;
}

/** The files `writeRunReport` wrote; a plot is absent when the run recorded nothing for it. */
export interface RunReportFiles {
  report: string;
  plots: { attention?: WrittenPlot; quantization?: WrittenPlot; training?: WrittenPlot };
}

const pct = (v: number | null): string =>
  v !== null && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : '–';
const fixed = (v: number, digits = 4): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const g = (v: number): string => String(Number(v.toPrecision(4)));

function describeQuant(name: string, q: TensorQuantConfig | null): string {
  if (!q) return `- ${name}: float`;
  const list = q.quantizers
    .map(
      (r) =>
        `${r.id} ${r.id === 'fp' ? '(FP)' : `${r.bits} bit`}${r.granularity === 'channel' ? ' per channel' : ''}`,
    )
    .join(', ');
  return `- ${name}: ${relaxationLabel(q.relaxation)} (\`${q.relaxation}\`) over ${list}; Q_1 = ${q.quantizers[0]?.id === 'fp' ? 'FP' : `${q.quantizers[0]?.bits} bit`} after training`;
}

function describeLr(lr: LearningRateConfig): string {
  switch (lr.kind) {
    case 'constant':
      return `constant ${g(lr.initial)}`;
    case 'cosine':
      return `cosine ${g(lr.initial)} → ${g(lr.final)}`;
    case 'step':
      return `${g(lr.initial)}, ×${g(lr.gamma)} at ${lr.milestones.map((m) => `${g(100 * m)}%`).join(', ')} of training`;
  }
}

function configLines(c: DqaConfig, run: RunData): string[] {
  const q = c.quantization;
  const dqa = c.relaxation.dqa;
  const uses = (id: string) =>
    [q.weights, q.activations, ...q.overrides.flatMap((o) => [o.weights, o.activations])].some(
      (t) => t?.relaxation === id,
    );
  const lines = [describeQuant('weights', q.weights), describeQuant('activations', q.activations)];
  const kept = [q.quantizeFirstLayer ? null : 'first', q.quantizeLastLayer ? null : 'last'].filter(
    Boolean,
  );
  if (kept.length && (q.weights || q.activations))
    lines.push(`- ${kept.join(' and ')} layer kept in float`);
  for (const o of q.overrides) {
    const names = typeof o.layers === 'string' ? o.layers : o.layers.join(', ');
    const parts: string[] = [];
    if (o.weights !== undefined)
      parts.push(`weights ${o.weights ? describeMethodOf(o.weights) : 'float'}`);
    if (o.activations !== undefined)
      parts.push(`activations ${o.activations ? describeMethodOf(o.activations) : 'float'}`);
    lines.push(`- override \`${names}\`: ${parts.join(', ') || 'no change'}`);
  }
  if (uses('dqa')) {
    lines.push(
      `- DQA: λ = ${g(dqa.lambda)}, temperature ${dqa.temperature.shape} T0 = ${g(dqa.temperature.t0)} → T(B) = ${g(dqa.temperature.tEnd)}` +
        `, α init ${dqa.init === 'eq7' ? 'eq. 7' : `[${dqa.init.join(', ')}]`}` +
        `${dqa.g ? `, g = [${dqa.g.join(', ')}]` : ''}${dqa.normalize ? ', α ← α/std(α) each step' : ''}`,
    );
  }
  if (uses('binary-relax')) {
    const br = c.relaxation.binaryRelax;
    lines.push(
      `- Binary-Relax: ω schedule ${br.schedule}, growth ${g(br.growth)}${br.schedule === 'scaled' ? ` over ${br.refEpochs} reference epochs` : ''}`,
    );
  }
  if (uses('qnet')) {
    const qn = c.relaxation.qnet;
    const t = qn.temperature;
    lines.push(
      `- Quantization Networks: temperature ${t.shape} T0 = ${g(t.t0)} → T(B) = ${t.tEnd === 'auto' ? `auto = ${g(qnetEndTemperature(qn))} (sigmoids within ε = ${g(qn.epsilon)} of unit steps beyond ${g(qn.band)} of a level gap from each threshold)` : g(t.tEnd)}; learnable α, β per layer; hard unit steps after training`,
    );
  }
  const steps =
    run.run.totalSteps !== undefined
      ? ` (${run.run.stepsPerEpoch} steps each, ${run.run.totalSteps} in all)`
      : '';
  lines.push(
    `- ${c.training.epochs} epochs${steps}, batch ${c.data.batchSize}${c.data.augment ? ', augmented' : ''}` +
      `${c.data.limitTrain ? `, first ${c.data.limitTrain} training examples` : ''}` +
      `${c.data.limitTest ? `, first ${c.data.limitTest} test examples` : ''}`,
    `- SGD: momentum ${g(c.optimizer.momentum)}${c.optimizer.nesterov ? ' (Nesterov)' : ''}, weight decay ${g(c.optimizer.weightDecay)}; learning rate ${describeLr(c.learningRate)}`,
    `- seed ${c.seed}; backend ${run.run.backend ?? c.training.backend}, threads ${c.training.threads}; checkpoint every ${c.training.checkpointEvery} epoch${c.training.checkpointEvery === 1 ? '' : 's'}`,
  );
  return lines;
}

/** What "relaxed" means for the relaxations a run uses. */
function relaxedMeaning(c: DqaConfig): string {
  const q = c.quantization;
  const kinds = new Set(
    [q.weights, q.activations, ...q.overrides.flatMap((o) => [o.weights, o.activations])].flatMap(
      (t) => (t ? [t.relaxation] : []),
    ),
  );
  const parts: string[] = [];
  if (kinds.has('dqa') || kinds.has('binary-relax')) parts.push('the mixture Σ a_k Q_k as trained');
  if (kinds.has('qnet')) parts.push('the sigmoid quantizers at the final temperature');
  if (kinds.has('ste'))
    parts.push('the straight-through quantizers (the same forward as the hard model)');
  return parts.join('; ') || 'the model as trained';
}

function describeMethodOf(q: TensorQuantConfig): string {
  return `${relaxationLabel(q.relaxation)} ${q.quantizers.map((r) => (r.id === 'fp' ? 'FP' : `${r.bits}-bit ${r.id}`)).join('/')}`;
}

/** A plot's files relative to the run folder, for links. */
export interface PlotLinks {
  svg: string;
  png?: string;
}

/** The run as markdown (what report.md holds), linking the plots given. */
export function runReportMarkdown(
  run: RunData,
  plots: { attention?: PlotLinks; quantization?: PlotLinks; training?: PlotLinks } = {},
): string {
  const c = run.config;
  const r = run.run;
  const lines: string[] = [
    `# ${c.model.name} on ${c.data.name}: ${describeMethod(c)}`,
    '',
    [
      `Created ${r.created}`,
      `DQA-TS ${r.version}`,
      r.backend ? `backend \`${r.backend}\`` : null,
      r.resumed?.length
        ? `resumed ${r.resumed.length}× (${r.resumed.map((x) => `from epoch ${x.epoch}, step ${x.step}`).join('; ')})`
        : null,
    ]
      .filter(Boolean)
      .join(' · '),
  ];
  if (r.command) lines.push('', `\`\`\`sh\n${r.command}\n\`\`\``);

  lines.push('', '## Configuration', '', ...configLines(c, run));

  lines.push('', '## Result', '');
  const quantized = c.quantization.weights || c.quantization.activations;
  if (run.end?.stopped) {
    lines.push(
      `- stopped early after ${run.epochs.length} of ${c.training.epochs} epochs, without a final evaluation; resuming from \`${runFiles.lastCheckpoint}\` continues where it stopped`,
    );
  } else if (run.end && quantized) {
    lines.push(
      `- **hard accuracy ${pct(run.end.hardAccuracy)}**: every quantizer collapsed to its Q_1 (the low-bit model)`,
      `- relaxed accuracy ${pct(run.end.relaxedAccuracy)}: ${relaxedMeaning(c)}`,
    );
  } else if (run.end) {
    lines.push(`- **test accuracy ${pct(run.end.relaxedAccuracy)}** (float)`);
  } else {
    lines.push(
      `- no end line: the run is going on or was killed after ${run.epochs.length} of ${c.training.epochs} epochs`,
    );
  }
  const ck = run.checkpoint;
  if (ck) {
    const where = ck.partial
      ? `inside epoch ${ck.epoch + 1}, after step ${ck.step} (${ck.partial.batches} of its batches trained)`
      : `after epoch ${ck.epoch}, step ${ck.step}`;
    lines.push(
      `- checkpoint: \`${runFiles.lastCheckpoint}\` ${where}; ${ck.variables} variables, ${(ck.bytes / 1024).toFixed(1)} KiB`,
    );
  }
  for (const w of run.warnings) lines.push(`- ⚠ ${w}`);

  lines.push('', '## Epochs', '');
  if (run.epochs.length) {
    // The epoch's mean regularizer, from its step lines: train loss = cross-entropy + regularizer.
    const reg = new Map<number, { sum: number; n: number }>();
    for (const st of run.steps) {
      const r = reg.get(st.epoch) ?? { sum: 0, n: 0 };
      r.sum += st.regularizer ?? 0;
      r.n++;
      reg.set(st.epoch, r);
    }
    const meanReg = (epoch: number) => {
      const r = reg.get(epoch);
      return r?.n ? r.sum / r.n : 0;
    };
    lines.push(
      '| epoch | train loss | of it, regularizer | train cross-entropy | test cross-entropy | test accuracy | seconds |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      ...run.epochs.map(
        (e) =>
          `| ${e.epoch + 1} | ${fixed(e.trainLoss)} | ${fixed(meanReg(e.epoch))} | ${fixed(e.trainLoss - meanReg(e.epoch))} | ${fixed(e.testLoss)} | ${pct(e.testAccuracy)} | ${fixed(e.seconds, 1)} |`,
      ),
    );
    const total = run.epochs.reduce((s, e) => s + (Number.isFinite(e.seconds) ? e.seconds : 0), 0);
    lines.push('', `${run.steps.length} steps recorded; ${fixed(total, 1)} s in all.`);
  } else {
    lines.push('No epoch has completed.');
  }

  const last = run.attention.at(-1);
  lines.push('', '## Attention per layer', '');
  if (last && !hasMixtures(run)) {
    lines.push(
      'Every quantized layer has a single quantizer (STE, Quantization Networks): there is no attention to show.',
    );
  } else if (last) {
    lines.push(
      `${run.end && !run.end.stopped ? 'Final' : 'Latest'} mixing weights a_k (Q_1 first) at step ${last.step}${last.temperature !== undefined ? `, T = ${g(last.temperature)}` : ''}. ` +
        '"Settled on" is the quantizer with the largest a_k; after training every layer is collapsed to Q_1 ' +
        'whatever its attention, so a layer that settled elsewhere is marked ⚠.',
      '',
      '| layer | relaxation | a_k | settled on | final bits (Q_1) |',
      '|:---|:---|:---|:---|:---|',
    );
    for (const l of last.layers) {
      const info = l.bits && l.quantizers ? { bits: l.bits, quantizers: l.quantizers } : undefined;
      const labels = quantizerLabels(info, l.a.length);
      let best = 0;
      l.a.forEach((a, k) => {
        if (a > l.a[best]!) best = k;
      });
      const mix = l.a.map((a, k) => `${labels[k]} ${a.toFixed(3)}`).join(', ');
      const settled = `${labels[best]} (a = ${l.a[best]!.toFixed(3)})${best === 0 ? '' : ' ⚠'}`;
      const finalBits = labels[0] ?? '–';
      lines.push(
        `| \`${l.name}\` | ${relaxationLabel(l.relaxation)} | ${mix} | ${settled} | ${finalBits}${info ? ` ${info.quantizers[0]}` : ''} |`,
      );
    }
  } else {
    lines.push('No attention was recorded (a float run, or one without relaxed quantizers).');
  }

  lines.push('', '## Plots', '');
  const embed = (links: PlotLinks | undefined, alt: string, caption: string): void => {
    if (!links) return;
    // The PNG shows in every markdown viewer; the SVG is sharper and searchable.
    const image = links.png ?? links.svg;
    lines.push(`**${caption}** ([SVG](${links.svg}))`, '', `![${alt}](${image})`, '');
  };
  embed(
    plots.attention,
    'attention a_k per layer over training',
    'Fig. 3a: attention a_k per layer over training',
  );
  embed(
    plots.quantization,
    'effective quantization function q(w) at several points of training',
    'Fig. 3b: the effective quantization function q(w) during training',
  );
  embed(
    plots.training,
    'loss and test accuracy',
    'Training: loss per step, test accuracy per epoch',
  );
  if (!plots.attention && !plots.quantization && !plots.training) lines.push('No plots.', '');
  return `${lines.join('\n').trimEnd()}\n`;
}

/**
 * Reads the run in `dir` and writes `report.md` and `plots/{attention,quantization,training}`
 * (SVG, and PNG unless `png: false`), each atomically. A plot the run has no data for is left
 * out. Returns the paths written.
 */
export async function writeRunReport(
  dir: string,
  options: RunReportOptions = {},
): Promise<RunReportFiles> {
  const run = await readRun(dir);
  const plotsDir = join(dir, runFiles.plots);
  const png = options.png ?? true;
  const written: RunReportFiles['plots'] = {};
  const specs = {
    attention: attentionSpec(run, options.attention),
    quantization: quantizationSpec(run, options.quantization),
    training: trainingSpec(run),
  };
  for (const [name, spec] of Object.entries(specs) as [
    keyof typeof specs,
    typeof specs.training,
  ][]) {
    if (spec) written[name] = await writePlot(join(plotsDir, name), spec, { png });
  }
  const rel = (p: WrittenPlot | undefined): PlotLinks | undefined =>
    p && {
      svg: `${runFiles.plots}/${basename(p.svg)}`,
      ...(p.png ? { png: `${runFiles.plots}/${basename(p.png)}` } : {}),
    };
  const md = runReportMarkdown(run, {
    attention: rel(written.attention),
    quantization: rel(written.quantization),
    training: rel(written.training),
  });
  const report = join(dir, runFiles.report);
  await writeFileAtomic(report, md);
  return { report, plots: written };
}
