import type { SpeedMessage } from './protocol.js';
import type { SpeedRequest } from './spec.js';

/** One cell of the table: a model and a variant. */
export type CellId = {
  model: SpeedRequest['models'][number];
  variant: SpeedRequest['variants'][number];
};

/**
 * Times `step(i, totalSteps)` (which returns the step's loss) over the warm-up and timed steps,
 * sending progress, stopping early once the time budget is spent, then sends the cell.
 */
export async function timeCell(
  request: SpeedRequest,
  id: CellId,
  params: number,
  send: (m: SpeedMessage) => void,
  step: (i: number, totalSteps: number) => Promise<number>,
): Promise<void> {
  const totalSteps = request.warmup + request.steps;
  const stepsMs: number[] = [];
  let loss = Number.NaN;
  let timedMs = 0;
  for (let i = 0; i < totalSteps; i++) {
    const t0 = performance.now();
    loss = await step(i, totalSteps);
    const ms = performance.now() - t0;
    const warm = i < request.warmup;
    if (!warm) {
      stepsMs.push(ms);
      timedMs += ms;
    }
    send({
      type: 'progress',
      ...id,
      phase: warm ? 'warmup' : 'timed',
      step: warm ? i + 1 : stepsMs.length,
      steps: warm ? request.warmup : request.steps,
      ms,
    });
    const budgetSpent = request.timeBudgetS > 0 && timedMs >= request.timeBudgetS * 1000;
    if (!warm && budgetSpent && stepsMs.length >= request.minSteps) break;
  }
  send({
    type: 'cell',
    ...id,
    batch: request.batch[id.model],
    warmup: request.warmup,
    stepsMs,
    params,
    loss,
  });
}
