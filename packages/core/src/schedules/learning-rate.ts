import { ArgumentError } from '../errors.js';

/** Learning-rate schedules, pure functions of the step index. */
export type LearningRateSchedule =
  | {
      kind: 'step';
      /** Initial learning rate (the paper's 0.1). */
      initial: number;
      /** Fractions of training after which the rate is multiplied by `gamma` (default [1/3, 2/3]). */
      milestones?: readonly number[];
      /** Default 0.1 (÷10). */
      gamma?: number;
    }
  | {
      kind: 'cosine';
      initial: number;
      /** Final learning rate (default 0). */
      final?: number;
    }
  | { kind: 'constant'; initial: number };

/**
 * The learning rate at `step` of a run of `totalSteps` steps. `step` schedule: the paper's
 * "÷10 at 1/3 and 2/3 of training" (every 100 of 300 epochs on CIFAR, every 30 of 90 on ImageNet).
 */
export function learningRate(step: number, totalSteps: number, s: LearningRateSchedule): number {
  if (!(Number.isInteger(totalSteps) && totalSteps > 0)) {
    throw new ArgumentError(
      `learningRate: totalSteps must be a positive integer, got ${totalSteps}`,
    );
  }
  if (!(s.initial >= 0))
    throw new ArgumentError(`learningRate: initial rate must be ≥ 0, got ${s.initial}`);
  const b = Math.min(Math.max(step, 0), totalSteps);
  switch (s.kind) {
    case 'constant':
      return s.initial;
    case 'step': {
      const milestones = s.milestones ?? [1 / 3, 2 / 3];
      const gamma = s.gamma ?? 0.1;
      let drops = 0;
      // A milestone at fraction f takes effect at step round(f·total), e.g. epoch 100 of 300.
      for (const f of milestones) if (b >= Math.round(f * totalSteps)) drops++;
      return s.initial * gamma ** drops;
    }
    case 'cosine': {
      const final = s.final ?? 0;
      return final + ((s.initial - final) * (1 + Math.cos((Math.PI * b) / totalSteps))) / 2;
    }
  }
}
