import { type Backend, type Batch, Random, type TrainData } from '../src/index.js';

/** Three Gaussian blobs in 4-D; batches in an order that depends only on the epoch. */
export function blobs(b: Backend, batchSize = 20): TrainData & { trainCount: number } {
  const rng = new Random(99);
  const centres = [
    [2, 0, 0, 1],
    [-2, 1, 0, -1],
    [0, -2, 2, 0],
  ];
  const make = (n: number) => {
    const x = new Float32Array(n * 4);
    const y = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      for (let d = 0; d < 4; d++) x[i * 4 + d] = centres[c]![d]! + 0.6 * rng.normal();
      y[i * 3 + c] = 1;
    }
    return { x, y, n };
  };
  const trainSet = make(240);
  const testSet = make(60);
  const batches = (
    set: { x: Float32Array; y: Float32Array; n: number },
    order: number[],
  ): Batch[] => {
    const out: Batch[] = [];
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      const x = new Float32Array(idx.length * 4);
      const y = new Float32Array(idx.length * 3);
      idx.forEach((i, k) => {
        x.set(set.x.subarray(i * 4, i * 4 + 4), k * 4);
        y.set(set.y.subarray(i * 3, i * 3 + 3), k * 3);
      });
      out.push({ x: b.tensor(x, [idx.length, 4]), y: b.tensor(y, [idx.length, 3]) });
    }
    return out;
  };
  return {
    trainCount: 240,
    stepsPerEpoch: 240 / batchSize,
    trainBatches: (epoch) =>
      batches(trainSet, new Random(1000 + epoch).shuffle(Array.from({ length: 240 }, (_, i) => i))),
    testBatches: () =>
      batches(
        testSet,
        Array.from({ length: 60 }, (_, i) => i),
      ),
  };
}
