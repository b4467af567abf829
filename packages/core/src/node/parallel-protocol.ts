import type { ReplicaRecipe } from '../backend/backend.js';

/**
 * The shared-memory protocol between the Trainer and its data-parallel workers. Each worker has a
 * control block of Int32 slots; the main thread writes the weights into one shared buffer and each
 * worker's rows of the batch into that worker's input buffer, then bumps SEQ; the worker answers
 * with its gradients, the state its forward pass updated and two scalars, then sets STATUS.
 */
export const Slot = {
  /** Bumped by the main thread for every command. */
  SEQ: 0,
  CMD: 1,
  STATUS: 2,
  /** Rows of the batch this worker computes. */
  ROWS: 3,
  STEP: 4,
  TOTAL_STEPS: 5,
  STEPS_PER_EPOCH: 6,
  /** Generation of the input buffer; a new one arrives on the input port when it grows. */
  INPUT_GEN: 7,
  /** Rank of one example of x (without the batch axis), then its dimensions (up to 4). */
  X_RANK: 8,
  X_DIMS: 9,
  /** Classes (the one-hot width of y). */
  CLASSES: 13,
} as const;
export const CONTROL_SLOTS = 16;

export const Command = { STEP: 1, STOP: 2 } as const;
export const Status = { IDLE: 0, BUSY: 1, DONE: 2, ERROR: 3 } as const;

/** What a worker thread is started with. */
export interface WorkerSetup {
  backend: ReplicaRecipe;
  model: ReplicaRecipe;
  /** Modules imported first, for their side effects (third-party quantizer plugins). */
  imports: string[];
  /** Shapes of the model's variables, then of its state, as the main thread has them. */
  variableShapes: number[][];
  stateShapes: number[][];
  variableNames: string[];
  control: SharedArrayBuffer;
  /** Float32: the variables, then the state. */
  params: SharedArrayBuffer;
  /** Float32: the gradients, then the state after the forward pass. */
  output: SharedArrayBuffer;
  /** Float64: [loss, regularizer]. */
  scalars: SharedArrayBuffer;
  /** Float32: this worker's rows of x, then of y. */
  input: SharedArrayBuffer;
}

export function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}
