import type { SpeedEvent, SpeedSettings } from './runner.js';
import { type SpeedModelId, speedModels } from './spec.js';

/**
 * Remaining time of a speed run. Steps differ in cost by orders of magnitude (a small-CNN step on
 * `wasm` is ~0.1 s, a ResNet-20 step on `cpu` ~10 s), so the estimate is per (backend, model): the
 * mean step time seen so far for that pair, else the backend's time per multiply-accumulate
 * (from the models it has run) times the model's work, else the average of the other backends'.
 * Cells that the time budget will cut short are counted short.
 */
export class SpeedEta {
  private readonly seen = new Map<string, { ms: number; n: number; timed: boolean }>();
  /** Steps done in each cell (`backend/model/variant`); finished cells are in `finished`. */
  private readonly progress = new Map<string, number>();
  private readonly finished = new Set<string>();

  constructor(private readonly settings: SpeedSettings) {}

  observe(e: SpeedEvent): void {
    if (e.type === 'step') {
      const key = `${e.backend}/${e.model}`;
      const timed = e.phase === 'timed';
      const prev = this.seen.get(key);
      // Warm-up steps (tfjs compiles kernels in the first) count only until a timed step is seen.
      if (!prev || (timed && !prev.timed)) this.seen.set(key, { ms: e.ms, n: 1, timed });
      else if (timed === prev.timed)
        this.seen.set(key, { ms: prev.ms + e.ms, n: prev.n + 1, timed });
      const cell = `${key}/${e.variant}`;
      this.progress.set(cell, (this.progress.get(cell) ?? 0) + 1);
    } else if (e.type === 'cell') {
      this.finished.add(`${e.cell.backend}/${e.cell.model}/${e.cell.variant}`);
    } else if (e.type === 'backend-end') {
      for (const m of this.settings.models)
        for (const v of this.variantsOf(e.run.id)) this.finished.add(`${e.run.id}/${m}/${v}`);
    }
  }

  /** The variants `backend` measures (all but those it cannot, e.g. the FP-only limit). */
  private variantsOf(backend: string): readonly string[] {
    return this.settings.backendVariants[backend] ?? this.settings.variants;
  }

  private work(model: SpeedModelId): number {
    return speedModels[model].macsPerImage * this.settings.batch[model];
  }

  /** Milliseconds per multiply-accumulate on `backend`, from what it has run; null if nothing. */
  private msPerMac(backend: string): number | null {
    const rates = this.settings.models.flatMap((m) => {
      const s = this.seen.get(`${backend}/${m}`);
      return s ? [s.ms / s.n / this.work(m)] : [];
    });
    return rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : null;
  }

  /** Estimated milliseconds of one step; null before any step has been seen. */
  stepMs(backend: string, model: SpeedModelId): number | null {
    const s = this.seen.get(`${backend}/${model}`);
    if (s) return s.ms / s.n;
    const own = this.msPerMac(backend);
    if (own !== null) return own * this.work(model);
    const others = this.settings.backends.flatMap((b) => this.msPerMac(b) ?? []);
    if (!others.length) return null;
    return (others.reduce((a, b) => a + b, 0) / others.length) * this.work(model);
  }

  /** Seconds left, or null before the first step. */
  remainingSeconds(): number | null {
    const { warmup, steps, minSteps, timeBudgetS } = this.settings;
    let ms = 0;
    for (const b of this.settings.backends) {
      for (const m of this.settings.models) {
        const step = this.stepMs(b, m);
        if (step === null) return null;
        const timed =
          timeBudgetS > 0
            ? Math.min(steps, Math.max(minSteps, Math.ceil((timeBudgetS * 1000) / step)))
            : steps;
        for (const v of this.variantsOf(b)) {
          const cell = `${b}/${m}/${v}`;
          if (this.finished.has(cell)) continue;
          ms += Math.max(0, warmup + timed - (this.progress.get(cell) ?? 0)) * step;
        }
      }
    }
    return ms / 1000;
  }
}
