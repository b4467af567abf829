import {
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  workerData,
} from 'node:worker_threads';
import type { Backend, Variable } from '../backend/backend.js';
import { lossAndGrads } from '../train/loss.js';
import type { TrainableModel } from '../train/trainer.js';
import { Command, Slot, Status, sizeOfShape, type WorkerSetup } from './parallel-protocol.js';

/**
 * A data-parallel worker of the Trainer: builds the same backend and model from their replica
 * recipes, then, for every step, loads the main thread's weights, computes the loss and the
 * gradients of its rows of the batch and hands them back through shared memory.
 */

const setup = workerData as WorkerSetup & { inputPort: MessagePort };
const port = parentPort!;

type Factory = (...args: unknown[]) => unknown;

async function importExport(module: string, name: string, what: string): Promise<Factory> {
  const mod = (await import(module)) as Record<string, unknown>;
  const f = mod[name];
  if (typeof f !== 'function') {
    throw new Error(`the ${what} replica module ${module} has no exported function '${name}'`);
  }
  return f as Factory;
}

function describe(shapes: readonly (readonly number[])[]): string {
  return shapes.map((s) => `[${s.join(', ')}]`).join(' ');
}

async function start(): Promise<{ b: Backend; model: TrainableModel }> {
  for (const m of setup.imports) await import(m);
  const makeBackend = await importExport(setup.backend.module, setup.backend.export, 'backend');
  const b = (await makeBackend(setup.backend.args)) as Backend;
  const makeModel = await importExport(setup.model.module, setup.model.export, 'model');
  const model = (await makeModel(b, setup.model.args)) as TrainableModel;
  const vShapes = model.variables.map((v) => [...v.shape]);
  const sShapes = (model.state ?? []).map((v) => [...v.shape]);
  if (describe(vShapes) !== describe(setup.variableShapes)) {
    throw new Error(
      `the worker's model replica has variables ${describe(vShapes)} but the trained model has ${describe(setup.variableShapes)} (${setup.variableNames.join(', ')}); a replica recipe must rebuild the same variables in the same order`,
    );
  }
  if (describe(sShapes) !== describe(setup.stateShapes)) {
    throw new Error(
      `the worker's model replica has state ${describe(sShapes)} but the trained model has ${describe(setup.stateShapes)}`,
    );
  }
  return { b, model };
}

function loop(b: Backend, model: TrainableModel, firstSeq: number): void {
  const control = new Int32Array(setup.control);
  const params = new Float32Array(setup.params);
  const output = new Float32Array(setup.output);
  const scalars = new Float64Array(setup.scalars);
  let input = new Float32Array(setup.input);
  let inputGen = 0;
  const state: readonly Variable[] = model.state ?? [];
  const all = [...model.variables, ...state];
  let seen = firstSeq;
  for (;;) {
    Atomics.wait(control, Slot.SEQ, seen);
    seen = Atomics.load(control, Slot.SEQ);
    const cmd = Atomics.load(control, Slot.CMD);
    if (cmd === Command.STOP) return;
    if (cmd !== Command.STEP) continue;
    try {
      while (Atomics.load(control, Slot.INPUT_GEN) !== inputGen) {
        const m = receiveMessageOnPort(setup.inputPort);
        if (!m) throw new Error('the input buffer announced by the main thread did not arrive');
        const msg = m.message as { gen: number; input: SharedArrayBuffer };
        input = new Float32Array(msg.input);
        inputGen = msg.gen;
      }
      const rows = control[Slot.ROWS]!;
      const rank = control[Slot.X_RANK]!;
      const xShape = [rows];
      for (let i = 0; i < rank; i++) xShape.push(control[Slot.X_DIMS + i]!);
      const classes = control[Slot.CLASSES]!;
      const xSize = sizeOfShape(xShape);
      const step = {
        step: control[Slot.STEP]!,
        totalSteps: control[Slot.TOTAL_STEPS]!,
        stepsPerEpoch: control[Slot.STEPS_PER_EPOCH]!,
      };
      let offset = 0;
      for (const v of all) {
        const n = sizeOfShape(v.shape);
        // slice(): a private copy, since engines may keep the array they are given.
        const values = params.slice(offset, offset + n);
        b.tidy(() => v.assign(b.tensor(values, v.shape)));
        offset += n;
      }
      const x = b.tensor(input.slice(0, xSize), xShape);
      const y = b.tensor(input.slice(xSize, xSize + rows * classes), [rows, classes]);
      const { value, grads, regularizer } = lossAndGrads(b, model, { x, y }, step);
      offset = 0;
      for (const g of grads) {
        const values = b.readSync(g);
        output.set(values, offset);
        offset += values.length;
      }
      for (const v of state) {
        const values = b.readSync(v);
        output.set(values, offset);
        offset += values.length;
      }
      scalars[0] = b.readSync(value)[0]!;
      scalars[1] = regularizer;
      b.dispose([value, ...grads, x, y]);
      Atomics.store(control, Slot.STATUS, Status.DONE);
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).message, stack: (e as Error).stack });
      Atomics.store(control, Slot.STATUS, Status.ERROR);
    }
    Atomics.notify(control, Slot.STATUS);
  }
}

start().then(
  ({ b, model }) => {
    // Read the sequence number before saying ready: the first command may follow at once.
    const seq = Atomics.load(new Int32Array(setup.control), Slot.SEQ);
    port.postMessage({ type: 'ready' });
    loop(b, model, seq);
  },
  (e: unknown) => {
    port.postMessage({ type: 'error', message: (e as Error).message, stack: (e as Error).stack });
  },
);
