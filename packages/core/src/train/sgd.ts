import type { Backend, Tensor, Variable } from '../backend/backend.js';
import { ArgumentError } from '../errors.js';

export interface SgdOptions {
  /** μ; 0 disables momentum. */
  momentum: number;
  /** L2 weight decay added to the gradient of the `decay` variables only. */
  weightDecay: number;
  nesterov: boolean;
}

/** Plain values of an optimizer's state, for checkpoints. */
export interface SgdState {
  /** Momentum buffer of each variable, by variable name. */
  momentum: Record<string, { shape: number[]; values: number[] }>;
}

/**
 * SGD with momentum and weight decay, PyTorch's formulation: g ← ∇ + λ_wd·w (decayed variables
 * only), v ← μ·v + g, w ← w − lr·v (Nesterov: w ← w − lr·(g + μ·v)). Attention α and PACT's clip
 * are not decayed by default: decaying α would pull the attention towards uniform. Variables with
 * a lower bound (`lowerBounds`, e.g. PACT's clip level from `parameterBounds`) are projected back
 * onto it after each update: w ← max(w, min) (projected SGD; the momentum buffer is kept as is).
 */
export class Sgd {
  private readonly buffers = new Map<Variable, Variable>();
  private readonly decay: Set<Variable>;

  constructor(
    private readonly b: Backend,
    readonly variables: readonly Variable[],
    readonly options: SgdOptions,
    decay: readonly Variable[] = [],
    private readonly lowerBounds: ReadonlyMap<Variable, number> = new Map(),
  ) {
    if (!(options.momentum >= 0 && options.momentum < 1)) {
      throw new ArgumentError(`sgd: momentum must be in [0, 1), got ${options.momentum}`);
    }
    if (!(options.weightDecay >= 0))
      throw new ArgumentError(`sgd: weightDecay must be ≥ 0, got ${options.weightDecay}`);
    this.decay = new Set(decay);
    for (const [v, min] of lowerBounds) {
      if (!variables.includes(v))
        throw new ArgumentError(
          `sgd: bounded variable '${v.name}' is not among the optimised ones`,
        );
      if (!Number.isFinite(min))
        throw new ArgumentError(`sgd: the lower bound of '${v.name}' must be finite, got ${min}`);
    }
    for (const v of decay) {
      if (!variables.includes(v))
        throw new ArgumentError(
          `sgd: decayed variable '${v.name}' is not among the optimised ones`,
        );
    }
  }

  /** Applies one update with `grads[i]` for `variables[i]` at learning rate `lr`. */
  apply(grads: readonly Tensor[], lr: number): void {
    const { b, options } = this;
    if (grads.length !== this.variables.length) {
      throw new ArgumentError(
        `sgd: ${grads.length} gradients for ${this.variables.length} variables`,
      );
    }
    this.variables.forEach((v, i) => {
      const next = b.tidy(() => {
        let g = grads[i]!;
        if (options.weightDecay > 0 && this.decay.has(v))
          g = b.add(g, b.mul(v, options.weightDecay));
        let updated: Tensor;
        if (options.momentum === 0) updated = b.sub(v, b.mul(g, lr));
        else {
          const buf = this.buffer(v);
          const velocity = b.add(b.mul(buf, options.momentum), g);
          buf.assign(velocity);
          const direction = options.nesterov
            ? b.add(g, b.mul(velocity, options.momentum))
            : velocity;
          updated = b.sub(v, b.mul(direction, lr));
        }
        const min = this.lowerBounds.get(v);
        return min === undefined ? updated : b.maximum(updated, min);
      });
      v.assign(next);
      b.dispose(next);
    });
  }

  private buffer(v: Variable): Variable {
    let buf = this.buffers.get(v);
    if (!buf) {
      buf = this.b.tidy(() =>
        this.b.variable(this.b.fill(v.shape, 0), { name: `${v.name}/momentum`, trainable: false }),
      );
      this.buffers.set(v, buf);
    }
    return buf;
  }

  state(): SgdState {
    const momentum: SgdState['momentum'] = {};
    for (const [v, buf] of this.buffers) {
      momentum[v.name] = { shape: [...buf.shape], values: Array.from(this.b.readSync(buf)) };
    }
    return { momentum };
  }

  load(state: SgdState): void {
    for (const v of this.variables) {
      const s = state.momentum[v.name];
      if (!s) continue;
      const buf = this.buffer(v);
      this.b.tidy(() => buf.assign(this.b.tensor(s.values, s.shape)));
    }
  }

  dispose(): void {
    for (const buf of this.buffers.values()) this.b.dispose(buf);
    this.buffers.clear();
  }
}
