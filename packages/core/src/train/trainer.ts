import type { Backend, ReplicaRecipe, Tensor, Variable } from '../backend/backend.js';
import { ArgumentError, DqaError } from '../errors.js';
import type { DataParallel } from '../node/data-parallel.js';
import { parameterBounds, type RelaxedQuantizer, type StepInfo } from '../relaxation/relaxation.js';
import { type LearningRateSchedule, learningRate } from '../schedules/learning-rate.js';
import { lossAndGrads } from './loss.js';
import { Sgd, type SgdOptions, type SgdState } from './sgd.js';

/** How the model is run for one batch. */
export interface ForwardContext {
  training: boolean;
  step: StepInfo;
  /** Use every quantizer's collapsed, hard Q_1 (final evaluation). */
  hard: boolean;
}

/** What the Trainer needs from a model, whatever built it (@dqa/models specs, user code). */
export interface TrainableModel {
  /** Everything the optimizer updates: weights, biases, DQA's α, PACT's clip levels. */
  readonly variables: readonly Variable[];
  /** The variables weight decay applies to (layer weights; never the attention α). */
  readonly decayVariables: readonly Variable[];
  /**
   * Non-trainable variables the forward pass updates in training mode (batch norm's moving mean
   * and variance): checkpointed with the variables, and averaged across data-parallel replicas.
   */
  readonly state?: readonly Variable[];
  /** How a worker thread rebuilds this model (same variables, same order) for data-parallel training. */
  readonly replica?: ReplicaRecipe;
  /** The model's relaxed quantizers (weights and activations), for the per-step hooks and events. */
  readonly quantizers: readonly RelaxedQuantizer[];
  /** S of eq. 6: the number of weights in the whole network. */
  readonly weightCount: number;
  /** Logits `[batch, classes]` for inputs `x`. */
  forward(x: Tensor, ctx: ForwardContext): Tensor;
  /**
   * Every quantized layer's effective weight quantization function at `step` (the paper's Fig. 3b),
   * `samples` points each; the Trainer streams them in `quantization` events when present.
   */
  quantizationFunctions?(step: StepInfo, samples: number): QuantizationFunction[];
  /**
   * Runs `fn` (an evaluation: many forward passes with `ctx`, weights unchanged) with each layer's
   * weights quantized once for all of them rather than at every batch; the values are the same.
   * Optional: without it every forward pass quantizes its weights.
   */
  evaluating?<T>(ctx: ForwardContext, fn: () => T): T;
}

/**
 * A layer's effective weight quantization function at a step (the paper's Fig. 3b): sampled float
 * weights w, ascending, over the layer's weight range, and what the layer computes with,
 * q = Σ a_k Q_k(w) (or Q_1(w) once collapsed).
 */
export interface QuantizationFunction {
  layer: string;
  w: number[];
  q: number[];
}

/** A batch of inputs and one-hot labels. The Trainer disposes both after use. */
export interface Batch {
  x: Tensor;
  y: Tensor;
}

export interface TrainData {
  /** Batches per training epoch. */
  readonly stepsPerEpoch: number;
  /** The training batches of an epoch, in an order that depends only on the epoch (resumable). */
  trainBatches(epoch: number): Iterable<Batch>;
  testBatches(): Iterable<Batch>;
}

/** Everything needed to continue a run exactly where it stopped. */
export interface Checkpoint {
  /** Epochs completed. */
  epoch: number;
  /** Global steps completed (beyond `epoch` whole epochs when the run stopped mid-epoch). */
  step: number;
  variables: Record<string, { shape: number[]; values: number[] }>;
  optimizer: SgdState;
  /**
   * Set when the run stopped inside epoch `epoch` (Ctrl-C): the running sums of that epoch, so a
   * resumed run skips the batches already trained and reports the same epoch loss.
   */
  partial?: { lossSum: number; batches: number };
}

export interface LayerAttentionEvent {
  name: string;
  relaxation: string;
  /** Mixing weights a_k (Q_1 first). */
  a: number[];
}

export type TrainEvent =
  | { type: 'start'; epochs: number; stepsPerEpoch: number; totalSteps: number; startEpoch: number }
  | {
      type: 'step';
      epoch: number;
      step: number;
      totalSteps: number;
      loss: number;
      regularizer: number;
      lr: number;
      /** Present every `attentionEvery` steps. */
      attention?: LayerAttentionEvent[];
    }
  | {
      type: 'epoch';
      epoch: number;
      trainLoss: number;
      testLoss: number;
      testAccuracy: number;
      seconds: number;
    }
  | {
      type: 'quantization';
      epoch: number;
      step: number;
      /** Every quantized layer's effective weight quantization function before this step. */
      functions: QuantizationFunction[];
    }
  | { type: 'checkpoint'; checkpoint: Checkpoint }
  | {
      type: 'end';
      /** Test accuracy of the relaxed model and of the hard low-bit model; null when stopped early. */
      relaxedAccuracy: number | null;
      hardAccuracy: number | null;
      stopped: boolean;
    };

export interface TrainOptions {
  epochs: number;
  learningRate: LearningRateSchedule;
  optimizer: SgdOptions;
  onEvent?: (e: TrainEvent) => void;
  /** Steps between attention reports in `step` events (default: once per epoch's first step). */
  attentionEvery?: number;
  /**
   * Steps between `quantization` events (Fig. 3b data), for models that provide
   * `quantizationFunctions` (default: 8 times over the run, and after the last step).
   */
  quantizationEvery?: number;
  /** Points per quantization function (default 129). */
  quantizationSamples?: number;
  /** Continue from this checkpoint. */
  resume?: Checkpoint;
  /** Checked between steps: return true to stop after a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
  /**
   * Threads that compute each step's gradients (default 1). With more, every batch is split by
   * rows between this thread and `threads − 1` worker threads (Node), each running a replica of
   * the backend and the model built from their `replica` recipes; the gradients are averaged.
   * One thread per core is the fastest setting where the backend computes on one thread (tfjs
   * wasm in Node).
   */
  threads?: number;
  /** Modules every worker imports first (third-party quantizer plugins that register themselves). */
  workerImports?: readonly string[];
}

export interface TrainResult {
  /** Test accuracy of the relaxed model at the end of training; null when stopped early. */
  relaxedAccuracy: number | null;
  /** Test accuracy of the hard low-bit model (every quantizer collapsed to Q_1); null when stopped. */
  hardAccuracy: number | null;
  stopped: boolean;
  /** The last checkpoint (after the last completed epoch). */
  checkpoint: Checkpoint;
}

const yieldToEventLoop: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => setTimeout(resolve, 0));

/** Top-1 accuracy and mean cross-entropy over batches. */
export function evaluate(
  b: Backend,
  model: TrainableModel,
  batches: Iterable<Batch>,
  ctx: ForwardContext,
): { accuracy: number; loss: number } {
  const run = () => evaluateBatches(b, model, batches, ctx);
  return model.evaluating && !ctx.training ? model.evaluating(ctx, run) : run();
}

function evaluateBatches(
  b: Backend,
  model: TrainableModel,
  batches: Iterable<Batch>,
  ctx: ForwardContext,
): { accuracy: number; loss: number } {
  let correct = 0;
  let count = 0;
  let lossSum = 0;
  for (const batch of batches) {
    const { logits, loss } = b.tidy(() => {
      const out = model.forward(batch.x, ctx);
      return { logits: b.readSync(out), loss: b.readSync(b.softmaxCrossEntropy(out, batch.y))[0]! };
    });
    const labels = b.readSync(batch.y);
    const n = batch.y.shape[0]!;
    const classes = batch.y.shape[1]!;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let truth = 0;
      for (let c = 1; c < classes; c++) {
        if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
        if (labels[i * classes + c]! > labels[i * classes + truth]!) truth = c;
      }
      if (best === truth) correct++;
    }
    lossSum += loss * n;
    count += n;
    b.dispose([batch.x, batch.y]);
  }
  if (count === 0) throw new ArgumentError('evaluate: the data set has no test batches');
  return { accuracy: correct / count, loss: lossSum / count };
}

/** Trainable variables, then the state the forward pass updates (batch norm's moving statistics). */
function checkpointed(model: TrainableModel): readonly Variable[] {
  return model.state?.length ? [...model.variables, ...model.state] : model.variables;
}

function snapshot(
  b: Backend,
  model: TrainableModel,
  optimizer: Sgd,
  epoch: number,
  step: number,
): Checkpoint {
  const variables: Checkpoint['variables'] = {};
  for (const v of checkpointed(model))
    variables[v.name] = { shape: [...v.shape], values: Array.from(b.readSync(v)) };
  return { epoch, step, variables, optimizer: optimizer.state() };
}

function restore(b: Backend, model: TrainableModel, optimizer: Sgd, c: Checkpoint): void {
  for (const v of checkpointed(model)) {
    const s = c.variables[v.name];
    if (!s)
      throw new DqaError('INVALID_ARGUMENT', `resume: the checkpoint has no variable '${v.name}'`);
    if (s.shape.length !== v.shape.length || s.shape.some((d, i) => d !== v.shape[i])) {
      throw new DqaError(
        'SHAPE_MISMATCH',
        `resume: variable '${v.name}' has shape [${v.shape.join(', ')}] but the checkpoint holds [${s.shape.join(', ')}]`,
      );
    }
    b.tidy(() => v.assign(b.tensor(s.values, s.shape)));
  }
  optimizer.load(c.optimizer);
}

/**
 * The backend-agnostic training loop: per batch, the schedules at step b (the relaxations read
 * T(b) and ω from the step), the relaxations' per-step hooks (α ← α/std(α)), cross-entropy plus
 * every layer's regularizer (eq. 6), gradients, an SGD step at the scheduled learning rate; per
 * epoch, evaluation of the relaxed model and a checkpoint; at the end, evaluation of the hard
 * low-bit model (every quantizer collapsed to Q_1). Emits events; writes nothing itself.
 */
export async function train(
  b: Backend,
  model: TrainableModel,
  data: TrainData,
  options: TrainOptions,
): Promise<TrainResult> {
  if (!(Number.isInteger(options.epochs) && options.epochs > 0)) {
    throw new ArgumentError(`train: epochs must be a positive integer, got ${options.epochs}`);
  }
  const stepsPerEpoch = data.stepsPerEpoch;
  if (!(Number.isInteger(stepsPerEpoch) && stepsPerEpoch > 0)) {
    throw new ArgumentError(
      `train: the data set must have at least one batch per epoch, got ${stepsPerEpoch}`,
    );
  }
  const threads = options.threads ?? 1;
  if (!(Number.isInteger(threads) && threads >= 1)) {
    throw new ArgumentError(`train: threads must be a positive integer, got ${threads}`);
  }
  const totalSteps = options.epochs * stepsPerEpoch;
  const emit = options.onEvent ?? (() => {});
  let pool: DataParallel | null = null;
  if (threads > 1) {
    if (!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node) {
      throw new ArgumentError(
        'train: threads > 1 needs Node worker threads; in a browser run the Trainer in a web worker with threads: 1',
      );
    }
    const { DataParallel } = await import('../node/data-parallel.js');
    pool = await DataParallel.start(b, model, {
      threads,
      ...(options.workerImports ? { imports: options.workerImports } : {}),
    });
  }
  const optimizer = new Sgd(
    b,
    model.variables,
    options.optimizer,
    model.decayVariables,
    parameterBounds(model.quantizers),
  );
  let startEpoch = 0;
  let step = 0;
  let checkpoint: Checkpoint;
  try {
    if (options.resume) {
      const r = options.resume;
      const done = r.step - r.epoch * stepsPerEpoch;
      if (!(Number.isInteger(done) && done >= 0 && done < stepsPerEpoch)) {
        throw new DqaError(
          'INVALID_ARGUMENT',
          `resume: the checkpoint is at step ${r.step} after ${r.epoch} epochs, which does not fit ${stepsPerEpoch} batches per epoch (was the batch size or the data set changed?)`,
        );
      }
      restore(b, model, optimizer, r);
      startEpoch = r.epoch;
      step = r.step;
    }
    checkpoint = snapshot(b, model, optimizer, startEpoch, step);
  } catch (e) {
    optimizer.dispose();
    await pool?.dispose();
    throw e;
  }
  emit({ type: 'start', epochs: options.epochs, stepsPerEpoch, totalSteps, startEpoch });
  let stopped = false;
  /** The newest end-of-epoch evaluation (relaxed), to spare the final one where it is the same. */
  let lastTest: { step: number; accuracy: number } | undefined;
  const info = (s: number): StepInfo => ({ step: s, totalSteps, stepsPerEpoch });
  const quantizationEvery = options.quantizationEvery ?? Math.max(1, Math.ceil(totalSteps / 8));
  const emitQuantization = (epoch: number, s: StepInfo): void => {
    if (!model.quantizationFunctions) return;
    const functions = model.quantizationFunctions(s, options.quantizationSamples ?? 129);
    if (functions.length) emit({ type: 'quantization', epoch, step: s.step, functions });
  };

  try {
    for (let epoch = startEpoch; epoch < options.epochs && !stopped; epoch++) {
      const started = Date.now();
      const resumedInside = epoch === startEpoch ? options.resume?.partial : undefined;
      let lossSum = resumedInside?.lossSum ?? 0;
      let batches = resumedInside?.batches ?? 0;
      // A run resumed mid-epoch skips the batches it trained before it stopped (same order).
      let skip = epoch === startEpoch ? step - epoch * stepsPerEpoch : 0;
      for (const batch of data.trainBatches(epoch)) {
        if (skip > 0) {
          skip--;
          b.dispose([batch.x, batch.y]);
          continue;
        }
        const s = info(step);
        for (const q of model.quantizers) q.beforeStep(s);
        if (step % quantizationEvery === 0) emitQuantization(epoch, s);
        const lr = learningRate(step, totalSteps, options.learningRate);
        let loss: number;
        let regularizer: number;
        let grads: Tensor[];
        if (pool) {
          ({ loss, regularizer, grads } = await pool.step(batch, s));
        } else {
          const r = lossAndGrads(b, model, batch, s);
          loss = b.readSync(r.value)[0]!;
          regularizer = r.regularizer;
          grads = r.grads;
          b.dispose(r.value);
        }
        if (!Number.isFinite(loss)) {
          b.dispose([...grads, batch.x, batch.y]);
          throw new DqaError(
            'NON_FINITE_INPUT',
            `train: the loss became ${loss} at step ${step} (epoch ${epoch}); lower the learning rate`,
          );
        }
        optimizer.apply(grads, lr);
        b.dispose([...grads, batch.x, batch.y]);
        const every = options.attentionEvery ?? stepsPerEpoch;
        const attention =
          model.quantizers.length && step % every === 0
            ? model.quantizers.map((q) => ({
                name: q.name,
                relaxation: q.relaxation,
                a: q.mixingWeights(s),
              }))
            : undefined;
        emit({
          type: 'step',
          epoch,
          step,
          totalSteps,
          loss,
          regularizer,
          lr,
          ...(attention ? { attention } : {}),
        });
        lossSum += loss;
        batches++;
        step++;
        // Let the event loop run (signal handlers such as Ctrl-C, progress rendering, I/O).
        await yieldToEventLoop();
        if (options.shouldStop?.()) {
          stopped = true;
          break;
        }
      }
      if (stopped) {
        if (step > epoch * stepsPerEpoch) {
          // Stopped inside the epoch: a checkpoint of exactly here, resumable bit for bit.
          checkpoint = {
            ...snapshot(b, model, optimizer, epoch, step),
            partial: { lossSum, batches },
          };
          emit({ type: 'checkpoint', checkpoint });
        }
        break;
      }
      const test = evaluate(b, model, data.testBatches(), {
        training: false,
        step: info(step),
        hard: false,
      });
      lastTest = { step, accuracy: test.accuracy };
      emit({
        type: 'epoch',
        epoch,
        trainLoss: batches ? lossSum / batches : Number.NaN,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        seconds: (Date.now() - started) / 1000,
      });
      checkpoint = snapshot(b, model, optimizer, epoch + 1, step);
      emit({ type: 'checkpoint', checkpoint });
    }
    if (stopped) {
      // Asked to stop (Ctrl-C): no final evaluation; the checkpoint says where to resume.
      emit({ type: 'end', relaxedAccuracy: null, hardAccuracy: null, stopped });
      return { relaxedAccuracy: null, hardAccuracy: null, stopped, checkpoint };
    }
    const end = info(Math.min(step, totalSteps));
    if (step === totalSteps) emitQuantization(options.epochs - 1, end);
    // The last epoch's evaluation already is the relaxed model's at the end (same weights, same
    // step): reuse it rather than pass over the test set again.
    const relaxed =
      lastTest?.step === end.step
        ? lastTest
        : evaluate(b, model, data.testBatches(), { training: false, step: end, hard: false });
    const hard = evaluate(b, model, data.testBatches(), { training: false, step: end, hard: true });
    emit({ type: 'end', relaxedAccuracy: relaxed.accuracy, hardAccuracy: hard.accuracy, stopped });
    return { relaxedAccuracy: relaxed.accuracy, hardAccuracy: hard.accuracy, stopped, checkpoint };
  } finally {
    optimizer.dispose();
    await pool?.dispose();
  }
}
