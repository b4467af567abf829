import {
  type Backend,
  createRelaxedQuantizer,
  type DqaConfig,
  type QuantizerRegistry,
  Random,
  type TrainableModel,
  type Variable,
} from '../src/index.js';

/**
 * A 4 → 8 → 3 MLP (the blobs of blobs.ts) whose two weight matrices go through
 * `config.quantization.weights` with `config.relaxation`; seeded initialisation.
 */
export function quantizedMlp(
  b: Backend,
  seed: number,
  config: DqaConfig,
  quantizers: QuantizerRegistry,
): TrainableModel {
  const rng = new Random(seed);
  const v = (name: string, values: Float32Array, shape: number[]): Variable =>
    b.tidy(() => b.variable(b.tensor(values, shape), { name }));
  const w1 = v('fc1/kernel', rng.normalArray(32, 0, 0.5), [4, 8]);
  const b1 = v('fc1/bias', new Float32Array(8), [8]);
  const w2 = v('fc2/kernel', rng.normalArray(24, 0, 0.5), [8, 3]);
  const b2 = v('fc2/bias', new Float32Array(3), [3]);
  const rq = (name: string) =>
    createRelaxedQuantizer(b, config.quantization.weights!, {
      name,
      rank: 2,
      target: 'weights',
      quantizers,
      relaxationConfig: config.relaxation,
    });
  const q1 = rq('fc1/weights');
  const q2 = rq('fc2/weights');
  return {
    variables: [w1, b1, w2, b2, ...q1.variables, ...q2.variables],
    decayVariables: [w1, w2],
    quantizers: [q1, q2],
    weightCount: 32 + 8 + 24 + 3,
    forward: (x, ctx) =>
      b.tidy(() => {
        const k1 = ctx.hard ? q1.hard(w1) : q1.forward(w1, ctx.step);
        const k2 = ctx.hard ? q2.hard(w2) : q2.forward(w2, ctx.step);
        const h = b.relu(b.add(b.matMul(x, k1), b1));
        return b.add(b.matMul(h, k2), b2);
      }),
  };
}
