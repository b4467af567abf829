// Fused training kernels that @dqa/core's tape backend uses when a `Kernels` provides them
// (optional members of `Kernels`): each replaces a chain of elementwise kernels, each a full
// pass over memory, with one pass. Values equal the composed ops' (see packages/core/src/backend/
// tape-backend.ts, where each fused kernel's fallback sits next to its use).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"

namespace dqa {
namespace {

// reluBackward(dy, x, size, out): dy · step(x), as mul(dy, step(x)).
Napi::Value ReluBackwardJs(const Napi::CallbackInfo& info) {
  const char* k = "reluBackward";
  const int64_t n = IntArg(info, 2, k);
  const float* dy = F32ArgSized(info, 0, k, n);
  const float* x = F32ArgSized(info, 1, k, n);
  float* out = F32ArgSized(info, 3, k, n);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = dy[i] * (x[i] > 0.0f ? 1.0f : 0.0f);
  return info.Env().Undefined();
}

// Log-softmax of one row (max-shifted), in float64 like the reference of the conformance suite.
inline void LogSoftmaxRow(const float* x, int64_t cols, double* ls) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < cols; c++) m = std::max(m, static_cast<double>(x[c]));
  double s = 0;
  for (int64_t c = 0; c < cols; c++) s += std::exp(static_cast<double>(x[c]) - m);
  const double lse = m + std::log(s);
  for (int64_t c = 0; c < cols; c++) ls[c] = static_cast<double>(x[c]) - lse;
}

// softmaxCrossEntropy(logits, labels, rows, cols, out[1]): mean over rows of −Σ labels·logSoftmax.
Napi::Value SoftmaxCrossEntropyJs(const Napi::CallbackInfo& info) {
  const char* k = "softmaxCrossEntropy";
  const int64_t rows = IntArg(info, 2, k), cols = IntArg(info, 3, k);
  const float* x = F32ArgSized(info, 0, k, rows * cols);
  const float* y = F32ArgSized(info, 1, k, rows * cols);
  float* out = F32ArgSized(info, 4, k, 1);
  std::vector<double> ls(static_cast<size_t>(cols));
  double total = 0;
  for (int64_t r = 0; r < rows; r++) {
    LogSoftmaxRow(x + r * cols, cols, ls.data());
    for (int64_t c = 0; c < cols; c++) total -= static_cast<double>(y[r * cols + c]) * ls[c];
  }
  out[0] = static_cast<float>(total / static_cast<double>(rows));
  return info.Env().Undefined();
}

// softmaxCrossEntropyBackward(dy[1], logits, labels, rows, cols, dLogits, dLabels | undefined):
// with g = dy / rows, dLogits = g·(softmax·Σ_c labels − labels), dLabels = −g·logSoftmax.
Napi::Value SoftmaxCrossEntropyBackwardJs(const Napi::CallbackInfo& info) {
  const char* k = "softmaxCrossEntropyBackward";
  const int64_t rows = IntArg(info, 3, k), cols = IntArg(info, 4, k);
  const float* dy = F32ArgSized(info, 0, k, 1);
  const float* x = F32ArgSized(info, 1, k, rows * cols);
  const float* y = F32ArgSized(info, 2, k, rows * cols);
  float* dx = F32ArgSized(info, 5, k, rows * cols);
  float* dl = info[6].IsUndefined() ? nullptr : F32ArgSized(info, 6, k, rows * cols);
  const double g = static_cast<double>(dy[0]) / static_cast<double>(rows);
  std::vector<double> ls(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; r++) {
    LogSoftmaxRow(x + r * cols, cols, ls.data());
    double ysum = 0;
    for (int64_t c = 0; c < cols; c++) ysum += y[r * cols + c];
    for (int64_t c = 0; c < cols; c++) {
      const int64_t i = r * cols + c;
      dx[i] = static_cast<float>(g * (std::exp(ls[c]) * ysum - static_cast<double>(y[i])));
      if (dl) dl[i] = static_cast<float>(-g * ls[c]);
    }
  }
  return info.Env().Undefined();
}

// Per-channel 1/sqrt(variance + ε), in float as the composed ops round it.
inline void Rstd(const float* variance, int64_t C, float eps, std::vector<float>& r) {
  r.resize(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; c++) r[c] = 1.0f / std::sqrt(variance[c] + eps);
}

// batchNorm(x, rows, C, mean, variance, offset | undefined, scale | undefined, epsilon, out):
// ((x − mean)·r)·scale + offset with r = 1/sqrt(variance + ε), over the last axis, in the composed
// ops' order and float rounding.
Napi::Value BatchNormJs(const Napi::CallbackInfo& info) {
  const char* k = "batchNorm";
  const int64_t rows = IntArg(info, 1, k), C = IntArg(info, 2, k);
  const float* x = F32ArgSized(info, 0, k, rows * C);
  const float* mean = F32ArgSized(info, 3, k, C);
  const float* variance = F32ArgSized(info, 4, k, C);
  const float* offset = info[5].IsUndefined() ? nullptr : F32ArgSized(info, 5, k, C);
  const float* scale = info[6].IsUndefined() ? nullptr : F32ArgSized(info, 6, k, C);
  const float eps = static_cast<float>(NumberArg(info, 7, k));
  float* out = F32ArgSized(info, 8, k, rows * C);
  std::vector<float> r;
  Rstd(variance, C, eps, r);
  const float* rp = r.data();
#pragma omp parallel for schedule(static) if (rows * C >= kParallelMin)
  for (int64_t i = 0; i < rows; i++) {
    const float* xi = x + i * C;
    float* o = out + i * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      float y = (xi[c] - mean[c]) * rp[c];
      if (scale) y = y * scale[c];
      if (offset) y = y + offset[c];
      o[c] = y;
    }
  }
  return info.Env().Undefined();
}

// batchNormBackward(dy, x, rows, C, mean, variance, scale | undefined, epsilon,
//                   dx, dMean, dVariance, dOffset | undefined, dScale | undefined):
// with r = 1/sqrt(variance + ε), s = scale (or 1), S1 = Σ dy and S2 = Σ dy·(x − mean) per channel:
// dx = (dy·s)·r, dMean = −s·r·S1, dVariance = −½·s·r³·S2, dScale = r·S2, dOffset = S1.
Napi::Value BatchNormBackwardJs(const Napi::CallbackInfo& info) {
  const char* k = "batchNormBackward";
  const int64_t rows = IntArg(info, 2, k), C = IntArg(info, 3, k);
  const float* dy = F32ArgSized(info, 0, k, rows * C);
  const float* x = F32ArgSized(info, 1, k, rows * C);
  const float* mean = F32ArgSized(info, 4, k, C);
  const float* variance = F32ArgSized(info, 5, k, C);
  const float* scale = info[6].IsUndefined() ? nullptr : F32ArgSized(info, 6, k, C);
  const float eps = static_cast<float>(NumberArg(info, 7, k));
  float* dx = F32ArgSized(info, 8, k, rows * C);
  float* dMean = F32ArgSized(info, 9, k, C);
  float* dVariance = F32ArgSized(info, 10, k, C);
  float* dOffset = info[11].IsUndefined() ? nullptr : F32ArgSized(info, 11, k, C);
  float* dScale = info[12].IsUndefined() ? nullptr : F32ArgSized(info, 12, k, C);
  std::vector<float> r;
  Rstd(variance, C, eps, r);
  // The channels repeat every C values: tile mean, s and r to L = k·C (a few hundred) values and
  // run long vector loops over chunks of k rows, with float partial sums per lane folded into
  // float64 every 64 chunks (a C of 16 is one vector wide; per-row loops would be mostly overhead).
  const int64_t kRows = std::max<int64_t>(1, 256 / C), L = kRows * C;
  std::vector<float> meanT(L), mulT(L), rT(L);
  for (int64_t j = 0; j < L; j++) {
    const int64_t c = j % C;
    meanT[j] = mean[c];
    mulT[j] = scale ? scale[c] : 1.0f;
    rT[j] = r[c];
  }
  const int threads = rows * C >= kParallelMin ? std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(rows))) : 1;
  std::vector<double> s1(static_cast<size_t>(threads) * C, 0.0), s2(static_cast<size_t>(threads) * C, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* d1 = s1.data() + static_cast<size_t>(t) * C;
    double* d2 = s2.data() + static_cast<size_t>(t) * C;
    std::vector<float> a1(L, 0.0f), a2(L, 0.0f);
    const float* mT = meanT.data();
    const float* sT = mulT.data();
    const float* rTp = rT.data();
    auto fold = [&](int64_t width) {
      for (int64_t j = 0; j < width; j++) {
        d1[j % C] += a1[j];
        d2[j % C] += a2[j];
        a1[j] = 0.0f;
        a2[j] = 0.0f;
      }
    };
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    int64_t i = begin, chunks = 0;
    float* p1 = a1.data();
    float* p2 = a2.data();
    for (; i + kRows <= end; i += kRows) {
      const float* g = dy + i * C;
      const float* xc = x + i * C;
      float* dxc = dx + i * C;
#pragma omp simd
      for (int64_t j = 0; j < L; j++) {
        p1[j] += g[j];
        p2[j] += g[j] * (xc[j] - mT[j]);
        dxc[j] = (g[j] * sT[j]) * rTp[j];
      }
      if (++chunks == 64) {
        fold(L);
        chunks = 0;
      }
    }
    fold(L);
    for (; i < end; i++) {
      for (int64_t c = 0; c < C; c++) {
        const float g = dy[i * C + c];
        d1[c] += g;
        d2[c] += static_cast<double>(g) * static_cast<double>(x[i * C + c] - mean[c]);
        dx[i * C + c] = (g * mulT[c]) * r[c];
      }
    }
  }
  for (int64_t c = 0; c < C; c++) {
    double S1 = 0, S2 = 0;
    for (int t = 0; t < threads; t++) {
      S1 += s1[static_cast<size_t>(t) * C + c];
      S2 += s2[static_cast<size_t>(t) * C + c];
    }
    const double rc = r[c];
    const double sc = scale ? scale[c] : 1.0;
    dMean[c] = static_cast<float>(-sc * rc * S1);
    dVariance[c] = static_cast<float>(-0.5 * sc * rc * rc * rc * S2);
    if (dOffset) dOffset[c] = static_cast<float>(S1);
    if (dScale) dScale[c] = static_cast<float>(rc * S2);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitFused(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNorm", Napi::Function::New(env, BatchNormJs, "batchNorm"));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackwardJs, "batchNormBackward"));
  exports.Set("reluBackward", Napi::Function::New(env, ReluBackwardJs, "reluBackward"));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropyJs, "softmaxCrossEntropy"));
  exports.Set("softmaxCrossEntropyBackward", Napi::Function::New(env, SoftmaxCrossEntropyBackwardJs, "softmaxCrossEntropyBackward"));
}

}  // namespace dqa
