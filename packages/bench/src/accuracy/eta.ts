import type { AccuracyEvent } from './runner.js';

/**
 * The time an accuracy grid has left, from its events: the calibrated estimate of every run still
 * to train, the current run's share still to go (by its steps), all scaled by how the runs done
 * so far compared with their estimates (other processes on the machine, a warmer engine).
 */
export class AccuracyEta {
  private estimates = new Map<string, number>();
  private order: string[] = [];
  private current: string | null = null;
  private currentFraction = 0;
  private actual = 0;
  private estimated = 0;
  private trained = 0;
  private done = new Set<string>();

  observe(e: AccuracyEvent): void {
    switch (e.type) {
      case 'plan':
        this.estimates = new Map(e.estimates.map((x) => [x.name, x.seconds]));
        this.order = e.estimates.map((x) => x.name);
        return;
      case 'cell-start':
        this.current = e.cell.name;
        this.currentFraction = 0;
        return;
      case 'train':
        if (e.event.type === 'step')
          this.currentFraction = Math.min(1, (e.event.step + 1) / e.event.totalSteps);
        return;
      case 'cell-end':
        if (e.status === 'trained') {
          this.trained++;
          this.actual += e.seconds;
          this.estimated += this.estimates.get(e.cell.name) ?? 0;
        }
        this.done.add(e.cell.name);
        if (this.current === e.cell.name) this.current = null;
        return;
      default:
    }
  }

  /** How actual run times compare with their estimates so far (1 before any run finished). */
  get ratio(): number {
    return this.estimated > 0 && this.actual > 0 ? this.actual / this.estimated : 1;
  }

  /**
   * Seconds left, or null when unknown: before the plan, or, for a grid without a calibration
   * (a fixed run length), until a run has finished (then the mean run time is the estimate).
   */
  remainingSeconds(): number | null {
    if (!this.order.length) return this.estimates.size || this.trained ? 0 : null;
    const uncalibrated = [...this.estimates.values()].every((s) => s === 0);
    if (uncalibrated && !this.trained) return null;
    const mean = this.trained ? this.actual / this.trained : 0;
    let left = 0;
    for (const name of this.order) {
      if (this.done.has(name)) continue;
      const s = uncalibrated ? mean : (this.estimates.get(name) ?? 0);
      left += name === this.current ? s * (1 - this.currentFraction) : s;
    }
    return uncalibrated ? left : left * this.ratio;
  }
}
