export {
  type AxisOptions,
  type DataRow,
  type LineChartOptions,
  lineChart,
  type SeriesOptions,
} from './line-chart.js';
export {
  type PngOptions,
  renderPng,
  renderSvg,
  type WritePlotOptions,
  type WrittenPlot,
  writePlot,
} from './render.js';
export { plotConfig, plotFont } from './theme.js';
