// `dqa bench accuracy`: the paper's Tables 1 and 2 as a grid of runs at a scale this machine runs.

export {
  type BudgetInput,
  type BudgetPlan,
  cellKind,
  type KindCost,
  planAccuracyBudget,
  runCost,
} from './budget.js';
export { AccuracyEta } from './eta.js';
export {
  type AccuracyCell,
  type AccuracyGridSpec,
  type AccuracyModel,
  type AccuracyTarget,
  type ActivationSetting,
  cellChoice,
  cellConfig,
  configDifference,
  defaultBits,
  expandAccuracyGrid,
  paperActivationSettings,
  paperWeightSettings,
  type QuantizerSetting,
  type RunLength,
  type RunPlace,
} from './grid.js';
export {
  type AccuracyEvent,
  type AccuracyGridOptions,
  type AccuracyGridResult,
  type AccuracyGridState,
  accuracyGridFile,
  gridNotes,
  runAccuracyGrid,
} from './runner.js';
export {
  type AccuracyRow,
  type AccuracyRunResult,
  type AccuracyStat,
  accuracyJson,
  accuracyMarkdown,
  formatStat,
  meanStd,
  summarizeAccuracy,
  writeAccuracy,
} from './table.js';
