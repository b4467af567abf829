// Reductions (sum, max, min over sorted, unique axes) and transpose.
//
// Semantics of @dqa/core's reference (packages/core/src/reference/reduce.ts): sums accumulate in
// float64; a group holding a NaN reduces to NaN; max of nothing is −∞, min of nothing +∞.
//
// Axes are classified kept/reduced and adjacent axes of one class merged. The two layouts that
// training produces run directly: reduced axes last (row sums, e.g. softmax's over classes) and
// reduced axes first (column sums: a bias gradient over [n, h, w] of an NHWC tensor), the latter
// with one private float64 accumulator row per thread. Any other pattern is transposed to
// [kept…, reduced…] first.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"

namespace dqa {
namespace {

enum ReduceOp { kSum, kMax, kMin };

struct Acc {
  double v;
  bool nan;
};

inline double InitOf(int op) {
  if (op == kSum) return 0.0;
  return op == kMax ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
}

// Reduction of one contiguous run.
Acc ReduceRun(int op, const float* x, int64_t n) {
  bool nan = false;
  if (op == kSum) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += x[i];
    return {s, s != s};
  }
  float m = op == kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  if (op == kMax) {
#pragma omp simd reduction(max : m) reduction(|| : nan)
    for (int64_t i = 0; i < n; i++) {
      m = std::max(m, x[i]);
      nan = nan || (x[i] != x[i]);
    }
  } else {
#pragma omp simd reduction(min : m) reduction(|| : nan)
    for (int64_t i = 0; i < n; i++) {
      m = std::min(m, x[i]);
      nan = nan || (x[i] != x[i]);
    }
  }
  return {static_cast<double>(m), nan};
}

inline float Finish(const Acc& a) { return a.nan ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(a.v); }

// out[o] = reduce over the contiguous inner run x[o·inner … (o+1)·inner).
void ReduceInner(int op, const float* x, int64_t outer, int64_t inner, float* out) {
  if (outer == 1) {
    // One long run: per-thread partials, combined in a fixed order (deterministic per team size).
    const int threads = inner >= kParallelMin ? omp_get_max_threads() : 1;
    std::vector<Acc> part(threads, Acc{InitOf(op), false});
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
      const int64_t s = inner * t / nt, e = inner * (t + 1) / nt;
      part[t] = ReduceRun(op, x + s, e - s);
    }
    Acc a{InitOf(op), false};
    for (const Acc& p : part) {
      a.nan = a.nan || p.nan;
      if (op == kSum) a.v += p.v;
      else if (op == kMax) a.v = std::max(a.v, p.v);
      else a.v = std::min(a.v, p.v);
    }
    out[0] = Finish(a);
    return;
  }
#pragma omp parallel for schedule(static) if (outer * inner >= kParallelMin)
  for (int64_t o = 0; o < outer; o++) out[o] = Finish(ReduceRun(op, x + o * inner, inner));
}

// out[j] = reduce over i of x[i·cols + j] (reduced axes first).
void ReduceOuter(int op, const float* x, int64_t rows, int64_t cols, float* out) {
  const int threads = rows * cols >= kParallelMin ? std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(rows))) : 1;
  std::vector<double> acc(static_cast<size_t>(threads) * cols, InitOf(op));
  std::vector<unsigned char> nan(static_cast<size_t>(threads) * cols, 0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    const int64_t s = rows * t / nt, e = rows * (t + 1) / nt;
    double* a = acc.data() + static_cast<size_t>(t) * cols;
    unsigned char* bad = nan.data() + static_cast<size_t>(t) * cols;
    int64_t i = s;
    if (op == kSum && cols < 256) {
      // Short rows (a bias gradient over 16–64 channels): sum chunks of k rows as one long vector
      // of k·cols float lanes, folded into the float64 sums every 64 chunks.
      const int64_t k = 256 / cols, L = k * cols;
      std::vector<float> lanes(static_cast<size_t>(L), 0.0f);
      float* p = lanes.data();
      auto fold = [&] {
        for (int64_t j = 0; j < L; j++) {
          a[j % cols] += p[j];
          p[j] = 0.0f;
        }
      };
      int64_t chunks = 0;
      for (; i + k <= e; i += k) {
        const float* block = x + i * cols;
#pragma omp simd
        for (int64_t j = 0; j < L; j++) p[j] += block[j];
        if (++chunks == 64) {
          fold();
          chunks = 0;
        }
      }
      fold();
    }
    for (; i < e; i++) {
      const float* row = x + i * cols;
      if (op == kSum) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) a[j] += row[j];
      } else if (op == kMax) {
        for (int64_t j = 0; j < cols; j++) {
          const float v = row[j];
          if (v != v) bad[j] = 1;
          else if (v > a[j]) a[j] = v;
        }
      } else {
        for (int64_t j = 0; j < cols; j++) {
          const float v = row[j];
          if (v != v) bad[j] = 1;
          else if (v < a[j]) a[j] = v;
        }
      }
    }
  }
  for (int64_t j = 0; j < cols; j++) {
    Acc r{acc[j], nan[j] != 0};
    for (int t = 1; t < threads; t++) {
      const double v = acc[static_cast<size_t>(t) * cols + j];
      r.nan = r.nan || nan[static_cast<size_t>(t) * cols + j];
      if (op == kSum) r.v += v;
      else if (op == kMax) r.v = std::max(r.v, v);
      else r.v = std::min(r.v, v);
    }
    if (op == kSum && r.v != r.v) r.nan = true;
    out[j] = Finish(r);
  }
}

// out = x transposed by `perm` (out axis k is x axis perm[k]).
void Transpose(const float* x, const Dims& shape, const Dims& perm, float* out) {
  const size_t rank = shape.size();
  const int64_t total = Product(shape);
  if (rank == 0 || total == 0) {
    if (total == 1) out[0] = x[0];
    return;
  }
  Dims inStrides(rank);
  int64_t acc = 1;
  for (size_t k = rank; k-- > 0;) {
    inStrides[k] = acc;
    acc *= shape[k];
  }
  Dims outShape(rank), s(rank);
  for (size_t k = 0; k < rank; k++) {
    outShape[k] = shape[perm[k]];
    s[k] = inStrides[perm[k]];
  }
  const int64_t inner = outShape[rank - 1];
  const int64_t innerStride = s[rank - 1];
  const int64_t rows = total / inner;
#pragma omp parallel for schedule(static) if (total >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    int64_t rem = r, off = 0;
    for (size_t k = rank - 1; k-- > 0;) {
      off += (rem % outShape[k]) * s[k];
      rem /= outShape[k];
    }
    const float* src = x + off;
    float* dst = out + r * inner;
    for (int64_t i = 0; i < inner; i++) dst[i] = src[i * innerStride];
  }
}

void Reduce(int op, const float* x, const Dims& shape, const Dims& axes, float* out) {
  const size_t rank = shape.size();
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axes) reduced[a] = true;
  // Merge adjacent axes of one class; drop size-1 axes (they change nothing).
  Dims dims;
  std::vector<bool> cls;
  for (size_t k = 0; k < rank; k++) {
    if (shape[k] == 1) continue;
    if (!dims.empty() && cls.back() == reduced[k]) dims.back() *= shape[k];
    else {
      dims.push_back(shape[k]);
      cls.push_back(reduced[k]);
    }
  }
  const int64_t total = Product(shape);
  if (total == 0) {
    // Empty input: every output element is the reduction of nothing.
    Dims kept;
    for (size_t k = 0; k < rank; k++)
      if (!reduced[k]) kept.push_back(shape[k]);
    const int64_t n = Product(kept);
    for (int64_t i = 0; i < n; i++) out[i] = static_cast<float>(InitOf(op));
    return;
  }
  if (dims.empty() || (dims.size() == 1 && !cls[0])) {
    // Nothing is reduced (only size-1 axes, or none): a copy.
    std::copy(x, x + total, out);
    return;
  }
  if (dims.size() == 1) return ReduceInner(op, x, 1, dims[0], out);
  if (dims.size() == 2 && !cls[0]) return ReduceInner(op, x, dims[0], dims[1], out);
  if (dims.size() == 2 && cls[0]) return ReduceOuter(op, x, dims[0], dims[1], out);
  // General pattern: move the kept axes first, then reduce the trailing block.
  Dims mshape, perm;
  for (size_t k = 0; k < dims.size(); k++)
    if (!cls[k]) perm.push_back(static_cast<int64_t>(k));
  int64_t outer = 1;
  for (int64_t k : perm) outer *= dims[k];
  for (size_t k = 0; k < dims.size(); k++)
    if (cls[k]) perm.push_back(static_cast<int64_t>(k));
  std::vector<float> moved(static_cast<size_t>(total));
  Transpose(x, dims, perm, moved.data());
  ReduceInner(op, moved.data(), outer, total / outer, out);
}

// reduce(op, x, shape, axes, out)
Napi::Value ReduceJs(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(IntArg(info, 0, "reduce"));
  if (op < kSum || op > kMin) throw Napi::RangeError::New(info.Env(), "native-cpu reduce: unknown op code " + std::to_string(op));
  const Dims shape = DimsArg(info, 2, "reduce");
  const Dims axes = DimsArg(info, 3, "reduce");
  for (int64_t a : axes) {
    if (a < 0 || a >= static_cast<int64_t>(shape.size())) throw Napi::RangeError::New(info.Env(), "native-cpu reduce: axis " + std::to_string(a) + " out of range");
  }
  const float* x = F32ArgSized(info, 1, "reduce", Product(shape));
  int64_t outSize = 1;
  for (size_t k = 0; k < shape.size(); k++)
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) == axes.end()) outSize *= shape[k];
  float* out = F32ArgSized(info, 4, "reduce", outSize);
  Reduce(op, x, shape, axes, out);
  return info.Env().Undefined();
}

// transpose(x, shape, perm, out)
Napi::Value TransposeJs(const Napi::CallbackInfo& info) {
  const Dims shape = DimsArg(info, 1, "transpose");
  const Dims perm = DimsArg(info, 2, "transpose");
  if (perm.size() != shape.size()) throw Napi::RangeError::New(info.Env(), "native-cpu transpose: perm and shape differ in rank");
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(shape.size())) throw Napi::RangeError::New(info.Env(), "native-cpu transpose: bad permutation");
  }
  const float* x = F32ArgSized(info, 0, "transpose", Product(shape));
  float* out = F32ArgSized(info, 3, "transpose", Product(shape));
  Transpose(x, shape, perm, out);
  return info.Env().Undefined();
}

}  // namespace

void InitReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, ReduceJs, "reduce"));
  exports.Set("transpose", Napi::Function::New(env, TransposeJs, "transpose"));
}

}  // namespace dqa
