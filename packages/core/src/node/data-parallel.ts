import { MessageChannel, Worker } from 'node:worker_threads';
import type { Backend, Tensor, Variable } from '../backend/backend.js';
import { DqaError } from '../errors.js';
import type { StepInfo } from '../relaxation/relaxation.js';
import { lossAndGrads } from '../train/loss.js';
import { builtModuleUrl } from '../train/replica.js';
import type { Batch, TrainableModel } from '../train/trainer.js';
import {
  CONTROL_SLOTS,
  Command,
  Slot,
  Status,
  sizeOfShape,
  type WorkerSetup,
} from './parallel-protocol.js';

export interface DataParallelOptions {
  /** Threads computing gradients, the calling thread included (≥ 2). */
  threads: number;
  /** Modules each worker imports first (third-party quantizer plugins that register themselves). */
  imports?: readonly string[];
  /** Seconds to wait for a worker to start (default 120). */
  startTimeout?: number;
}

/** One step's result, the same as a single-threaded step's. */
export interface ParallelStep {
  loss: number;
  regularizer: number;
  /** Gradients averaged over the whole batch, one per model variable; the caller disposes them. */
  grads: Tensor[];
}

interface WorkerSlot {
  worker: Worker;
  control: Int32Array;
  output: Float32Array;
  scalars: Float64Array;
  input: Float32Array;
  inputGen: number;
  inputPort: MessageChannel['port1'];
  /** Set when the worker reports an error or exits. */
  failure: Error | null;
  /** Resolves when `failure` is set. */
  failed: Promise<void>;
}

const TIMEOUT_MS = 600_000;
/** How long the calling thread blocks on a worker before it waits asynchronously. */
const BLOCKING_WAIT_MS = 2_000;

/**
 * The parent's Node flags without the `@dqa/source` export condition, which points workspace
 * packages at their TypeScript sources (tests): workers import the built JavaScript.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--conditions' || a === '-C') && argv[i + 1] === '@dqa/source') {
      i++;
      continue;
    }
    if (a === '--conditions=@dqa/source' || a === '-C=@dqa/source') continue;
    out.push(a);
  }
  return out;
}

/** `Atomics.waitAsync` (ES2024; Node ≥ 16), typed here for the ES2022 library this package targets. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
      timeout?: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/**
 * Data-parallel training over worker threads: each step the batch is split by rows between the
 * calling thread and `threads − 1` workers, each holding a replica of the backend and the model
 * (built from their `replica` recipes); the workers take the current weights from shared memory,
 * compute their rows' loss and gradients at the same time as the calling thread, and the gradients
 * are averaged, weighted by rows — the gradient of the whole batch. State the forward pass updates
 * (batch norm's moving statistics) is averaged the same way. Batch statistics of batch norm are
 * those of each thread's rows, as in PyTorch's DistributedDataParallel without SyncBatchNorm.
 */
export class DataParallel {
  private readonly params: Float32Array;
  private readonly all: readonly Variable[];
  private readonly variableSizes: number[];
  private readonly stateSizes: number[];
  private disposed = false;

  private constructor(
    private readonly b: Backend,
    private readonly model: TrainableModel,
    private readonly workers: WorkerSlot[],
    params: SharedArrayBuffer,
  ) {
    this.params = new Float32Array(params);
    this.all = [...model.variables, ...(model.state ?? [])];
    this.variableSizes = model.variables.map((v) => sizeOfShape(v.shape));
    this.stateSizes = (model.state ?? []).map((v) => sizeOfShape(v.shape));
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  static async start(
    b: Backend,
    model: TrainableModel,
    options: DataParallelOptions,
  ): Promise<DataParallel> {
    const { threads } = options;
    if (!(Number.isInteger(threads) && threads >= 2)) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        `data-parallel training needs threads ≥ 2 (an integer), got ${threads}`,
      );
    }
    if (!b.replica) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        `train: threads = ${threads} needs a backend that worker threads can rebuild, but backend '${b.name}' has no replica recipe; use threads: 1`,
      );
    }
    if (!model.replica) {
      throw new DqaError(
        'INVALID_ARGUMENT',
        'train: threads > 1 needs a model that worker threads can rebuild (TrainableModel.replica), and this model has none; use threads: 1, or give the model a replica recipe',
      );
    }
    const state = model.state ?? [];
    const paramCount =
      model.variables.reduce((n, v) => n + sizeOfShape(v.shape), 0) +
      state.reduce((n, v) => n + sizeOfShape(v.shape), 0);
    const params = new SharedArrayBuffer(paramCount * 4);
    const workerUrl = new URL(builtModuleUrl(import.meta.url, 'train-worker.js'));
    const slots: WorkerSlot[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 1; i < threads; i++) {
      const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
      const output = new SharedArrayBuffer(paramCount * 4);
      const scalars = new SharedArrayBuffer(16);
      const input = new SharedArrayBuffer(4);
      const channel = new MessageChannel();
      const setup: WorkerSetup & { inputPort: MessageChannel['port2'] } = {
        backend: b.replica,
        model: model.replica,
        imports: [...(options.imports ?? [])],
        variableShapes: model.variables.map((v) => [...v.shape]),
        stateShapes: state.map((v) => [...v.shape]),
        variableNames: model.variables.map((v) => v.name),
        control,
        params,
        output,
        scalars,
        input,
        inputPort: channel.port2,
      };
      let worker: Worker;
      try {
        worker = new Worker(workerUrl, {
          workerData: setup,
          transferList: [channel.port2],
          execArgv: workerExecArgv(),
        });
      } catch (e) {
        throw new DqaError(
          'BACKEND_UNAVAILABLE',
          `train: cannot start a data-parallel worker from ${workerUrl.href}: ${(e as Error).message}`,
          { cause: e },
        );
      }
      let fail!: (e: Error) => void;
      const slot: WorkerSlot = {
        worker,
        control: new Int32Array(control),
        output: new Float32Array(output),
        scalars: new Float64Array(scalars),
        input: new Float32Array(input),
        inputGen: 0,
        inputPort: channel.port1,
        failure: null,
        failed: new Promise<void>((resolve) => {
          fail = (e) => {
            if (!slot.failure) slot.failure = e;
            resolve();
          };
        }),
      };
      let started!: () => void;
      ready.push(
        new Promise<void>((resolve, reject) => {
          started = resolve;
          slot.failed.then(() => reject(slot.failure));
        }),
      );
      worker.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'ready') started();
        else if (m.type === 'error')
          fail(new DqaError('BACKEND_STATE', `data-parallel worker ${i}: ${m.message}`));
      });
      worker.on('error', (e) =>
        fail(new DqaError('BACKEND_STATE', `data-parallel worker ${i} failed: ${e.message}`)),
      );
      worker.on('exit', (code) =>
        fail(new DqaError('BACKEND_STATE', `data-parallel worker ${i} exited (code ${code})`)),
      );
      slots.push(slot);
    }
    const pool = new DataParallel(b, model, slots, params);
    const timeout = (options.startTimeout ?? 120) * 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all(ready),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new DqaError(
                  'BACKEND_STATE',
                  `data-parallel workers did not start within ${timeout / 1000} s`,
                ),
              ),
            timeout,
          );
        }),
      ]);
    } catch (e) {
      await pool.dispose();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return pool;
  }

  /** The loss and averaged gradients of `batch` at `step`, computed over every thread. */
  async step(batch: Batch, step: StepInfo): Promise<ParallelStep> {
    if (this.disposed) throw new DqaError('BACKEND_STATE', 'data-parallel pool was disposed');
    const { b, model } = this;
    const xShape = batch.x.shape;
    const rows = xShape[0]!;
    const classes = batch.y.shape[1]!;
    const xRow = sizeOfShape(xShape.slice(1));
    if (xShape.length - 1 > 4) {
      throw new DqaError(
        'SHAPE_MISMATCH',
        `data-parallel training takes examples of rank ≤ 4, got x of shape [${xShape.join(', ')}]`,
      );
    }
    const counts = this.split(rows);

    // The weights (after this step's hooks, e.g. α ← α/std(α)) and the state, for every worker.
    let offset = 0;
    for (const v of this.all) {
      const values = b.readSync(v);
      this.params.set(values, offset);
      offset += values.length;
    }
    const x = b.readSync(batch.x);
    const y = b.readSync(batch.y);
    let start = counts[0]!;
    const busy: WorkerSlot[] = [];
    for (let w = 0; w < this.workers.length; w++) {
      const slot = this.workers[w]!;
      const n = counts[w + 1]!;
      if (n === 0) continue;
      if (slot.failure) throw slot.failure;
      const need = n * (xRow + classes);
      if (slot.input.length < need) {
        const buffer = new SharedArrayBuffer(need * 4);
        slot.input = new Float32Array(buffer);
        slot.inputGen++;
        slot.inputPort.postMessage({ gen: slot.inputGen, input: buffer });
        Atomics.store(slot.control, Slot.INPUT_GEN, slot.inputGen);
      }
      slot.input.set(x.subarray(start * xRow, (start + n) * xRow), 0);
      slot.input.set(y.subarray(start * classes, (start + n) * classes), n * xRow);
      const c = slot.control;
      c[Slot.ROWS] = n;
      c[Slot.STEP] = step.step;
      c[Slot.TOTAL_STEPS] = step.totalSteps;
      c[Slot.STEPS_PER_EPOCH] = step.stepsPerEpoch;
      c[Slot.X_RANK] = xShape.length - 1;
      for (let i = 1; i < xShape.length; i++) c[Slot.X_DIMS + i - 1] = xShape[i]!;
      c[Slot.CLASSES] = classes;
      Atomics.store(c, Slot.STATUS, Status.BUSY);
      Atomics.store(c, Slot.CMD, Command.STEP);
      Atomics.add(c, Slot.SEQ, 1);
      Atomics.notify(c, Slot.SEQ);
      busy.push(slot);
      start += n;
    }

    // This thread's rows, while the workers compute theirs.
    const n0 = counts[0]!;
    const x0 = b.tensor(x.subarray(0, n0 * xRow), [n0, ...xShape.slice(1)]);
    const y0 = b.tensor(y.subarray(0, n0 * classes), [n0, classes]);
    const local = lossAndGrads(b, model, { x: x0, y: y0 }, step);
    const w0 = n0 / rows;
    const total = this.variableSizes.reduce((a, s) => a + s, 0);
    const stateTotal = this.stateSizes.reduce((a, s) => a + s, 0);
    const sum = new Float32Array(total + stateTotal);
    offset = 0;
    for (const g of local.grads) {
      const values = b.readSync(g);
      for (let i = 0; i < values.length; i++) sum[offset + i] = values[i]! * w0;
      offset += values.length;
    }
    for (const v of model.state ?? []) {
      const values = b.readSync(v);
      for (let i = 0; i < values.length; i++) sum[offset + i] = values[i]! * w0;
      offset += values.length;
    }
    let loss = b.readSync(local.value)[0]! * w0;
    let regularizer = local.regularizer * w0;
    b.dispose([local.value, ...local.grads, x0, y0]);

    for (const slot of busy) {
      await this.wait(slot);
      const wi = slot.control[Slot.ROWS]! / rows;
      const out = slot.output;
      for (let i = 0; i < sum.length; i++) sum[i]! += out[i]! * wi;
      loss += slot.scalars[0]! * wi;
      regularizer += slot.scalars[1]! * wi;
    }

    const grads: Tensor[] = [];
    offset = 0;
    model.variables.forEach((v, i) => {
      const n = this.variableSizes[i]!;
      grads.push(b.tensor(sum.slice(offset, offset + n), v.shape));
      offset += n;
    });
    (model.state ?? []).forEach((v, i) => {
      const n = this.stateSizes[i]!;
      const values = sum.slice(offset, offset + n);
      b.tidy(() => v.assign(b.tensor(values, v.shape)));
      offset += n;
    });
    return { loss, regularizer, grads };
  }

  /**
   * Rows per thread: equal shares, the first threads taking one more where the batch does not
   * divide. A fixed split keeps training deterministic (the same sums in the same order, the same
   * batch-norm statistics), so a resumed run continues bit for bit; measured on this machine,
   * balancing the shares by each thread's speed gained nothing beyond noise.
   */
  private split(rows: number): number[] {
    const threads = this.threads;
    return Array.from(
      { length: threads },
      (_, i) => Math.floor(rows / threads) + (i < rows % threads ? 1 : 0),
    );
  }

  private async wait(slot: WorkerSlot): Promise<void> {
    const c = slot.control;
    // A blocking wait first: it wakes within microseconds of the worker's notify, where a
    // promise of Atomics.waitAsync resolves through the event loop, milliseconds later. A step
    // longer than that goes on waiting asynchronously, so a worker's crash (its 'exit' event)
    // is seen.
    const blockUntil = Date.now() + BLOCKING_WAIT_MS;
    while (Atomics.load(c, Slot.STATUS) === Status.BUSY && Date.now() < blockUntil) {
      Atomics.wait(c, Slot.STATUS, Status.BUSY, 50);
    }
    const deadline = Date.now() + TIMEOUT_MS;
    while (Atomics.load(c, Slot.STATUS) === Status.BUSY) {
      if (slot.failure) throw slot.failure;
      if (Date.now() > deadline) {
        throw new DqaError(
          'BACKEND_STATE',
          `a data-parallel worker did not answer within ${TIMEOUT_MS / 1000} s`,
        );
      }
      const r = waitAsync(c, Slot.STATUS, Status.BUSY, 1000);
      if (r.async) await Promise.race([r.value, slot.failed]);
    }
    if (Atomics.load(c, Slot.STATUS) === Status.ERROR) {
      // The worker posts its message before it sets STATUS; let the message event run.
      await Promise.race([slot.failed, new Promise((r) => setTimeout(r, 1000))]);
      throw slot.failure ?? new DqaError('BACKEND_STATE', 'a data-parallel worker failed');
    }
  }

  /** Stops the workers. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(
      this.workers.map(async (slot) => {
        Atomics.store(slot.control, Slot.CMD, Command.STOP);
        Atomics.add(slot.control, Slot.SEQ, 1);
        Atomics.notify(slot.control, Slot.SEQ);
        slot.inputPort.close();
        await slot.worker.terminate();
      }),
    );
  }
}
