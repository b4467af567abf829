// The run folder of `dqa train`: recording, checkpoints, and the report with its plots.

export {
  type CheckpointInfo,
  checkpointFormatVersion,
  checkpointInfo,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  writeCheckpoint,
  writeCheckpointSync,
} from './checkpoint-file.js';
export {
  describeMethod,
  type LayerQuantizerInfo,
  quantizerLabels,
  quantizersFromConfig,
} from './describe.js';
export * from './layout.js';
export {
  type AttentionPlotOptions,
  attentionSpec,
  defaultQuantizationLayers,
  type QuantizationPlotOptions,
  quantizationSpec,
  trainingSpec,
} from './plots.js';
export { type RunData, readRun } from './read-run.js';
export {
  createRunRecorder,
  type RunRecorder,
  type RunRecorderOptions,
  type TruncationSummary,
  truncateRunFiles,
} from './recorder.js';
export {
  type PlotLinks,
  type RunReportFiles,
  type RunReportOptions,
  runReportMarkdown,
  writeRunReport,
} from './report.js';
export {
  loadRunDataset,
  prepareRun,
  relaxedBitsByName,
  runTemperature,
  type TrainRunOptions,
  trainRunFolder,
} from './train-run.js';
