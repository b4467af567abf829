import type { Config } from 'vega-lite';

/**
 * The look shared by every DQA-TS plot. The font list names fonts common on macOS, Windows and
 * Linux before the generic family, because the PNG renderer (resvg) maps `sans-serif` to a serif
 * font when Arial is missing. Names stay unquoted: resvg skips quoted names in a list.
 */
export const plotFont = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif';

export const plotConfig: Config = {
  font: plotFont,
  background: 'white',
  padding: 12,
  title: { fontSize: 15, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start', offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400, orient: 'right' },
  view: { stroke: '#bbb' },
};
