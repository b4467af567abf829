// Fused quantizer kernels (see quant.h): calibration, Q(x), the K-way mixture and its dot
// products, PACT's gradient. Every loop runs over tiles of kTile elements, in parallel over tiles
// (OpenMP) and vectorised within a tile; the per-element arithmetic is the plain references'.
#include "quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

// Hot loops are compiled for AVX-512, AVX2 and the baseline, picked at load time, so a binary
// built for another -march (DQA_NATIVE_MARCH) still runs them at the machine's vector width.
// (DQA_QUANT_NO_CLONES builds only for the -march given, e.g. to test the AVX2 or SSE2 paths.)
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(DQA_QUANT_NO_CLONES)
#define DQA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DQA_CLONES
#endif

namespace dqa {
namespace quant {
namespace {

// A tile: x, one Q_k, the accumulator and dy together stay in the L1 cache.
constexpr int64_t kTile = 2048;
// Below this many elements a kernel runs on the calling thread (waking the team costs more).
constexpr int64_t kQuantParallelMin = 1 << 15;

int MaxThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int ThreadNum() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

int64_t TileCount(int64_t n) { return (n + kTile - 1) / kTile; }

double Top(int bits) { return static_cast<double>((int64_t{1} << bits) - 1); }

// Splits [i, i + len) into runs that one group owns (`run(g, i, len)`) or, when channels are
// adjacent (stride 1), runs of consecutive groups c0, c0 + 1, … (`lanes(c0, i, len)`).
template <class Run, class Lanes>
inline void Visit(int64_t groups, int64_t stride, int64_t i, int64_t len, Run&& run,
                  Lanes&& lanes) {
  const int64_t end = i + len;
  if (groups == 1) {
    run(0, i, len);
  } else if (stride == 1) {
    while (i < end) {
      const int64_t c = i % groups;
      const int64_t m = std::min(groups - c, end - i);
      lanes(c, i, m);
      i += m;
    }
  } else {
    while (i < end) {
      const int64_t g = (i / stride) % groups;
      const int64_t m = std::min(stride - i % stride, end - i);
      run(g, i, m);
      i += m;
    }
  }
}

// ── per-element kernels over a run (one group) or lanes (one group per element) ───────────────

// Uniform levels lo + step·c, c = clamp(⌊(v − lo)/step + ½⌋, 0, top) (eq. 9/13, uniformCode);
// step ≤ 0 is a single level, `lo` (the reference's value for that case, set by calibration).
//
// The division is what costs; t = (v − lo)·(1/step) + ½ is within a few ulps of the reference's
// (v − lo)/step + ½, so both give the same code unless t lies within kNear of a boundary between
// two codes (the integers 1 … top). Those rare elements (a value half-way between two levels)
// are redone with the division, so the result is the reference's exactly.
constexpr double kNear = 1e-6;

// t clamped to [½, top + ½]: every boundary that changes the code lies inside, and there the
// code clamp(⌊t⌋, 0, top) is a truncation (vectorises without a floor instruction).
inline double CodeArg(double t, double top) {
  const double a = t < 0.5 ? 0.5 : t;
  return a > top + 0.5 ? top + 0.5 : a;
}
inline double Truncate(double a) { return static_cast<double>(static_cast<int32_t>(a)); }
// Whether a = CodeArg(t) is within kNear of a boundary (a clamped argument is ½ away from one).
inline int64_t Near(double a, double c) { return std::fabs((a - c) - 0.5) > 0.5 - kNear ? 1 : 0; }

// The reference's code, with the division.
inline double ExactCode(double v, double lo, double step, double top) {
  double c = std::floor((v - lo) / step + 0.5);
  c = c < 0.0 ? 0.0 : c;
  return c > top ? top : c;
}

DQA_CLONES int64_t UniformRunFast(const float* x, float* q, int64_t len, double lo, double step,
                                  double inv, double top) {
  int64_t near = 0;
#pragma omp simd reduction(+ : near)
  for (int64_t j = 0; j < len; j++) {
    const double a = CodeArg((static_cast<double>(x[j]) - lo) * inv + 0.5, top);
    const double c = Truncate(a);
    near += Near(a, c);
    q[j] = static_cast<float>(lo + step * c);
  }
  return near;
}

void UniformRun(const float* x, float* q, int64_t len, double lo, double step, double top) {
  if (!(step > 0)) {
    const float f = static_cast<float>(lo);
    for (int64_t j = 0; j < len; j++) q[j] = f;
    return;
  }
  const double inv = 1.0 / step;
  if (UniformRunFast(x, q, len, lo, step, inv, top) == 0) return;
  for (int64_t j = 0; j < len; j++) {
    const double v = x[j];
    const double a = CodeArg((v - lo) * inv + 0.5, top);
    if (Near(a, Truncate(a))) q[j] = static_cast<float>(lo + step * ExactCode(v, lo, step, top));
  }
}

DQA_CLONES int64_t UniformLanesFast(const float* x, float* q, int64_t len, const double* lo,
                                    const double* step, const double* inv, double top) {
  int64_t near = 0;
#pragma omp simd reduction(+ : near)
  for (int64_t j = 0; j < len; j++) {
    const double l = lo[j];
    const double a = CodeArg((static_cast<double>(x[j]) - l) * inv[j] + 0.5, top);
    const double c = Truncate(a);
    near += Near(a, c);
    const double r = l + step[j] * c;
    q[j] = static_cast<float>(step[j] > 0 ? r : l);
  }
  return near;
}

// Per-channel params; inv[c] = 1/step[c] (1 where step ≤ 0: a single level, lo).
void UniformLanes(const float* x, float* q, int64_t len, const double* lo, const double* step,
                  const double* inv, double top) {
  if (UniformLanesFast(x, q, len, lo, step, inv, top) == 0) return;
  for (int64_t j = 0; j < len; j++) {
    const double v = x[j];
    const double a = CodeArg((v - lo[j]) * inv[j] + 0.5, top);
    if (step[j] > 0 && Near(a, Truncate(a)))
      q[j] = static_cast<float>(lo[j] + step[j] * ExactCode(v, lo[j], step[j], top));
  }
}

// PACT: v = min(max(x, 0), α), then step·c with c = clamp(⌊v/step + ½⌋, 0, top); α = 0 gives 0.
// The same multiply-then-check-boundaries scheme as UniformRun.
// (α is a float32 value, so clipping in float32 is exact.)
inline float PactClip(float v, float alpha) {
  const float a = v < 0.0f ? 0.0f : v;
  return a > alpha ? alpha : a;
}

DQA_CLONES int64_t PactRunFast(const float* x, float* q, int64_t len, double alpha, double step,
                               double inv, double top) {
  const float clip = static_cast<float>(alpha);
  int64_t near = 0;
#pragma omp simd reduction(+ : near)
  for (int64_t j = 0; j < len; j++) {
    const double a = CodeArg(static_cast<double>(PactClip(x[j], clip)) * inv + 0.5, top);
    const double c = Truncate(a);
    near += Near(a, c);
    q[j] = static_cast<float>(step * c);
  }
  return near;
}

void PactRun(const float* x, float* q, int64_t len, double alpha, double step, double top) {
  if (!(step > 0)) {
    for (int64_t j = 0; j < len; j++) q[j] = 0.0f;
    return;
  }
  const double inv = 1.0 / step;
  if (PactRunFast(x, q, len, alpha, step, inv, top) == 0) return;
  for (int64_t j = 0; j < len; j++) {
    const double v = PactClip(x[j], static_cast<float>(alpha));
    const double a = CodeArg(v * inv + 0.5, top);
    if (Near(a, Truncate(a))) q[j] = static_cast<float>(step * ExactCode(v, 0.0, step, top));
  }
}

// BWN (eq. 14): β·sign(x) with sign(0) = +1.
DQA_CLONES void BwnRun(const float* x, float* q, int64_t len, double beta) {
  const float b = static_cast<float>(beta);
#pragma omp simd
  for (int64_t j = 0; j < len; j++) q[j] = x[j] >= 0.0f ? b : -b;
}

DQA_CLONES void BwnLanes(const float* x, float* q, int64_t len, const double* beta) {
#pragma omp simd
  for (int64_t j = 0; j < len; j++) {
    const float b = static_cast<float>(beta[j]);
    q[j] = x[j] >= 0.0f ? b : -b;
  }
}

// TWN (eq. 15), its cases in order: x ≤ −δ → −β, |x| ≤ δ → 0, else β.
DQA_CLONES void TwnRun(const float* x, float* q, int64_t len, double delta, double beta) {
  const float d = static_cast<float>(delta);
  const float b = static_cast<float>(beta);
  const float nb = static_cast<float>(-beta);
#pragma omp simd
  for (int64_t j = 0; j < len; j++) {
    const float v = x[j];
    q[j] = v <= -d ? nb : (std::fabs(v) <= d ? 0.0f : b);
  }
}

DQA_CLONES void TwnLanes(const float* x, float* q, int64_t len, const double* delta,
                         const double* beta) {
#pragma omp simd
  for (int64_t j = 0; j < len; j++) {
    const float d = static_cast<float>(delta[j]);
    const float b = static_cast<float>(beta[j]);
    const float nb = static_cast<float>(-beta[j]);
    const float v = x[j];
    q[j] = v <= -d ? nb : (std::fabs(v) <= d ? 0.0f : b);
  }
}

// Q_k over the tile [i0, i0 + len) of x (x and q point at element i0).
void QuantizeTile(const Spec& s, const double* calib, const float* x, int64_t i0, int64_t len,
                  float* q) {
  if (s.kind == Kind::Identity) {
    std::memcpy(q, x, sizeof(float) * static_cast<size_t>(len));
    return;
  }
  const double* p0 = calib;
  const double* p1 = calib + s.groups;
  const double* p2 = calib + 2 * s.groups;
  const double top = Top(s.bits);
  auto at = [&](int64_t i) { return i - i0; };
  switch (s.kind) {
    case Kind::MinMax:
    case Kind::Sawb:
      Visit(
          s.groups, s.stride, i0, len,
          [&](int64_t g, int64_t i, int64_t m) {
            UniformRun(x + at(i), q + at(i), m, p0[g], p1[g], top);
          },
          [&](int64_t c, int64_t i, int64_t m) {
            UniformLanes(x + at(i), q + at(i), m, p0 + c, p1 + c, p2 + c, top);
          });
      break;
    case Kind::Pact:
      // PACT quantizes per tensor only (its plugin declares no other granularity).
      PactRun(x, q, len, p0[0], p1[0], top);
      break;
    case Kind::Bwn:
      Visit(
          s.groups, s.stride, i0, len,
          [&](int64_t g, int64_t i, int64_t m) { BwnRun(x + at(i), q + at(i), m, p0[g]); },
          [&](int64_t c, int64_t i, int64_t m) { BwnLanes(x + at(i), q + at(i), m, p0 + c); });
      break;
    case Kind::Twn:
      Visit(
          s.groups, s.stride, i0, len,
          [&](int64_t g, int64_t i, int64_t m) {
            TwnRun(x + at(i), q + at(i), m, p0[g], p1[g]);
          },
          [&](int64_t c, int64_t i, int64_t m) {
            TwnLanes(x + at(i), q + at(i), m, p0 + c, p1 + c);
          });
      break;
    case Kind::Identity:
      break;
  }
}

// out_j ← float(out_j + w·q_j), the reference mixture's accumulation.
DQA_CLONES void Accumulate(float* out, const float* q, int64_t len, double w) {
#pragma omp simd
  for (int64_t j = 0; j < len; j++)
    out[j] = static_cast<float>(static_cast<double>(out[j]) + w * static_cast<double>(q[j]));
}

DQA_CLONES double Dot(const float* a, const float* b, int64_t len) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < len; j++) s += static_cast<double>(a[j]) * static_cast<double>(b[j]);
  return s;
}

// ── calibration statistics ─────────────────────────────────────────────────────────────────

struct Stats {
  std::vector<float> lo, hi;
  std::vector<double> sumAbs;
  bool finite = true;
};

struct RunStats {
  float lo, hi;
  double sumAbs;
};

DQA_CLONES RunStats StatsRun(const float* x, int64_t len) {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -lo;
  double s = 0;
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(+ : s)
  for (int64_t j = 0; j < len; j++) {
    const float v = x[j];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    s += std::fabs(static_cast<double>(v));
  }
  return {lo, hi, s};
}

DQA_CLONES void StatsLanes(const float* x, int64_t len, float* lo, float* hi, double* s) {
#pragma omp simd
  for (int64_t j = 0; j < len; j++) {
    const float v = x[j];
    lo[j] = v < lo[j] ? v : lo[j];
    hi[j] = v > hi[j] ? v : hi[j];
    s[j] += std::fabs(static_cast<double>(v));
  }
}

// min, max and Σ|x| of every group: one parallel pass; per-thread partials combined in thread
// order, so a given thread count always gives the same sums.
Stats GroupStats(int64_t groups, int64_t stride, const float* x, int64_t n) {
  const float inf = std::numeric_limits<float>::infinity();
  const int threads = n >= kQuantParallelMin ? MaxThreads() : 1;
  const size_t G = static_cast<size_t>(groups);
  std::vector<float> lo(G * threads, inf), hi(G * threads, -inf);
  std::vector<double> s(G * threads, 0.0);
  const int64_t tiles = TileCount(n);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const size_t t = static_cast<size_t>(ThreadNum());
    float* L = lo.data() + t * G;
    float* H = hi.data() + t * G;
    double* S = s.data() + t * G;
#pragma omp for schedule(static)
    for (int64_t tile = 0; tile < tiles; tile++) {
      const int64_t i0 = tile * kTile;
      Visit(
          groups, stride, i0, std::min(kTile, n - i0),
          [&](int64_t g, int64_t i, int64_t m) {
            const RunStats r = StatsRun(x + i, m);
            L[g] = std::min(L[g], r.lo);
            H[g] = std::max(H[g], r.hi);
            S[g] += r.sumAbs;
          },
          [&](int64_t c, int64_t i, int64_t m) { StatsLanes(x + i, m, L + c, H + c, S + c); });
    }
  }
  Stats st;
  st.lo.assign(lo.begin(), lo.begin() + groups);
  st.hi.assign(hi.begin(), hi.begin() + groups);
  st.sumAbs.assign(s.begin(), s.begin() + groups);
  for (int t = 1; t < threads; t++) {
    for (size_t g = 0; g < G; g++) {
      st.lo[g] = std::min(st.lo[g], lo[t * G + g]);
      st.hi[g] = std::max(st.hi[g], hi[t * G + g]);
      st.sumAbs[g] += s[t * G + g];
    }
  }
  // Σ|x| in double is finite exactly when every value is (float32 sums cannot overflow it).
  for (double v : st.sumAbs) st.finite = st.finite && std::isfinite(v);
  return st;
}

DQA_CLONES void AboveRun(const float* x, int64_t len, double delta, double* sum, double* count) {
  double s = 0;
  double c = 0;
#pragma omp simd reduction(+ : s, c)
  for (int64_t j = 0; j < len; j++) {
    const double a = std::fabs(static_cast<double>(x[j]));
    const bool above = a > delta;
    s += above ? a : 0.0;
    c += above ? 1.0 : 0.0;
  }
  *sum += s;
  *count += c;
}

DQA_CLONES void AboveLanes(const float* x, int64_t len, const double* delta, double* sum,
                           double* count) {
#pragma omp simd
  for (int64_t j = 0; j < len; j++) {
    const double a = std::fabs(static_cast<double>(x[j]));
    const bool above = a > delta[j];
    sum[j] += above ? a : 0.0;
    count[j] += above ? 1.0 : 0.0;
  }
}

// TWN's β = E[|x| : |x| > δ] per group (0 where no value exceeds δ).
void TwnBeta(int64_t groups, int64_t stride, const double* delta, const float* x, int64_t n,
             double* beta) {
  const int threads = n >= kQuantParallelMin ? MaxThreads() : 1;
  const size_t G = static_cast<size_t>(groups);
  std::vector<double> sum(G * threads, 0.0), count(G * threads, 0.0);
  const int64_t tiles = TileCount(n);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const size_t t = static_cast<size_t>(ThreadNum());
    double* S = sum.data() + t * G;
    double* C = count.data() + t * G;
#pragma omp for schedule(static)
    for (int64_t tile = 0; tile < tiles; tile++) {
      const int64_t i0 = tile * kTile;
      Visit(
          groups, stride, i0, std::min(kTile, n - i0),
          [&](int64_t g, int64_t i, int64_t m) { AboveRun(x + i, m, delta[g], S + g, C + g); },
          [&](int64_t c, int64_t i, int64_t m) {
            AboveLanes(x + i, m, delta + c, S + c, C + c);
          });
    }
  }
  for (size_t g = 0; g < G; g++) {
    double s = 0;
    double c = 0;
    for (int t = 0; t < threads; t++) {
      s += sum[t * G + g];
      c += count[t * G + g];
    }
    beta[g] = c > 0 ? s / c : 0.0;
  }
}

// ── SAWB's exact α* ──────────────────────────────────────────────────────────────────────────

// Sorts non-negative floats ascending (their bit patterns order as unsigned integers): three
// 11-bit LSD radix passes, O(n).
void SortNonNegative(std::vector<uint32_t>& keys) {
  const size_t n = keys.size();
  if (n < 256) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  std::vector<uint32_t> tmp(n);
  uint32_t* src = keys.data();
  uint32_t* dst = tmp.data();
  for (int shift = 0; shift < 32; shift += 11) {
    size_t count[2049] = {0};
    for (size_t i = 0; i < n; i++) count[((src[i] >> shift) & 2047u) + 1]++;
    for (size_t b = 0; b < 2048; b++) count[b + 1] += count[b];
    for (size_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 2047u]++] = src[i];
    std::swap(src, dst);
  }
  // Three passes leave the result in `tmp`.
  if (src != keys.data()) std::memcpy(keys.data(), src, n * sizeof(uint32_t));
}

// Constants of sawbAlpha() (packages/quantizers/src/sawb-alpha.ts), which this code follows
// operation for operation, so that α* is the same double.
constexpr double kGridRatio = 2;
constexpr double kInvPhi = 0.6180339887498949;  // (√5 − 1)/2
constexpr int kGoldenSteps = 30;
constexpr int kLloydSteps = 16;
constexpr double kPruneSlack = 1e-12;
constexpr int64_t kSweepCap = 128;

// The branch and bound of sawbAlpha() over sorted magnitudes a (its ClipSearch): f(α) at points
// from prefix sums, a lower bound per interval from the concavity of f − B(α₁⁺)·α², the exact
// breakpoint sweep (a heap merge of the L/2 − 1 streams) for intervals of at most kSweepCap
// breakpoints. Code edges: an element is in code ≥ j at α⁺ iff a > t_j(α) = 2jα/(L − 1).
class ClipSearch {
 public:
  ClipSearch(const std::vector<double>& a, double sumSq, double L)
      : a_(a),
        M_(static_cast<int64_t>(a.size())),
        L_(L),
        half_(static_cast<int64_t>(L) / 2),
        streams_(half_ - 1),
        sumSq_(sumSq),
        tol_(kPruneSlack * sumSq),
        prefix_(a.size() + 1, 0.0),
        heapKey_(static_cast<size_t>(std::max<int64_t>(streams_, 1))),
        heapStream_(heapKey_.size()),
        pos_(static_cast<size_t>(half_)),
        end_(static_cast<size_t>(half_)) {
    for (int64_t i = 0; i < M_; i++) prefix_[i + 1] = prefix_[i] + a_[i];
  }

  double Run() {
    const int64_t origin = AddPoint(0, -1, -1);
    if (streams_ == 0) {
      Sweep(origin, -1);
      return bestAlpha_;
    }
    const int64_t zeros = UpperBound(0, 0, M_);
    const double alphaLo = (a_[zeros] * (L_ - 1)) / static_cast<double>(2 * streams_);
    const double alphaHi = (a_[M_ - 1] * (L_ - 1)) / 2;
    std::vector<int64_t> grid{AddPoint(alphaLo, -1, -1)};
    for (double g = alphaLo; g < alphaHi;) {
      g *= kGridRatio;
      if (!(g < alphaHi)) g = alphaHi;
      grid.push_back(AddPoint(g, grid.back(), -1));
    }
    Sweep(origin, grid.front());
    Sweep(grid.back(), -1);

    const int64_t n = static_cast<int64_t>(grid.size());
    int64_t k = 0;
    for (int64_t i = 1; i < n; i++)
      if (pF_[grid[i]] < pF_[grid[k]]) k = i;
    double lo = pAlpha_[grid[std::max<int64_t>(k - 1, 0)]];
    double hi = pAlpha_[grid[std::min<int64_t>(k + 1, n - 1)]];
    if (hi > lo) {
      double c = hi - kInvPhi * (hi - lo);
      double d = lo + kInvPhi * (hi - lo);
      double fc = Evaluate(c, nullptr, nullptr, nullptr);
      double fd = Evaluate(d, nullptr, nullptr, nullptr);
      for (int step = 0; step < kGoldenSteps; step++) {
        if (fc < fd) {
          hi = d;
          d = c;
          fd = fc;
          c = hi - kInvPhi * (hi - lo);
          fc = Evaluate(c, nullptr, nullptr, nullptr);
        } else {
          lo = c;
          c = d;
          fc = fd;
          d = lo + kInvPhi * (hi - lo);
          fd = Evaluate(d, nullptr, nullptr, nullptr);
        }
      }
    }
    double alpha = bestAlpha_;
    for (int step = 0; step < kLloydSteps && alpha > 0; step++) {
      Evaluate(alpha, nullptr, nullptr, nullptr);
      const double next = evA_ / evB_;
      if (next == alpha) break;
      alpha = next;
    }

    for (int64_t i = 0; i + 1 < n; i++) PushInterval(grid[i], grid[i + 1]);
    while (!iLb_.empty()) {
      const double lb = iLb_[0];
      const int64_t p = iP_[0];
      const int64_t q = iQ_[0];
      PopInterval();
      if (lb > bestF_ + tol_) break;
      const double a1 = pAlpha_[p];
      const double a2 = pAlpha_[q];
      if (pU_[q] - pU_[p] <= kSweepCap) {
        Sweep(p, q);
        continue;
      }
      const double mid = a1 * std::sqrt(a2 / a1);
      if (!(mid > a1 && mid < a2)) {
        Sweep(p, q);
        continue;
      }
      const int64_t m = AddPoint(mid, p, q);
      PushInterval(p, m);
      PushInterval(m, q);
    }
    return bestAlpha_;
  }

 private:
  void Offer(double alpha, double f) {
    if (f < bestF_) {
      bestF_ = f;
      bestAlpha_ = alpha;
    }
  }

  double Threshold(int64_t j, double alpha) const {
    return (alpha * static_cast<double>(2 * j)) / (L_ - 1);
  }

  // The first index i in [lo, hi) with a[i] > t, given a[lo − 1] ≤ t < a[hi] (hi if none).
  int64_t UpperBound(double t, int64_t lo, int64_t hi) const {
    int64_t l = lo;
    int64_t h = hi;
    while (l < h) {
      const int64_t mid = (l + h) >> 1;
      if (a_[mid] > t)
        h = mid;
      else
        l = mid + 1;
    }
    return l;
  }

  // f(α), with A, B, U of α⁺ in evA_, evB_, evU_ and the code edges in `edges` (when given).
  double Evaluate(double alpha, const int64_t* below, const int64_t* above, int64_t* edges) {
    double A = 0;
    double B = 0;
    int64_t U = 0;
    int64_t lo = 0;
    for (int64_t m = 0; m < half_; m++) {
      int64_t hi = M_;
      if (m + 1 < half_) {
        const int64_t from = below == nullptr ? lo : std::max(lo, below[m + 1]);
        hi = UpperBound(Threshold(m + 1, alpha), from, above == nullptr ? M_ : above[m + 1]);
        U += hi;
        if (edges != nullptr) edges[m + 1] = hi;
      }
      const double c = static_cast<double>(2 * m + 1) / (L_ - 1);
      A += c * (prefix_[hi] - prefix_[lo]);
      B += c * c * static_cast<double>(hi - lo);
      lo = hi;
    }
    const double f = sumSq_ - 2 * alpha * A + alpha * alpha * B;
    evA_ = A;
    evB_ = B;
    evU_ = U;
    Offer(alpha, f);
    const double s = A / B;
    Offer(s, sumSq_ - 2 * s * A + s * s * B);
    return f;
  }

  // Evaluates α (between points p and q when ≥ 0) and keeps it as a point; returns its index.
  int64_t AddPoint(double alpha, int64_t p, int64_t q) {
    const int64_t index = static_cast<int64_t>(pAlpha_.size());
    pEdges_.resize(static_cast<size_t>((index + 1) * half_), 0);
    const double f = Evaluate(alpha, p < 0 ? nullptr : Edges(p), q < 0 ? nullptr : Edges(q),
                              Edges(index));
    pAlpha_.push_back(alpha);
    pF_.push_back(f);
    pA_.push_back(evA_);
    pB_.push_back(evB_);
    pU_.push_back(evU_);
    return index;
  }

  int64_t* Edges(int64_t p) { return pEdges_.data() + p * half_; }

  // Lower bound of f on [α_p, α_q]: the chord of f minus B(α_p⁺)·(α − α_p)(α_q − α).
  double Bound(int64_t p, int64_t q) const {
    const double w = pAlpha_[q] - pAlpha_[p];
    const double K = pB_[p] * w * w;
    if (!(K > 0)) return -std::numeric_limits<double>::infinity();
    const double fp = pF_[p];
    const double d = pF_[q] - fp;
    double t = (K - d) / (2 * K);
    if (t < 0)
      t = 0;
    else if (t > 1)
      t = 1;
    return fp + d * t - K * t * (1 - t);
  }

  // Sweeps the breakpoints in (α_p, α_q] (q < 0: (α_p, ∞)) from the state at α_p⁺.
  void Sweep(int64_t p, int64_t q) {
    const double alpha1 = pAlpha_[p];
    const double alpha2 = q < 0 ? std::numeric_limits<double>::infinity() : pAlpha_[q];
    const int64_t* from = Edges(p);
    const int64_t* to = q < 0 ? nullptr : Edges(q);
    double A = pA_[p];
    double B = pB_[p];
    heapSize_ = 0;
    for (int64_t j = 1; j <= streams_; j++) {
      pos_[j] = from[j];
      end_[j] = to == nullptr ? M_ : to[j];
      if (pos_[j] < end_[j]) Push((a_[pos_[j]] * (L_ - 1)) / static_cast<double>(2 * j), j);
    }
    auto c = [&](int64_t m) { return static_cast<double>(2 * m + 1) / (L_ - 1); };
    auto consider = [&](double lo, double hi) {
      double alpha = A / B;
      if (alpha < lo)
        alpha = lo;
      else if (alpha > hi)
        alpha = hi;
      Offer(alpha, sumSq_ - 2 * alpha * A + alpha * alpha * B);
    };
    double prev = alpha1;
    const double dA = 2 / (L_ - 1);
    while (heapSize_ > 0) {
      const double alpha = heapKey_[0];
      const int64_t j = heapStream_[0];
      if (alpha > prev) consider(prev, alpha);
      // Element a[pos[j]] moves from code j to j − 1.
      const double v = a_[pos_[j]];
      A -= v * dA;
      const double cLow = c(j - 1);
      const double cHigh = c(j);
      B += cLow * cLow - cHigh * cHigh;
      pos_[j]++;
      PopTop();
      if (pos_[j] < end_[j]) Push((a_[pos_[j]] * (L_ - 1)) / static_cast<double>(2 * j), j);
      prev = alpha;
    }
    consider(prev, alpha2);
  }

  void Push(double key, int64_t j) {
    int64_t i = heapSize_++;
    while (i > 0) {
      const int64_t parent = (i - 1) >> 1;
      if (heapKey_[parent] <= key) break;
      heapKey_[i] = heapKey_[parent];
      heapStream_[i] = heapStream_[parent];
      i = parent;
    }
    heapKey_[i] = key;
    heapStream_[i] = j;
  }

  void PopTop() {
    const int64_t size = --heapSize_;
    const double lastKey = heapKey_[size];
    const int64_t lastStream = heapStream_[size];
    int64_t i = 0;
    for (;;) {
      int64_t child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && heapKey_[child + 1] < heapKey_[child]) child++;
      if (heapKey_[child] >= lastKey) break;
      heapKey_[i] = heapKey_[child];
      heapStream_[i] = heapStream_[child];
      i = child;
    }
    heapKey_[i] = lastKey;
    heapStream_[i] = lastStream;
  }

  // Queues [α_p, α_q] unless its bound already prunes it.
  void PushInterval(int64_t p, int64_t q) {
    const double lb = Bound(p, q);
    if (lb > bestF_ + tol_) return;
    size_t i = iLb_.size();
    iLb_.push_back(lb);
    iP_.push_back(p);
    iQ_.push_back(q);
    while (i > 0) {
      const size_t parent = (i - 1) >> 1;
      if (iLb_[parent] <= lb) break;
      iLb_[i] = iLb_[parent];
      iP_[i] = iP_[parent];
      iQ_[i] = iQ_[parent];
      i = parent;
    }
    iLb_[i] = lb;
    iP_[i] = p;
    iQ_[i] = q;
  }

  void PopInterval() {
    const double lastLb = iLb_.back();
    const int64_t lastP = iP_.back();
    const int64_t lastQ = iQ_.back();
    iLb_.pop_back();
    iP_.pop_back();
    iQ_.pop_back();
    const size_t size = iLb_.size();
    if (size == 0) return;
    size_t i = 0;
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && iLb_[child + 1] < iLb_[child]) child++;
      if (iLb_[child] >= lastLb) break;
      iLb_[i] = iLb_[child];
      iP_[i] = iP_[child];
      iQ_[i] = iQ_[child];
      i = child;
    }
    iLb_[i] = lastLb;
    iP_[i] = lastP;
    iQ_[i] = lastQ;
  }

  const std::vector<double>& a_;
  const int64_t M_;
  const double L_;
  const int64_t half_;
  const int64_t streams_;
  const double sumSq_;
  const double tol_;
  std::vector<double> prefix_;

  double bestF_ = std::numeric_limits<double>::infinity();
  double bestAlpha_ = 0;
  double evA_ = 0;
  double evB_ = 0;
  int64_t evU_ = 0;

  std::vector<double> pAlpha_, pF_, pA_, pB_;
  std::vector<int64_t> pU_;
  std::vector<int64_t> pEdges_;  // half_ per point: u_j at index j (j ≥ 1)

  std::vector<double> heapKey_;
  std::vector<int64_t> heapStream_;
  int64_t heapSize_ = 0;
  std::vector<int64_t> pos_, end_;

  std::vector<double> iLb_;
  std::vector<int64_t> iP_, iQ_;
};

}  // namespace

double SawbAlpha(const float* x, int64_t n, int bits) {
  // sawbAlpha() of packages/quantizers/src/sawb-alpha.ts, operation for operation (same sorted
  // values, prefix sums, points, bounds, interval order and heap), so α* is the same double.
  const int64_t M = n;
  if (M == 0) return 0;
  std::vector<uint32_t> keys(static_cast<size_t>(M));
  double sumSq = 0;
  for (int64_t i = 0; i < M; i++) {
    const float v = std::fabs(x[i]);
    std::memcpy(&keys[i], &v, sizeof v);
    const double d = v;
    sumSq += d * d;
  }
  if (sumSq == 0) return 0;
  SortNonNegative(keys);
  std::vector<double> a(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; i++) {
    float v;
    std::memcpy(&v, &keys[i], sizeof v);
    a[i] = v;
  }
  return ClipSearch(a, sumSq, static_cast<double>(int64_t{1} << bits)).Run();
}

int64_t CalibrationSize(const Spec& s) { return s.kind == Kind::Identity ? 0 : 3 * s.groups; }

int64_t CalibrationSize(const Spec* specs, int count) {
  int64_t total = 0;
  for (int k = 0; k < count; k++) total += CalibrationSize(specs[k]);
  return total;
}

bool Calibrate(const Spec* specs, int count, const float* x, int64_t n, double* calib) {
  // Statistics once per distinct grouping (a DQA layer's K quantizers usually share one).
  struct Keyed {
    int64_t groups, stride;
    Stats stats;
  };
  std::vector<Keyed> cache;
  cache.reserve(static_cast<size_t>(count) + 1);  // references into it stay valid
  auto stats = [&](int64_t groups, int64_t stride) -> const Stats& {
    if (groups == 1) stride = 1;
    for (const Keyed& k : cache)
      if (k.groups == groups && k.stride == stride) return k.stats;
    cache.push_back({groups, stride, GroupStats(groups, stride, x, n)});
    return cache.back().stats;
  };
  if (n == 0) return true;
  // Every plugin rejects non-finite input; SAWB, PACT with α and FP need no statistics of their
  // own, so the per-tensor pass doubles as the check.
  const Stats& first = count > 0 && specs[0].kind != Kind::Identity && specs[0].kind != Kind::Sawb
                           ? stats(specs[0].groups, specs[0].stride)
                           : stats(1, 1);
  if (!first.finite) return false;

  double* out = calib;
  for (int k = 0; k < count; k++) {
    const Spec& s = specs[k];
    const int64_t G = s.groups;
    double* p0 = out;
    double* p1 = out + G;
    double* p2 = out + 2 * G;
    out += CalibrationSize(s);
    const double top = Top(s.bits);
    switch (s.kind) {
      case Kind::Identity:
        break;
      case Kind::MinMax: {
        const Stats& st = stats(G, s.stride);
        for (int64_t g = 0; g < G; g++) {
          const double lo = st.lo[g];
          const double step = (static_cast<double>(st.hi[g]) - lo) / top;
          p0[g] = lo;
          p1[g] = step;
          // One level: the per-tensor reference fills min(x) as found first (x[0]: every value
          // equals it, ±0 aside), the per-channel one min + step·0.
          if (!(step > 0)) p0[g] = G == 1 ? static_cast<double>(x[0]) : lo + step * 0.0;
          p2[g] = step > 0 ? 1.0 / step : 1.0;
        }
        break;
      }
      case Kind::Sawb: {
        const int64_t perGroup = n / G;
        const int threads = n >= kQuantParallelMin && G > 1 ? MaxThreads() : 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
          std::vector<float> values(G == 1 ? 0 : static_cast<size_t>(perGroup));
#pragma omp for schedule(dynamic)
          for (int64_t g = 0; g < G; g++) {
            const float* v = x;
            if (G > 1) {
              // The group's values in element order, as splitGroups() gives them.
              int64_t w = 0;
              for (int64_t o = 0; o < n / (G * s.stride); o++)
                for (int64_t j = 0; j < s.stride; j++) values[w++] = x[(o * G + g) * s.stride + j];
              v = values.data();
            }
            const double alpha = static_cast<float>(SawbAlpha(v, perGroup, s.bits));
            const double lo = -alpha;
            const double step = (2 * alpha) / top;
            p0[g] = step > 0 ? lo : lo + step * 0.0;
            p1[g] = step;
            p2[g] = step > 0 ? 1.0 / step : 1.0;
          }
        }
        break;
      }
      case Kind::Bwn: {
        const Stats& st = stats(G, s.stride);
        const double m = static_cast<double>(n / G);
        for (int64_t g = 0; g < G; g++) p0[g] = st.sumAbs[g] / m;
        break;
      }
      case Kind::Twn: {
        const Stats& st = stats(G, s.stride);
        const double m = static_cast<double>(n / G);
        for (int64_t g = 0; g < G; g++)
          p0[g] = static_cast<float>(0.7 * (st.sumAbs[g] / m));  // δ = fround(0.7·E|x|)
        TwnBeta(G, s.stride, p0, x, n, p1);
        break;
      }
      case Kind::Pact: {
        double alpha;
        if (std::isnan(s.pactAlpha)) {
          // Without a learned α the reference calibrates α = max(0, max x).
          const double hi = stats(1, 1).hi[0];
          alpha = hi > 0 ? hi : 0.0;
        } else {
          alpha = static_cast<float>(s.pactAlpha);
        }
        p0[0] = alpha;
        p1[0] = alpha / top;
        p2[0] = p1[0] > 0 ? 1.0 / p1[0] : 1.0;
        break;
      }
    }
  }
  return true;
}

void Quantize(const Spec& s, const double* calib, const float* x, int64_t n, float* out) {
  const int64_t tiles = TileCount(n);
#pragma omp parallel for schedule(static) if (n >= kQuantParallelMin)
  for (int64_t tile = 0; tile < tiles; tile++) {
    const int64_t i0 = tile * kTile;
    QuantizeTile(s, calib, x + i0, i0, std::min(kTile, n - i0), out + i0);
  }
}

void Mix(const Spec* specs, const double* weights, int count, const double* calib, const float* x,
         int64_t n, float* out) {
  const int64_t tiles = TileCount(n);
#pragma omp parallel for schedule(static) if (n >= kQuantParallelMin)
  for (int64_t tile = 0; tile < tiles; tile++) {
    const int64_t i0 = tile * kTile;
    const int64_t len = std::min(kTile, n - i0);
    float q[kTile];
    float* o = out + i0;
    std::fill(o, o + len, 0.0f);
    const double* c = calib;
    for (int k = 0; k < count; k++) {
      QuantizeTile(specs[k], c, x + i0, i0, len, q);
      Accumulate(o, q, len, weights[k]);
      c += CalibrationSize(specs[k]);
    }
  }
}

void MixDots(const Spec* specs, int count, const double* calib, const float* x, const float* dy,
             int64_t n, double* dots) {
  const int threads = n >= kQuantParallelMin ? MaxThreads() : 1;
  const size_t K = static_cast<size_t>(count);
  std::vector<double> partial(K * threads, 0.0);
  const int64_t tiles = TileCount(n);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    double* P = partial.data() + static_cast<size_t>(ThreadNum()) * K;
    float q[kTile];
#pragma omp for schedule(static)
    for (int64_t tile = 0; tile < tiles; tile++) {
      const int64_t i0 = tile * kTile;
      const int64_t len = std::min(kTile, n - i0);
      const double* c = calib;
      for (size_t k = 0; k < K; k++) {
        if (specs[k].kind == Kind::Identity) {
          P[k] += Dot(dy + i0, x + i0, len);
        } else {
          QuantizeTile(specs[k], c, x + i0, i0, len, q);
          P[k] += Dot(dy + i0, q, len);
        }
        c += CalibrationSize(specs[k]);
      }
    }
  }
  for (size_t k = 0; k < K; k++) {
    double s = 0;
    for (int t = 0; t < threads; t++) s += partial[t * K + k];
    dots[k] = s;
  }
}

double PactBackward(double alpha, const float* x, const float* dy, int64_t n, float* dx) {
  if (std::isnan(alpha)) {
    // No learned α: the reference's calibrated α = max(0, max x).
    float hi = 0.0f;
#pragma omp parallel for simd reduction(max : hi) if (n >= kQuantParallelMin)
    for (int64_t i = 0; i < n; i++) hi = x[i] > hi ? x[i] : hi;
    alpha = hi;
  } else {
    alpha = static_cast<float>(alpha);
  }
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) if (n >= kQuantParallelMin)
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    dx[i] = v >= 0 && v < alpha ? dy[i] : 0.0f;
    s += v >= alpha ? static_cast<double>(dy[i]) : 0.0;
  }
  return s;
}

}  // namespace quant
}  // namespace dqa
