import { ArgumentError } from '@dqa/core';
import type { TopLevelSpec } from 'vega-lite';
import type { DataRow } from '../plot/line-chart.js';
import { plotConfig } from '../plot/theme.js';
import { describeMethod, hasMixtures, quantizerLabels, usesDqa } from './describe.js';
import type { RunData } from './read-run.js';

/**
 * The run report's plots as vega-lite specs (rendered by `writePlot`): Fig. 3a (attention over
 * training), Fig. 3b (the effective quantization function at several points of training) and the
 * training curves. Each returns null when the run recorded nothing to draw.
 */

/** Colours of Q_k by bitwidth: the final (lowest) bitwidth stands out in red-orange. */
const BIT_COLORS = ['#d9480f', '#1f6fb4', '#2b9348', '#7b5ea7', '#8c6d31', '#c2185b'];
const FP_COLOR = '#666666';

const $schema = 'https://vega.github.io/schema/vega-lite/v6.json';

/** x position of a step: epochs (fractional) when steps per epoch are known, else steps. */
function xAxis(run: RunData): { of: (step: number) => number; title: string } {
  const spe = run.run.stepsPerEpoch;
  if (spe && spe > 0) return { of: (s) => s / spe, title: 'epoch' };
  return { of: (s) => s, title: 'training step' };
}

function runTitle(run: RunData): string {
  return `${run.config.model.name} on ${run.config.data.name}`;
}

function temperatureText(run: RunData): string {
  const t = run.config.relaxation.dqa.temperature;
  return `T: ${t.t0} → ${t.tEnd} (${t.shape})`;
}

/** Rows sorted so that a layer's panel order is the order layers first appear. */
function layerOrder(names: Iterable<string>): string[] {
  return [...new Set(names)];
}

/** Sort key of a Q_k label: bits ascending, FP last, unknown (Q1…) by k. */
function labelKey(label: string, k: number): number {
  if (label === 'FP') return 1e6;
  const bits = /^(\d+) bit/.exec(label);
  return bits ? Number(bits[1]) * 100 + k : 1e5 + k;
}

/** Small multiples, one panel per layer in model order, headed by the layer's name. */
function layerFacet(layers: readonly string[]) {
  return {
    field: 'layer',
    type: 'nominal',
    sort: layers,
    title: null,
    header: { labelFontSize: 12, labelFontWeight: 'bold', labelPadding: 4, labelLimit: 0 },
  };
}

export interface AttentionPlotOptions {
  /** Panels per row. Default: up to 4. */
  columns?: number;
  /** Most points of training drawn per line, spread evenly (the last always). Default 400. */
  maxPoints?: number;
  /** Show T(b) above the panels when the run recorded it. Default true. */
  temperature?: boolean;
}

/**
 * Fig. 3a: one panel per relaxed quantizer, a_k over training, one line per Q_k labelled by its
 * bits; shared axes; the temperature T(b) (log scale) in a strip above.
 */
export function attentionSpec(run: RunData, o: AttentionPlotOptions = {}): TopLevelSpec | null {
  // Nothing to plot without a layer that mixes quantizers (STE, qnet: a_1 = 1 throughout).
  if (!hasMixtures(run)) return null;
  const x = xAxis(run);
  const maxPoints = o.maxPoints ?? 400;
  if (!(Number.isInteger(maxPoints) && maxPoints >= 2))
    throw new ArgumentError(`attentionSpec: maxPoints must be an integer ≥ 2, got ${maxPoints}`);
  // attentionEvery = 1 over a long run would hand vega millions of points; the shape needs few.
  const records = spread(run.attention.length, maxPoints).map((i) => run.attention[i]!);
  const rows: DataRow[] = [];
  const labelOrder = new Map<string, number>();
  for (const rec of records) {
    for (const l of rec.layers) {
      const info = l.bits && l.quantizers ? { bits: l.bits, quantizers: l.quantizers } : undefined;
      const labels = quantizerLabels(info, l.a.length);
      l.a.forEach((a, k) => {
        const label = labels[k]!;
        if (!labelOrder.has(label)) labelOrder.set(label, labelKey(label, k));
        rows.push({ layer: l.name, x: x.of(rec.step), a, quantizer: label });
      });
    }
  }
  const layers = layerOrder(run.attention.flatMap((r) => r.layers.map((l) => l.name)));
  const labels = [...labelOrder.entries()].sort((p, q) => p[1] - q[1]).map(([l]) => l);
  let next = 0;
  const colors = labels.map((l) =>
    l === 'FP' ? FP_COLOR : BIT_COLORS[next++ % BIT_COLORS.length]!,
  );
  const columns = o.columns ?? Math.min(4, layers.length);
  if (!(Number.isInteger(columns) && columns > 0))
    throw new ArgumentError(`attentionSpec: columns must be a positive integer, got ${columns}`);
  const panelWidth = columns >= 4 ? 190 : columns === 3 ? 220 : 260;
  const panelHeight = 120;
  const spacing = 24;
  // Records are in training order: the last ones reach furthest.
  const xMax = Math.max(
    x.of(run.run.totalSteps ?? 0),
    x.of(run.attention.at(-1)!.step),
    x.of((run.steps.at(-1)?.step ?? -1) + 1),
  );
  const xScale = { domain: [0, xMax > 0 ? xMax : 1], nice: false, zero: true };
  const few = records.length <= 30;

  const facet = {
    data: { values: rows },
    facet: layerFacet(layers),
    columns,
    // Flush bounds (below): the row spacing must hold a panel's x axis and the next header.
    spacing: { column: spacing, row: 64 },
    // Every panel gets its own x axis: a wrapped grid would otherwise draw a stray axis under an
    // empty last cell.
    resolve: { axis: { x: 'independent' } },
    // Lay panels out by their plot areas only (not their labels): exactly `spacing` apart, so the
    // temperature strip above can be given the grid's width.
    bounds: 'flush',
    spec: {
      width: panelWidth,
      height: panelHeight,
      mark: { type: 'line', strokeWidth: 2, point: few ? { size: 16 } : false },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: x.title, scale: xScale },
        y: {
          field: 'a',
          type: 'quantitative',
          title: 'attention a_k',
          scale: { domain: [0, 1] },
          axis: { values: [0, 0.25, 0.5, 0.75, 1], format: '.2~f' },
        },
        color: {
          field: 'quantizer',
          type: 'nominal',
          title: 'quantizer',
          sort: labels,
          scale: { domain: labels, range: colors },
          legend: { symbolType: 'stroke', symbolStrokeWidth: 3, orient: 'right' },
        },
      },
    },
  };

  const subtitle = [`${runTitle(run)}; ${describeMethod(run.config)}`];
  const tRows: DataRow[] = [];
  const stride = Math.max(1, Math.ceil(run.steps.length / 800));
  run.steps.forEach((s, i) => {
    if (
      s.temperature !== undefined &&
      s.temperature > 0 &&
      (i % stride === 0 || i === run.steps.length - 1)
    )
      tRows.push({ x: x.of(s.step), T: s.temperature });
  });
  if (tRows.length === 0) {
    for (const r of run.attention)
      if (r.temperature !== undefined && r.temperature > 0)
        tRows.push({ x: x.of(r.step), T: r.temperature });
  }
  const title = {
    text: 'Attention a_k per layer over training (Fig. 3a)',
    subtitle: tRows.length ? [...subtitle, temperatureText(run)] : subtitle,
  };
  if (o.temperature === false || tRows.length === 0)
    return { $schema, title, ...facet, config: plotConfig } as TopLevelSpec;

  const gridWidth = columns * panelWidth + (columns - 1) * spacing;
  const temperatures = tRows.map((r) => r.T as number);
  const lo = Math.floor(Math.log10(Math.min(...temperatures)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...temperatures))));
  const decades = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
  const strip = {
    data: { values: tRows },
    width: gridWidth,
    height: 80,
    mark: { type: 'line', strokeWidth: 2, color: '#444' },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: null, scale: xScale },
      y: {
        field: 'T',
        type: 'quantitative',
        title: 'temperature',
        scale: { type: 'log', domain: [10 ** lo, 10 ** hi], nice: false },
        // Whole decades only: vega's log ticks would add a grid line at every 2…9 × 10^k.
        axis: { format: '~g', values: decades },
      },
    },
  };
  return {
    $schema,
    title,
    vconcat: [strip, facet],
    spacing: 18,
    config: plotConfig,
  } as TopLevelSpec;
}

export interface QuantizationPlotOptions {
  /** Layers to draw, by name. Default: the first, a middle and the last layer recorded. */
  layers?: readonly string[];
  /**
   * Points of training to draw, spread evenly over the recorded ones. Default 9: every point the
   * Trainer records by default (8 over the run and the end).
   */
  snapshots?: number;
}

/** The default layers of Fig. 3b: first, middle, last. */
export function defaultQuantizationLayers(names: readonly string[]): string[] {
  if (names.length <= 3) return [...names];
  return [names[0]!, names[Math.floor((names.length - 1) / 2)]!, names[names.length - 1]!];
}

/** `count` indices spread evenly over `n`, first and last included. */
function spread(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return [
    ...new Set(Array.from({ length: count }, (_, i) => Math.round((i * (n - 1)) / (count - 1)))),
  ];
}

/**
 * Fig. 3b: for a few layers, q(w) against w at several points of training, one line per step
 * coloured from early (dark purple) to late (yellow-green), with the identity as a faint dashed
 * reference.
 */
export function quantizationSpec(
  run: RunData,
  o: QuantizationPlotOptions = {},
): TopLevelSpec | null {
  if (run.quantization.length === 0) return null;
  const all = layerOrder(run.quantization.flatMap((r) => r.layers.map((l) => l.layer)));
  const layers = o.layers ? [...o.layers] : defaultQuantizationLayers(all);
  for (const l of layers) {
    if (!all.includes(l))
      throw new ArgumentError(
        `quantizationSpec: layer '${l}' has no recorded quantization function; recorded: ${all.join(', ')}`,
      );
  }
  const count = o.snapshots ?? 9;
  if (!(Number.isInteger(count) && count >= 2))
    throw new ArgumentError(`quantizationSpec: snapshots must be an integer ≥ 2, got ${count}`);
  const picked = spread(run.quantization.length, count).map((i) => run.quantization[i]!);
  const spe = run.run.stepsPerEpoch;
  const total = run.run.totalSteps;
  const labelOf = (step: number): string => {
    if (step === 0) return 'step 0 (start)';
    if (total !== undefined && step >= total) return `step ${step} (end)`;
    return spe ? `step ${step} (epoch ${Number((step / spe).toFixed(2))})` : `step ${step}`;
  };
  const snapshots = picked.map((r) => labelOf(r.step));
  const rows: DataRow[] = [];
  for (const layer of layers) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    picked.forEach((r, i) => {
      const f = r.layers.find((l) => l.layer === layer);
      if (!f) return;
      f.w.forEach((w, j) => {
        rows.push({ layer, w, q: f.q[j]!, snapshot: snapshots[i]!, kind: 'q' });
        lo = Math.min(lo, w);
        hi = Math.max(hi, w);
      });
    });
    if (lo < hi) {
      rows.push({ layer, w: lo, q: lo, kind: 'identity', snapshot: null });
      rows.push({ layer, w: hi, q: hi, kind: 'identity', snapshot: null });
    }
  }
  const columns = Math.min(3, layers.length);
  return {
    $schema,
    title: {
      text: 'Effective weight quantization function q(w) during training (Fig. 3b)',
      subtitle: [
        `${runTitle(run)}; ${describeMethod(run.config)}`,
        'q(w) = Σ_k a_k·Q_k(w) at each point of training; dashed grey: the identity q = w',
      ],
    },
    data: { values: rows },
    facet: layerFacet(layers),
    columns,
    // Flush bounds align the panels and their headers; the spacing holds each panel's y axis.
    bounds: 'flush',
    spacing: { column: 84, row: 72 },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 260,
      height: 240,
      // One x and one y encoding for both layers, so each panel has exactly one scale per axis.
      encoding: {
        x: {
          field: 'w',
          type: 'quantitative',
          title: 'weight w',
          scale: { zero: false, nice: false, padding: 6 },
          axis: { tickCount: 5, format: '~g', labelFlush: true },
        },
        y: {
          field: 'q',
          type: 'quantitative',
          title: 'q(w)',
          scale: { zero: false, nice: false, padding: 6 },
          axis: { tickCount: 6, format: '~g', labelFlush: true },
        },
      },
      layer: [
        {
          transform: [{ filter: "datum.kind === 'identity'" }],
          mark: { type: 'line', color: '#9a9a9a', strokeDash: [4, 4], strokeWidth: 1.2 },
        },
        {
          transform: [{ filter: "datum.kind === 'q'" }],
          mark: { type: 'line', strokeWidth: 1.8 },
          encoding: {
            color: {
              field: 'snapshot',
              type: 'ordinal',
              title: 'training progress',
              sort: snapshots,
              scale: { domain: snapshots, scheme: { name: 'viridis', extent: [0, 0.85] } },
              legend: { symbolType: 'stroke', symbolStrokeWidth: 3 },
            },
          },
        },
      ],
    },
    config: plotConfig,
  } as TopLevelSpec;
}

/** Centred moving average over `window` values (shorter at the ends), so it does not lag. */
function movingAverage(values: readonly number[], window: number): number[] {
  const prefix = [0];
  for (const v of values) prefix.push(prefix.at(-1)! + v);
  const half = Math.floor(window / 2);
  return values.map((_, i) => {
    const lo = Math.max(0, i - half);
    const hi = Math.min(values.length, i - half + window);
    return (prefix[hi]! - prefix[lo]!) / (hi - lo);
  });
}

/** Moving-average window for `n` per-step losses: none for a handful, else about n/25. */
function smoothingWindow(n: number): number {
  return n < 10 ? 1 : Math.min(500, Math.max(3, Math.round(n / 25)));
}

/**
 * Training curves side by side: the loss per step (raw, faint, and its moving average, strong,
 * with the test loss after each epoch) and the test accuracy per epoch with the final hard
 * (collapsed Q_1) accuracy.
 */
export function trainingSpec(run: RunData): TopLevelSpec | null {
  if (run.steps.length === 0 && run.epochs.length === 0) return null;
  const x = xAxis(run);
  const n = run.steps.length;
  const window = smoothingWindow(n);
  // At most ~1200 points a line: a long run's SVG stays small.
  const stride = Math.max(1, Math.ceil(n / 1200));
  // Cross-entropy, comparable with the test loss: the Trainer's loss less the regularizer (eq. 6),
  // which a large λ would otherwise dominate.
  const losses = run.steps.map((s) => s.loss - (s.regularizer ?? 0));
  const smooth = movingAverage(losses, window);
  const rawLabel =
    stride > 1 ? `train cross-entropy (mean of ${stride} steps)` : 'train cross-entropy (per step)';
  const smoothLabel = `train cross-entropy (moving average of ${window} steps)`;
  const testLabel = 'test cross-entropy (after each epoch)';
  const stepRows: DataRow[] = [];
  for (let i = 0; i < n; i += stride) {
    const chunk = losses.slice(i, i + stride);
    const j = i + chunk.length - 1;
    const xi = x.of(run.steps[j]!.step + 1);
    stepRows.push({ x: xi, y: chunk.reduce((s, v) => s + v, 0) / chunk.length, series: rawLabel });
    if (window > 1) stepRows.push({ x: xi, y: smooth[j]!, series: smoothLabel });
  }
  const spe = run.run.stepsPerEpoch;
  const epochRows: DataRow[] = run.epochs.map((e) => ({
    x: spe ? e.epoch + 1 : (run.steps.filter((s) => s.epoch <= e.epoch).at(-1)?.step ?? 0) + 1,
    y: e.testLoss,
    series: testLabel,
  }));
  const lossSeries = [rawLabel, ...(window > 1 ? [smoothLabel] : []), testLabel];
  const lossColors: Record<string, string> = {
    [rawLabel]: window > 1 ? '#a9cbe8' : '#1f6fb4',
    [smoothLabel]: '#1f6fb4',
    [testLabel]: '#d9480f',
  };
  // The whole planned run, so an unfinished one shows how far it got.
  const xMax = Math.max(
    1,
    x.of(run.run.totalSteps ?? 0),
    ...stepRows.map((r) => r.x as number),
    ...epochRows.map((r) => r.x as number),
  );
  const legend = {
    orient: 'bottom',
    direction: 'vertical',
    title: null,
    symbolStrokeWidth: 3,
    labelLimit: 0,
  };
  const lossColor = {
    field: 'series',
    type: 'nominal',
    sort: lossSeries,
    scale: { domain: lossSeries, range: lossSeries.map((s) => lossColors[s]!) },
    legend: { ...legend, symbolType: 'stroke' },
  };
  const lossX = {
    field: 'x',
    type: 'quantitative',
    title: x.title,
    scale: { domain: [0, xMax], nice: false },
  };
  const lossY = { field: 'y', type: 'quantitative', title: 'cross-entropy' };
  const lossPanel = {
    width: 420,
    height: 260,
    layer: [
      {
        data: { values: stepRows },
        mark: { type: 'line', strokeWidth: 1.8 },
        encoding: { x: lossX, y: lossY, color: lossColor },
      },
      {
        data: { values: epochRows },
        mark: { type: 'line', strokeWidth: 2, point: { size: 45, filled: true } },
        encoding: { x: lossX, y: lossY, color: lossColor },
      },
    ],
  };

  const quantized = run.config.quantization.weights || run.config.quantization.activations;
  const relaxedLabel = quantized ? 'relaxed (mixture), after each epoch' : 'after each epoch';
  const hardLabel = 'hard (collapsed to Q_1), at the end';
  const accRows: DataRow[] = run.epochs.map((e) => ({
    epoch: e.epoch + 1,
    accuracy: 100 * e.testAccuracy,
    series: relaxedLabel,
  }));
  const accSeries = [relaxedLabel];
  const lastEpoch = run.epochs.at(-1)?.epoch ?? -1;
  if (quantized && run.end?.hardAccuracy != null && lastEpoch >= 0) {
    accRows.push({ epoch: lastEpoch + 1, accuracy: 100 * run.end.hardAccuracy, series: hardLabel });
    accSeries.push(hardLabel);
  }
  const accPanel = {
    data: { values: accRows },
    width: 260,
    height: 260,
    mark: { type: 'line', strokeWidth: 2, point: { size: 70, filled: true } },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'epoch',
        scale: {
          domain: [1, Math.max(2, lastEpoch + 1, run.config.training.epochs)],
          nice: false,
          padding: 14,
        },
        axis: { tickMinStep: 1, format: 'd' },
      },
      y: {
        field: 'accuracy',
        type: 'quantitative',
        title: 'test accuracy (%)',
        scale: { zero: false, padding: 10 },
      },
      color: {
        field: 'series',
        type: 'nominal',
        sort: accSeries,
        scale: { domain: accSeries, range: ['#1f6fb4', '#d9480f'] },
        legend: { ...legend, symbolType: 'circle' },
      },
      shape: {
        field: 'series',
        type: 'nominal',
        sort: accSeries,
        scale: { domain: accSeries, range: ['circle', 'diamond'] },
        legend: { ...legend },
      },
    },
  };
  const e = run.end;
  const of = `${run.epochs.length} of ${run.config.training.epochs} epochs`;
  const end =
    e?.relaxedAccuracy != null && e.hardAccuracy != null
      ? `final test accuracy: relaxed ${(100 * e.relaxedAccuracy).toFixed(2)}%, hard (Q_1) ${(100 * e.hardAccuracy).toFixed(2)}%`
      : e?.stopped
        ? `stopped after ${of}, no final evaluation`
        : `no end yet: ${of} recorded`;
  return {
    $schema,
    title: {
      text: `Training: ${runTitle(run)}`,
      subtitle: [
        usesDqa(run.config)
          ? `${describeMethod(run.config)}; cross-entropy without the regularizer (eq. 6, in metrics.jsonl)`
          : `${describeMethod(run.config)}; cross-entropy`,
        end,
      ],
    },
    hconcat: [lossPanel, accPanel],
    spacing: 40,
    resolve: {
      scale: { color: 'independent', shape: 'independent' },
      legend: { color: 'independent', shape: 'independent' },
    },
    config: plotConfig,
  } as TopLevelSpec;
}
