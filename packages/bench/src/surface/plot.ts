import { contours } from 'd3-contour';
import type { TopLevelSpec } from 'vega-lite';
import { plotConfig } from '../plot/theme.js';
import type { LossSurfaceResult } from './loss-surface.js';

/** One point of an isoline: its level, which piece of line it belongs to, and its order on it. */
export interface IsolinePoint {
  level: number;
  line: number;
  order: number;
  a: number;
  b: number;
}

/**
 * Isolines of a `size` × `size` grid (row j, column i at j·size + i) at `levels` evenly spaced
 * values strictly between its min and max, in the grid's coordinates (`axis`). d3-contour traces
 * closed rings around the regions above each level; the parts of a ring that run along the
 * grid's edge are dropped, so what is left are the level lines themselves.
 */
export function isolines(
  values: readonly number[],
  axis: readonly number[],
  levels: number,
): IsolinePoint[] {
  const n = axis.length;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (!(max > min) || levels < 1) return [];
  const thresholds = Array.from(
    { length: levels },
    (_, k) => min + ((k + 1) * (max - min)) / (levels + 1),
  );
  const step = axis[1]! - axis[0]!;
  const toAxis = (g: number) => axis[0]! + (g - 0.5) * step;
  const onEdge = (x: number, y: number) => x <= 0 || y <= 0 || x >= n || y >= n;
  const out: IsolinePoint[] = [];
  let line = 0;
  for (const polygon of contours().size([n, n]).thresholds(thresholds)([...values])) {
    for (const rings of polygon.coordinates) {
      for (const ring of rings) {
        let order = 0;
        let open = false;
        for (const [x, y] of ring as [number, number][]) {
          if (onEdge(x, y)) {
            if (open) line++;
            open = false;
            continue;
          }
          open = true;
          out.push({ level: polygon.value, line, order: order++, a: toAxis(x), b: toAxis(y) });
        }
        if (open) line++;
      }
    }
  }
  return out;
}

/**
 * The paper's Fig. 4 as a vega-lite spec: one panel per variant, the loss as a heat map over
 * (α, β) with its isolines (12 levels per panel, each panel on its own colour scale), the
 * roughness in the panel's title.
 */
export function surfaceSpec(
  result: LossSurfaceResult,
  options: { levels?: number } = {},
): TopLevelSpec {
  const { axis, settings } = result;
  const h = axis[1]! - axis[0]!;
  const domain = [axis[0]! - h / 2, axis.at(-1)! + h / 2];
  const levels = options.levels ?? 12;
  const panels = result.variants.map((v) => {
    const cells = v.loss.map((loss, k) => {
      const a = axis[k % axis.length]!;
      const b = axis[Math.floor(k / axis.length)]!;
      return { a: a - h / 2, a2: a + h / 2, b: b - h / 2, b2: b + h / 2, loss };
    });
    const lines = isolines(v.loss, axis, levels);
    const r = v.roughness;
    return {
      title: {
        text: v.label,
        subtitle: [
          v.description,
          `TV/range ${r.normalizedTotalVariation.toFixed(2)}, ${r.localMinima} local minim${r.localMinima === 1 ? 'um' : 'a'}`,
        ],
      },
      width: 260,
      height: 260,
      layer: [
        {
          data: { values: cells },
          mark: { type: 'rect' },
          encoding: {
            x: {
              field: 'a',
              type: 'quantitative',
              title: 'α (direction 1)',
              axis: { grid: false },
              scale: { domain, nice: false, zero: false },
            },
            x2: { field: 'a2' },
            y: {
              field: 'b',
              type: 'quantitative',
              title: 'β (direction 2)',
              axis: { grid: false },
              scale: { domain, nice: false, zero: false },
            },
            y2: { field: 'b2' },
            color: {
              field: 'loss',
              type: 'quantitative',
              title: 'loss',
              scale: { scheme: 'viridis' },
              legend: { format: '.3~g', gradientLength: 200 },
            },
          },
        },
        {
          data: { values: lines },
          mark: { type: 'line', stroke: 'white', strokeWidth: 0.9, opacity: 0.85 },
          encoding: {
            x: { field: 'a', type: 'quantitative' },
            y: { field: 'b', type: 'quantitative' },
            detail: { field: 'line', type: 'nominal' },
            order: { field: 'order', type: 'quantitative' },
          },
        },
      ],
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Loss surface of a randomly initialised ${settings.model} (${settings.data}, ${settings.examples} images)`,
      subtitle: `θ + α·d₁ + β·d₂, d₁ and d₂ random filter-normalised directions (Li et al. 2017); the same θ, d₁, d₂ in every panel; seed ${settings.seed}`,
    },
    hconcat: panels,
    resolve: { scale: { color: 'independent' } },
    config: plotConfig,
  } as TopLevelSpec;
}
