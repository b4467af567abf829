/**
 * The breakpoint sweep that `sawbAlpha` used before its branch and bound (kept as the tests'
 * oracle): every one of the M·(L/2 − 1) breakpoints is visited, in order, by a heap merge.
 *
 * SAWB's optimal clipping level (eq. 12): α* = argmin_α Σ_i (x_i − Q(x_i; n, α))² for the
 * symmetric uniform quantizer with L = 2ⁿ levels −α + i·2α/(L−1) (eq. 11), found exactly.
 *
 * With s = 2α/(L−1) the positive levels are (m + ½)·s, m = 0 … L/2 − 1, and |x| maps to
 * m = min(⌊|x|/s⌋, L/2 − 1), i.e. |Q(x)| = c_m·α with c_m = (2m + 1)/(L − 1). For a fixed
 * assignment of codes the error is the quadratic Σx² − 2αA + α²B with A = Σ|x_i|c_{m_i} and
 * B = Σc_{m_i}², minimised at α = A/B. The assignment only changes at the breakpoints
 * α = |x_i|(L − 1)/(2j), j = 1 … L/2 − 1, where x_i drops from code j to j − 1. Sweeping the
 * breakpoints in increasing order (a k-way merge of the L/2 − 1 sorted streams) while updating A
 * and B, and minimising the quadratic on each interval, gives the global minimum exactly (up to
 * float64 rounding) in O(M log M + M·(L/2 − 1)·log L) time.
 */
export function sawbAlphaSweep(x: ArrayLike<number>, bits: number): number {
  const M = x.length;
  if (M === 0) return 0;
  const L = 2 ** bits;
  const half = L / 2;
  const a = new Float64Array(M);
  let sumSq = 0;
  for (let i = 0; i < M; i++) {
    const v = Math.abs(x[i]!);
    a[i] = v;
    sumSq += v * v;
  }
  if (sumSq === 0) return 0;
  a.sort();
  const c = (m: number) => (2 * m + 1) / (L - 1);
  // α → 0⁺: every element sits on the top code (zeros leave it at the first breakpoints, α = 0).
  const top = c(half - 1);
  let A = 0;
  for (let i = 0; i < M; i++) A += a[i]! * top;
  let B = M * top * top;

  let bestF = Number.POSITIVE_INFINITY;
  let bestAlpha = 0;
  const consider = (lo: number, hi: number) => {
    if (!(B > 0)) return;
    let alpha = A / B;
    if (alpha < lo) alpha = lo;
    else if (alpha > hi) alpha = hi;
    const f = sumSq - 2 * alpha * A + alpha * alpha * B;
    if (f < bestF) {
      bestF = f;
      bestAlpha = alpha;
    }
  };

  // Min-heap over the streams j = 1 … half − 1; stream j's next event is a[pos[j]]·(L−1)/(2j).
  const streams = half - 1;
  const heapKey = new Float64Array(streams);
  const heapStream = new Int32Array(streams);
  const pos = new Int32Array(half);
  let size = 0;
  const push = (key: number, j: number) => {
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapKey[parent]! <= key) break;
      heapKey[i] = heapKey[parent]!;
      heapStream[i] = heapStream[parent]!;
      i = parent;
    }
    heapKey[i] = key;
    heapStream[i] = j;
  };
  const popTop = () => {
    const lastKey = heapKey[--size]!;
    const lastStream = heapStream[size]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && heapKey[child + 1]! < heapKey[child]!) child++;
      if (heapKey[child]! >= lastKey) break;
      heapKey[i] = heapKey[child]!;
      heapStream[i] = heapStream[child]!;
      i = child;
    }
    heapKey[i] = lastKey;
    heapStream[i] = lastStream;
  };
  for (let j = 1; j <= streams; j++) push((a[0]! * (L - 1)) / (2 * j), j);

  let prev = 0;
  const dA = 2 / (L - 1);
  while (size > 0) {
    const alpha = heapKey[0]!;
    const j = heapStream[0]!;
    if (alpha > prev) consider(prev, alpha);
    // Element a[pos[j]] moves from code j to j − 1.
    const v = a[pos[j]!]!;
    A -= v * dA;
    B += c(j - 1) ** 2 - c(j) ** 2;
    pos[j]!++;
    popTop();
    if (pos[j]! < M) push((a[pos[j]!]! * (L - 1)) / (2 * j), j);
    prev = alpha;
  }
  consider(prev, Number.POSITIVE_INFINITY);
  return bestAlpha;
}
