import { DqaError } from '@dqa/core';
import type { AccuracyCell, RunLength } from './grid.js';

/**
 * Fitting the grid into a time budget. Each kind of run (a method over a weight quantizer, with or
 * without quantized activations) is timed once on the machine (`calibrateAccuracy`): seconds per
 * training step, per test batch, and the fixed cost of a run (building the model, starting the
 * data-parallel workers, the report). A run of E epochs over N training examples then costs
 * overhead + E·⌈N/batch⌉·step + (E + 1)·testBatches·eval: the Trainer evaluates the test set after
 * each epoch (the last of which is the relaxed result) and once more with the hard quantizers.
 */

/** Measured cost of one kind of run. */
export interface KindCost {
  /** Seconds per training step (median). */
  stepS: number;
  /** Seconds per test batch of evaluation. */
  evalBatchS: number;
  /** Seconds a run costs besides its steps and evaluations. */
  overheadS: number;
}

/**
 * The kind of run a cell is, for timing: its method, its weight quantizer and whether activations
 * are quantized. The quantizer matters: SAWB's exact α* at 2/4/8 bits makes a DQA or BR mixture
 * step ≈ 20× a min-max one (measured: ≈ 0.4 s against ≈ 0.02 s on the small CNN).
 */
export function cellKind(cell: AccuracyCell): string {
  const q = cell.setting ? `-${cell.setting.quantizer}${cell.setting.bits}` : '';
  return `${cell.method}${q}${cell.target === 'weights+activations' ? '+pact' : ''}`;
}

export interface BudgetInput {
  /** The runs still to train, by kind (one entry per run). */
  kinds: readonly string[];
  costs: Readonly<Record<string, KindCost>>;
  /** Seconds the runs may take in all. */
  availableS: number;
  batchSize: number;
  /** Training examples in the split, and test examples evaluated per pass. */
  trainCount: number;
  testCount: number;
  /** At most this many epochs per run (default 100). */
  maxEpochs?: number;
}

export interface BudgetPlan extends Omit<RunLength, 'testExamples'> {
  /** Steps each run trains. */
  steps: number;
  /** Estimated seconds for all the runs. */
  estimateS: number;
}

const duration = (s: number) =>
  s < 120 ? `${Math.ceil(s)} seconds` : `${Math.ceil(s / 60)} minutes`;

/** Estimated seconds of one run of a kind. */
export function runCost(
  c: KindCost,
  length: { epochs: number; trainExamples: number },
  batchSize: number,
  testCount: number,
): number {
  const steps = length.epochs * Math.ceil(length.trainExamples / batchSize);
  const evals = (length.epochs + 1) * Math.ceil(testCount / batchSize);
  return c.overheadS + steps * c.stepS + evals * c.evalBatchS;
}

/**
 * The longest runs that fit: whole epochs over the whole training split while they fit (up to
 * `maxEpochs`), otherwise one epoch over the largest whole number of batches. Every run of the
 * grid gets the same length, so cells differ only in method. A budget too small for one batch per
 * run is an error saying how much the grid needs at least.
 */
export function planAccuracyBudget(input: BudgetInput): BudgetPlan {
  const { kinds, costs, batchSize, trainCount, testCount } = input;
  const maxEpochs = input.maxEpochs ?? 100;
  for (const k of kinds) {
    if (!costs[k]) throw new DqaError('INVALID_ARGUMENT', `accuracy budget: no timing for '${k}'`);
  }
  const total = (epochs: number, trainExamples: number) =>
    kinds.reduce(
      (s, k) => s + runCost(costs[k]!, { epochs, trainExamples }, batchSize, testCount),
      0,
    );
  const plan = (epochs: number, trainExamples: number): BudgetPlan => ({
    epochs,
    trainExamples: trainExamples >= trainCount ? null : trainExamples,
    steps: epochs * Math.ceil(trainExamples / batchSize),
    estimateS: total(epochs, trainExamples),
  });
  if (kinds.length === 0) return plan(1, trainCount);
  if (total(1, trainCount) <= input.availableS) {
    let epochs = 1;
    while (epochs < maxEpochs && total(epochs + 1, trainCount) <= input.availableS) epochs++;
    return plan(epochs, trainCount);
  }
  const batches = Math.ceil(trainCount / batchSize);
  if (total(1, batchSize) > input.availableS) {
    throw new DqaError(
      'INVALID_ARGUMENT',
      `accuracy budget: ${kinds.length} runs need at least ${duration(total(1, batchSize))} (one batch each, plus evaluation and set-up), but ${duration(Math.max(0, input.availableS))} are left; raise --budget, test on fewer examples (--limit-test), or run fewer cells`,
    );
  }
  // The largest number of batches b (1 ≤ b < batches) whose runs fit: cost grows with b.
  let lo = 1;
  let hi = batches - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (total(1, mid * batchSize) <= input.availableS) lo = mid;
    else hi = mid - 1;
  }
  return plan(1, lo * batchSize);
}
