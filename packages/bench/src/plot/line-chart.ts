import { ArgumentError } from '@dqa/core';
import type { TopLevelSpec } from 'vega-lite';
import { plotConfig } from './theme.js';

/** One row of plot data: a flat record of numbers and strings (vega-lite's "values"). */
export type DataRow = Readonly<Record<string, string | number | boolean | null>>;

/** A quantitative axis. */
export interface AxisOptions {
  /** Field of the data rows plotted on this axis. */
  field: string;
  /** Axis title, shown on the plot (say the unit). */
  title: string;
  /** Logarithmic scale (base 10); every value must then be positive. Default false. */
  log?: boolean;
  /** d3-format string for the tick labels, e.g. `'.2f'` or `'~g'`. Default: vega-lite's. */
  format?: string;
  /** For linear scales: include zero in the domain. Default true, like vega-lite. */
  zero?: boolean;
  /** Fixed domain `[min, max]` instead of the data's extent. */
  domain?: readonly [number, number];
  /** Explicit tick values (e.g. `[0.01, 0.1, 1, 10, 100]` on a log axis). */
  ticks?: readonly number[];
}

/** How rows are split into lines, and how each line looks. */
export interface SeriesOptions {
  /** Field whose value names a row's line (one line per distinct value). */
  field: string;
  /** Legend title. Default: the field name. */
  title?: string;
  /** Legend order; default the order in which values first appear in the data. */
  order?: readonly string[];
  /** Colour per series value (CSS colours); series not listed take Tableau 10 colours in order. */
  colors?: Readonly<Record<string, string>>;
  /** Dash pattern per series value, e.g. `[6, 4]`; series not listed are solid. */
  dashes?: Readonly<Record<string, readonly number[]>>;
}

export interface LineChartOptions {
  title: string;
  /** One line or several, under the title (e.g. the run's settings). */
  subtitle?: string | readonly string[];
  x: AxisOptions;
  y: AxisOptions;
  /** Omit for a single line. */
  series?: SeriesOptions;
  data: readonly DataRow[];
  /** Plot area in pixels (axes and legend come on top). Default 560 × 340. */
  width?: number;
  height?: number;
  /** Draw a small point at every row as well as the line. Default false. */
  points?: boolean;
}

const TABLEAU10 = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
];

function axisEncoding(a: AxisOptions, where: string, data: readonly DataRow[]) {
  if (a.log) {
    for (const row of data) {
      const v = row[a.field];
      if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) {
        throw new ArgumentError(
          `lineChart: ${where} axis '${a.field}' is logarithmic, so every value must be a positive number; got ${String(v)}`,
        );
      }
    }
  }
  return {
    field: a.field,
    type: 'quantitative' as const,
    title: a.title,
    scale: {
      type: a.log ? ('log' as const) : ('linear' as const),
      ...(a.log ? {} : { zero: a.zero ?? true }),
      ...(a.domain ? { domain: [...a.domain] } : {}),
    },
    axis: {
      ...(a.format ? { format: a.format } : {}),
      ...(a.ticks ? { values: [...a.ticks] } : {}),
    },
  };
}

/**
 * A vega-lite line chart: `x` against `y`, one line per value of `series.field`, with one legend
 * showing each line's colour and dash pattern. Returns the spec; render it with `renderSvg`.
 */
export function lineChart(o: LineChartOptions): TopLevelSpec {
  for (const a of [o.x, o.y]) {
    if (!a.field) throw new ArgumentError('lineChart: every axis needs a data field');
  }
  const width = o.width ?? 560;
  const height = o.height ?? 340;
  if (!(width > 0 && height > 0))
    throw new ArgumentError(`lineChart: width and height must be positive, got ${width}×${height}`);

  const encoding: Record<string, unknown> = {
    x: axisEncoding(o.x, 'x', o.data),
    y: axisEncoding(o.y, 'y', o.data),
  };

  if (o.series) {
    const s = o.series;
    const seen: string[] = [...(s.order ?? [])];
    for (const row of o.data) {
      const v = String(row[s.field]);
      if (!seen.includes(v)) seen.push(v);
    }
    let next = 0;
    const colors = seen.map((v) => s.colors?.[v] ?? TABLEAU10[next++ % TABLEAU10.length]!);
    const dashes = seen.map((v) => [...(s.dashes?.[v] ?? [1, 0])]);
    const title = s.title ?? s.field;
    // Colour and dash share field, title and domain, so vega-lite merges them into one legend.
    const legend = { symbolType: 'stroke', symbolSize: 500, symbolStrokeWidth: 2.5 };
    encoding.color = {
      field: s.field,
      type: 'nominal',
      title,
      sort: seen,
      scale: { domain: seen, range: colors },
      legend,
    };
    encoding.strokeDash = {
      field: s.field,
      type: 'nominal',
      title,
      sort: seen,
      scale: { domain: seen, range: dashes },
      legend,
    };
  }

  const subtitle = typeof o.subtitle === 'string' ? o.subtitle : o.subtitle && [...o.subtitle];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: subtitle ? { text: o.title, subtitle } : o.title,
    width,
    height,
    data: { values: o.data.map((r) => ({ ...r })) },
    mark: { type: 'line', strokeWidth: 2, point: o.points ? { size: 18 } : false },
    encoding,
    config: plotConfig,
  } as TopLevelSpec;
}
