import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic-write.js';

/**
 * Renders a vega-lite spec to an SVG document (headless: no canvas, no browser). Text widths are
 * vega's estimates, which is why plots leave generous room around labels.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { spec: vgSpec } = compile(spec);
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface PngOptions {
  /** Pixels per SVG unit; default 2 (sharp on high-density screens and in documents). */
  scale?: number;
}

/** Rasterises an SVG document to PNG bytes with resvg, using the fonts installed on this system. */
export function renderPng(svg: string, options: PngOptions = {}): Uint8Array {
  const scale = options.scale ?? 2;
  const resvg = new Resvg(svg, {
    font: { loadSystemFonts: true },
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
  });
  return resvg.render().asPng();
}

export interface WritePlotOptions extends PngOptions {
  /** Also write `<path>.png`. Default true. */
  png?: boolean;
}

/** The files `writePlot` wrote. */
export interface WrittenPlot {
  svg: string;
  png?: string;
}

/**
 * Renders `spec` and writes `<pathWithoutExt>.svg` (and `.png` unless `png: false`), each
 * atomically, creating the folder if needed. Returns the paths written.
 */
export async function writePlot(
  pathWithoutExt: string,
  spec: TopLevelSpec,
  options: WritePlotOptions = {},
): Promise<WrittenPlot> {
  const svg = await renderSvg(spec);
  const svgPath = `${pathWithoutExt}.svg`;
  await writeFileAtomic(svgPath, svg);
  if (options.png === false) return { svg: svgPath };
  const pngPath = `${pathWithoutExt}.png`;
  await writeFileAtomic(pngPath, renderPng(svg, options));
  return { svg: svgPath, png: pngPath };
}
