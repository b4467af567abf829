/**
 * SAWB's optimal clipping level (eq. 12): α* = argmin_α Σ_i (x_i − Q(x_i; n, α))² for the
 * symmetric uniform quantizer with L = 2ⁿ levels −α + i·2α/(L−1) (eq. 11), found exactly.
 *
 * With s = 2α/(L−1) the positive levels are (m + ½)·s, m = 0 … L/2 − 1, and |x| maps to its
 * nearest level, m = min(⌊|x|/s⌋, L/2 − 1), i.e. |Q(x)| = c_m·α with c_m = (2m + 1)/(L − 1). For
 * a fixed assignment of codes the error is the quadratic f = Σx² − 2αA + α²B with
 * A = Σ|x_i|c_{m_i} and B = Σc_{m_i}², minimised at α = A/B. The assignment only changes at the
 * breakpoints α = |x_i|(L − 1)/(2j), j = 1 … L/2 − 1, where x_i drops from code j to j − 1, so
 * f(α) is continuous and piecewise quadratic, with M·(L/2 − 1) breakpoints.
 *
 * Sweeping every breakpoint in order (a heap merge of the L/2 − 1 sorted streams, minimising each
 * piece's quadratic) is exact but visits 127·M breakpoints at 8 bits. Instead, with |x| sorted
 * and its prefix sums Σa:
 * - f(α) and the A, B of the piece after α cost O(L/2·log M): a binary search per code edge;
 * - on [α₁, α₂] every piece has B ≤ B(α₁⁺) (codes only fall as α grows), so f − B(α₁⁺)·α², a
 *   minimum of concave quadratics, is concave there and above its chord: f(α) is at least
 *   f(α₁) + (f(α₂) − f(α₁))·t − B(α₁⁺)·(α₂ − α₁)²·t(1 − t), t = (α − α₁)/(α₂ − α₁), and the
 *   minimum of that over t ∈ [0, 1] bounds the interval from below;
 * - an interval's own breakpoints are swept as above, from its state at α₁⁺.
 * The search: an upper bound f̂ from a grid of ratio 2 over the breakpoints' range [α_lo, α_hi],
 * 30 golden-section steps around the grid's best point and Lloyd steps α ← A/B (every evaluated α
 * and every A/B is a real α with a known error, so f̂ is always attained). Then a branch and bound
 * over the grid's intervals, lowest bound first: an interval whose bound exceeds f̂ + 10⁻¹²·Σx² is
 * dropped (the margin covers the evaluations' rounding, a few ulps of Σx², so rounding cannot
 * drop the minimum; it costs nothing measurable), one with at most SWEEP_CAP breakpoints is swept,
 * others are split at their geometric middle. (0, α_lo] and [α_hi, ∞) hold no breakpoint, save
 * rounding's, and are swept. The result is the global minimum up to float64 rounding.
 *
 * Cost: sorting, O(M) (radix) for float32 input, and O(L/2·log M) per evaluated α. How many
 * depends on the data, not on M: the bound's slack grows with the square of an interval's width
 * while f − f* grows about linearly away from α*, so ~50 points at 2 bits and ~300 at 8 bits on
 * Gaussian data, with a few hundred breakpoints swept (50 k values at 8 bits: ~3 ms, ~200× less
 * than sweeping all 6.35 M). Where nothing can be pruned (f flat within 10⁻¹²·Σx²) every
 * breakpoint is swept as before, plus the bounds' evaluations.
 *
 * packages/native-cpu/native/quant.cc `SawbAlpha` is an operation-for-operation C++ port: any
 * change here must be made there too (the fused SAWB kernel is tested bit-exact against this).
 */
export function sawbAlpha(x: ArrayLike<number>, bits: number): number {
  if (x.length === 0) return 0;
  const { a, sumSq } = sortedMagnitudes(x);
  if (sumSq === 0) return 0;
  return new ClipSearch(a, sumSq, 2 ** bits).run();
}

/** Mean squared error of the symmetric uniform quantizer at a given α (for tests and studies). */
export function sawbMse(x: ArrayLike<number>, bits: number, alpha: number): number {
  const L = 2 ** bits;
  const step = (2 * alpha) / (L - 1);
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    let q = -alpha;
    if (step > 0) {
      const code = Math.min(Math.max(Math.floor((v + alpha) / step + 0.5), 0), L - 1);
      q = -alpha + code * step;
    } else q = 0;
    s += (v - q) ** 2;
  }
  return x.length ? s / x.length : 0;
}

/** Ratio of the first grid of clip levels over the breakpoints' range [α_lo, α_hi]. */
const GRID_RATIO = 2;
/** (√5 − 1)/2, written out so that the C++ port uses the very same double. */
const INV_PHI = 0.6180339887498949;
const GOLDEN_STEPS = 30;
const LLOYD_STEPS = 16;
/** Pruning margin relative to Σx²: an evaluated f carries a few ulps of Σx² of rounding. */
const PRUNE_SLACK = 1e-12;

/**
 * Most breakpoints an interval may hold to be swept rather than split: one evaluation of f costs
 * about as much as sweeping 50–100 of them (measured at 8 bits, M = 576 … 270 k).
 */
const SWEEP_CAP = 128;

/** |x| sorted ascending, and Σx² summed in x's order. */
function sortedMagnitudes(x: ArrayLike<number>): { a: Float64Array; sumSq: number } {
  const M = x.length;
  let sumSq = 0;
  if (x instanceof Float32Array && M >= 256) {
    const f = new Float32Array(M);
    for (let i = 0; i < M; i++) {
      const v = Math.abs(x[i]!);
      f[i] = v;
      sumSq += v * v;
    }
    return { a: radixSortFloat32(f), sumSq };
  }
  const a = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    const v = Math.abs(x[i]!);
    a[i] = v;
    sumSq += v * v;
  }
  a.sort();
  return { a, sumSq };
}

/**
 * Non-negative float32 values sorted as doubles: their bit patterns order as unsigned integers,
 * so an LSD radix sort of three 11-bit digits (one counting pass, a pass per digit that varies).
 */
function radixSortFloat32(f: Float32Array): Float64Array {
  const n = f.length;
  let src: Uint32Array = new Uint32Array(f.buffer, f.byteOffset, n);
  let dst: Uint32Array = new Uint32Array(n);
  const count = new Int32Array(3 * 2048);
  for (let i = 0; i < n; i++) {
    const k = src[i]!;
    count[k & 2047]!++;
    count[2048 + ((k >>> 11) & 2047)]!++;
    count[4096 + (k >>> 22)]!++;
  }
  for (let d = 0; d < 3; d++) {
    const base = 2048 * d;
    const shift = 11 * d;
    // A digit that every value shares leaves the order as it is.
    if (count[base + ((src[0]! >>> shift) & 2047)] === n) continue;
    let sum = 0;
    for (let b = base; b < base + 2048; b++) {
      const c = count[b]!;
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = src[i]!;
      dst[count[base + ((k >>> shift) & 2047)]!++] = k;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  const sorted = new Float32Array(src.buffer, src.byteOffset, n);
  return Float64Array.from(sorted);
}

/**
 * The branch and bound of `sawbAlpha` over sorted magnitudes `a`. Code edges: an element is in
 * code ≥ j at α⁺ iff a > t_j(α) = 2jα/(L − 1), one threshold function everywhere (evaluations,
 * interval event counts, sweeps), so adjacent intervals share their breakpoints exactly.
 */
class ClipSearch {
  private readonly M: number;
  private readonly half: number;
  /** Breakpoint streams j = 1 … half − 1. */
  private readonly streams: number;
  /** prefix[i] = a[0] + … + a[i − 1]. */
  private readonly prefix: Float64Array;
  private readonly tol: number;

  private bestF = Number.POSITIVE_INFINITY;
  private bestAlpha = 0;

  /** The last evaluation's state at α⁺: A, B and U = Σ_j #{a ≤ t_j(α)}. */
  private evA = 0;
  private evB = 0;
  private evU = 0;

  /** Evaluated points (interval ends): α, f(α), A and B at α⁺, U. */
  private readonly pAlpha: number[] = [];
  private readonly pF: number[] = [];
  private readonly pA: number[] = [];
  private readonly pB: number[] = [];
  private readonly pU: number[] = [];
  /** Code edges u_j (j = 1 … half − 1, index 0 unused) of each point. */
  private readonly pEdges: Int32Array[] = [];

  /** The sweep's min-heap of streams, keyed by each stream's next breakpoint. */
  private readonly heapKey: Float64Array;
  private readonly heapStream: Int32Array;
  private heapSize = 0;
  private readonly pos: Int32Array;
  private readonly end: Int32Array;

  /** Open intervals (points p < q), a min-heap by lower bound. */
  private readonly iLb: number[] = [];
  private readonly iP: number[] = [];
  private readonly iQ: number[] = [];

  constructor(
    private readonly a: Float64Array,
    private readonly sumSq: number,
    private readonly L: number,
  ) {
    const M = a.length;
    this.M = M;
    this.half = L / 2;
    this.streams = this.half - 1;
    this.prefix = new Float64Array(M + 1);
    for (let i = 0; i < M; i++) this.prefix[i + 1] = this.prefix[i]! + a[i]!;
    this.tol = PRUNE_SLACK * sumSq;
    this.heapKey = new Float64Array(Math.max(this.streams, 1));
    this.heapStream = new Int32Array(Math.max(this.streams, 1));
    this.pos = new Int32Array(this.half);
    this.end = new Int32Array(this.half);
  }

  run(): number {
    const { a, M, L, streams } = this;
    const origin = this.addPoint(0);
    if (streams === 0) {
      // One bit: a single code, a single quadratic.
      this.sweep(origin, -1);
      return this.bestAlpha;
    }
    // Breakpoints lie in [α_lo, α_hi]: the smallest non-zero |x| leaves the top code at α_lo, the
    // largest reaches code 0 at α_hi. Below and above, only rounding can put one: sweep both.
    const zeros = this.upperBound(0, 0, M);
    const alphaLo = (a[zeros]! * (L - 1)) / (2 * streams);
    const alphaHi = (a[M - 1]! * (L - 1)) / 2;
    const grid = [this.addPoint(alphaLo)];
    for (let g = alphaLo; g < alphaHi; ) {
      g *= GRID_RATIO;
      if (!(g < alphaHi)) g = alphaHi;
      grid.push(this.addPoint(g, grid[grid.length - 1]!));
    }
    this.sweep(origin, grid[0]!);
    this.sweep(grid[grid.length - 1]!, -1);

    // f̂: golden section between the best grid point's neighbours, then Lloyd steps α ← A/B.
    let k = 0;
    for (let i = 1; i < grid.length; i++) if (this.pF[grid[i]!]! < this.pF[grid[k]!]!) k = i;
    let lo = this.pAlpha[grid[Math.max(k - 1, 0)]!]!;
    let hi = this.pAlpha[grid[Math.min(k + 1, grid.length - 1)]!]!;
    if (hi > lo) {
      let c = hi - INV_PHI * (hi - lo);
      let d = lo + INV_PHI * (hi - lo);
      let fc = this.evaluate(c, null, null, null);
      let fd = this.evaluate(d, null, null, null);
      for (let step = 0; step < GOLDEN_STEPS; step++) {
        if (fc < fd) {
          hi = d;
          d = c;
          fd = fc;
          c = hi - INV_PHI * (hi - lo);
          fc = this.evaluate(c, null, null, null);
        } else {
          lo = c;
          c = d;
          fc = fd;
          d = lo + INV_PHI * (hi - lo);
          fd = this.evaluate(d, null, null, null);
        }
      }
    }
    let alpha = this.bestAlpha;
    for (let step = 0; step < LLOYD_STEPS && alpha > 0; step++) {
      this.evaluate(alpha, null, null, null);
      const next = this.evA / this.evB;
      if (next === alpha) break;
      alpha = next;
    }

    // Branch and bound over the grid's intervals, best lower bound first.
    for (let i = 0; i + 1 < grid.length; i++) this.pushInterval(grid[i]!, grid[i + 1]!);
    while (this.iLb.length > 0) {
      const lb = this.iLb[0]!;
      const p = this.iP[0]!;
      const q = this.iQ[0]!;
      this.popInterval();
      if (lb > this.bestF + this.tol) break;
      const a1 = this.pAlpha[p]!;
      const a2 = this.pAlpha[q]!;
      if (this.pU[q]! - this.pU[p]! <= SWEEP_CAP) {
        this.sweep(p, q);
        continue;
      }
      const mid = a1 * Math.sqrt(a2 / a1);
      if (!(mid > a1 && mid < a2)) {
        this.sweep(p, q);
        continue;
      }
      const m = this.addPoint(mid, p, q);
      this.pushInterval(p, m);
      this.pushInterval(m, q);
    }
    return this.bestAlpha;
  }

  private offer(alpha: number, f: number): void {
    if (f < this.bestF) {
      this.bestF = f;
      this.bestAlpha = alpha;
    }
  }

  /** t_j(α): an element is below code j at α⁺ iff a ≤ t_j(α). */
  private threshold(j: number, alpha: number): number {
    return (alpha * (2 * j)) / (this.L - 1);
  }

  /** The first index i in [lo, hi) with a[i] > t, given a[lo − 1] ≤ t < a[hi] (hi if none). */
  private upperBound(t: number, lo: number, hi: number): number {
    const a = this.a;
    let l = lo;
    let h = hi;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (a[mid]! > t) h = mid;
      else l = mid + 1;
    }
    return l;
  }

  /**
   * f(α), with A, B and U of α⁺ left in evA, evB, evU and the code edges u_j = #{a ≤ t_j(α)} in
   * `edges` (when given): O(L/2·log M), each search kept within the edges of two points around α
   * (`below`, `above`) when given. Offers α and the minimum of α⁺'s quadratic, A/B (an exact
   * error of a real α: its pieces' assignment is one option there).
   */
  private evaluate(
    alpha: number,
    below: Int32Array | null,
    above: Int32Array | null,
    edges: Int32Array | null,
  ): number {
    const { L, half, M, prefix } = this;
    let A = 0;
    let B = 0;
    let U = 0;
    let lo = 0;
    for (let m = 0; m < half; m++) {
      let hi = M;
      if (m + 1 < half) {
        const from = below === null ? lo : Math.max(lo, below[m + 1]!);
        hi = this.upperBound(
          this.threshold(m + 1, alpha),
          from,
          above === null ? M : above[m + 1]!,
        );
        U += hi;
        if (edges !== null) edges[m + 1] = hi;
      }
      const c = (2 * m + 1) / (L - 1);
      A += c * (prefix[hi]! - prefix[lo]!);
      B += c * c * (hi - lo);
      lo = hi;
    }
    const f = this.sumSq - 2 * alpha * A + alpha * alpha * B;
    this.evA = A;
    this.evB = B;
    this.evU = U;
    this.offer(alpha, f);
    const s = A / B;
    this.offer(s, this.sumSq - 2 * s * A + s * s * B);
    return f;
  }

  /** Evaluates α (between points p and q when given) and keeps it as a point; returns its index. */
  private addPoint(alpha: number, p = -1, q = -1): number {
    const edges = new Int32Array(this.half);
    const f = this.evaluate(
      alpha,
      p < 0 ? null : this.pEdges[p]!,
      q < 0 ? null : this.pEdges[q]!,
      edges,
    );
    this.pAlpha.push(alpha);
    this.pF.push(f);
    this.pA.push(this.evA);
    this.pB.push(this.evB);
    this.pU.push(this.evU);
    this.pEdges.push(edges);
    return this.pAlpha.length - 1;
  }

  /**
   * Lower bound of f on [α_p, α_q]: f − B(α_p⁺)·α² is concave there, so f lies above the chord
   * of f minus B(α_p⁺)·(α − α_p)(α_q − α).
   */
  private bound(p: number, q: number): number {
    const w = this.pAlpha[q]! - this.pAlpha[p]!;
    const K = this.pB[p]! * w * w;
    if (!(K > 0)) return Number.NEGATIVE_INFINITY;
    const fp = this.pF[p]!;
    const d = this.pF[q]! - fp;
    let t = (K - d) / (2 * K);
    if (t < 0) t = 0;
    else if (t > 1) t = 1;
    return fp + d * t - K * t * (1 - t);
  }

  /**
   * Sweeps the breakpoints in (α_p, α_q] (q < 0: (α_p, ∞)) in increasing order from the state at
   * α_p⁺, minimising each piece's quadratic on its interval: stream j's events are the a with
   * t_j(α_p) < a ≤ t_j(α_q), merged by a heap of the streams.
   */
  private sweep(p: number, q: number): void {
    const { a, L, M, streams, pos, end, heapKey, heapStream } = this;
    const alpha1 = this.pAlpha[p]!;
    const alpha2 = q < 0 ? Number.POSITIVE_INFINITY : this.pAlpha[q]!;
    const from = this.pEdges[p]!;
    const to = q < 0 ? null : this.pEdges[q]!;
    let A = this.pA[p]!;
    let B = this.pB[p]!;
    this.heapSize = 0;
    for (let j = 1; j <= streams; j++) {
      pos[j] = from[j]!;
      end[j] = to === null ? M : to[j]!;
      if (pos[j]! < end[j]!) this.push((a[pos[j]!]! * (L - 1)) / (2 * j), j);
    }
    const c = (m: number) => (2 * m + 1) / (L - 1);
    const consider = (from: number, to: number) => {
      let alpha = A / B;
      if (alpha < from) alpha = from;
      else if (alpha > to) alpha = to;
      this.offer(alpha, this.sumSq - 2 * alpha * A + alpha * alpha * B);
    };
    let prev = alpha1;
    const dA = 2 / (L - 1);
    while (this.heapSize > 0) {
      const alpha = heapKey[0]!;
      const j = heapStream[0]!;
      if (alpha > prev) consider(prev, alpha);
      // Element a[pos[j]] moves from code j to j − 1.
      const v = a[pos[j]!]!;
      A -= v * dA;
      const cLow = c(j - 1);
      const cHigh = c(j);
      B += cLow * cLow - cHigh * cHigh;
      pos[j]!++;
      this.popTop();
      if (pos[j]! < end[j]!) this.push((a[pos[j]!]! * (L - 1)) / (2 * j), j);
      prev = alpha;
    }
    consider(prev, alpha2);
  }

  private push(key: number, j: number): void {
    const { heapKey, heapStream } = this;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapKey[parent]! <= key) break;
      heapKey[i] = heapKey[parent]!;
      heapStream[i] = heapStream[parent]!;
      i = parent;
    }
    heapKey[i] = key;
    heapStream[i] = j;
  }

  private popTop(): void {
    const { heapKey, heapStream } = this;
    const size = --this.heapSize;
    const lastKey = heapKey[size]!;
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
  }

  /** Queues [α_p, α_q] unless its bound already prunes it. */
  private pushInterval(p: number, q: number): void {
    const lb = this.bound(p, q);
    if (lb > this.bestF + this.tol) return;
    const { iLb, iP, iQ } = this;
    let i = iLb.length;
    iLb.push(lb);
    iP.push(p);
    iQ.push(q);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (iLb[parent]! <= lb) break;
      iLb[i] = iLb[parent]!;
      iP[i] = iP[parent]!;
      iQ[i] = iQ[parent]!;
      i = parent;
    }
    iLb[i] = lb;
    iP[i] = p;
    iQ[i] = q;
  }

  private popInterval(): void {
    const { iLb, iP, iQ } = this;
    const lastLb = iLb.pop()!;
    const lastP = iP.pop()!;
    const lastQ = iQ.pop()!;
    const size = iLb.length;
    if (size === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && iLb[child + 1]! < iLb[child]!) child++;
      if (iLb[child]! >= lastLb) break;
      iLb[i] = iLb[child]!;
      iP[i] = iP[child]!;
      iQ[i] = iQ[child]!;
      i = child;
    }
    iLb[i] = lastLb;
    iP[i] = lastP;
    iQ[i] = lastQ;
  }
}
