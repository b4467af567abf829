// Fused training kernels that @dqa/core's tape backend uses when a `Kernels` provides them
// (optional members of `Kernels`): each replaces a chain of elementwise kernels, each a full
// pass over memory, with one pass. Values equal the composed ops' (see packages/core/src/backend/
// tape-backend.ts, where each fused kernel's fallback sits next to its use).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
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

// Per-channel sums of rows × C values (channels repeating every C), for the batch norms:
// sum1[c] = Σ_rows f1(i, j) and sum2[c] = Σ_rows f2(i, j), i the flat index, j its index in the
// tile. The channels are tiled to L = k·C (a few hundred) values and the loops run over chunks of
// k rows, long vector loops with float partial sums per lane, folded into float64 every 64 chunks
// and across threads (a C of 16 is one vector wide; per-row loops would be mostly overhead).
template <typename F1, typename F2>
void ChannelSums(int64_t rows, int64_t C, const F1& f1, const F2& f2, double* sum1, double* sum2) {
  const int64_t kRows = std::max<int64_t>(1, 256 / C), L = kRows * C;
  const int threads =
      rows * C >= kParallelMin ? std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(rows))) : 1;
  std::vector<double> s1(static_cast<size_t>(threads) * C, 0.0), s2(static_cast<size_t>(threads) * C, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* d1 = s1.data() + static_cast<size_t>(t) * C;
    double* d2 = s2.data() + static_cast<size_t>(t) * C;
    std::vector<float> a1(L, 0.0f), a2(L, 0.0f);
    float* p1 = a1.data();
    float* p2 = a2.data();
    auto fold = [&]() {
      for (int64_t j = 0; j < L; j++) {
        d1[j % C] += p1[j];
        d2[j % C] += p2[j];
        p1[j] = 0.0f;
        p2[j] = 0.0f;
      }
    };
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    int64_t i = begin, chunks = 0;
    for (; i + kRows <= end; i += kRows) {
      const int64_t base = i * C;
#pragma omp simd
      for (int64_t j = 0; j < L; j++) {
        p1[j] += f1(base + j, j);
        p2[j] += f2(base + j, j);
      }
      if (++chunks == 64) {
        fold();
        chunks = 0;
      }
    }
    fold();
    for (; i < end; i++)
      for (int64_t c = 0; c < C; c++) {
        d1[c] += f1(i * C + c, c);
        d2[c] += f2(i * C + c, c);
      }
  }
  for (int64_t c = 0; c < C; c++) {
    double a = 0, b = 0;
    for (int t = 0; t < threads; t++) {
      a += s1[static_cast<size_t>(t) * C + c];
      b += s2[static_cast<size_t>(t) * C + c];
    }
    sum1[c] = a;
    sum2[c] = b;
  }
}

// Tiles per-channel values to L = k·C (the tile width ChannelSums and the loops below use).
std::vector<float> Tile(const std::vector<float>& perChannel, int64_t C, int64_t L) {
  std::vector<float> t(static_cast<size_t>(L));
  for (int64_t j = 0; j < L; j++) t[j] = perChannel[j % C];
  return t;
}

// out[i] = f(i, j) over rows × C values, j the index within the tile (per-channel values tiled
// to L as ChannelSums does), in parallel over chunks of k rows.
template <typename F>
void ChannelMap(int64_t rows, int64_t C, float* out, const F& f) {
  const int64_t n = rows * C;
  const int64_t kRows = std::max<int64_t>(1, 256 / C), L = kRows * C;
  const int64_t chunks = rows / kRows;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t q = 0; q < chunks; q++) {
    const int64_t base = q * L;
#pragma omp simd
    for (int64_t j = 0; j < L; j++) out[base + j] = f(base + j, j);
  }
  for (int64_t i = chunks * kRows; i < rows; i++)
    for (int64_t c = 0; c < C; c++) out[i * C + c] = f(i * C + c, c);
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
  const int64_t L = std::max<int64_t>(1, 256 / C) * C;
  const std::vector<float> meanT = Tile(std::vector<float>(mean, mean + C), C, L);
  const std::vector<float> mulT = Tile(scale ? std::vector<float>(scale, scale + C) : std::vector<float>(C, 1.0f), C, L);
  const std::vector<float> rT = Tile(r, C, L);
  const float* mT = meanT.data();
  const float* sT = mulT.data();
  const float* rTp = rT.data();
  std::vector<double> S1(C), S2(C);
  ChannelSums(
      rows, C, [&](int64_t i, int64_t) { return dy[i]; },
      [&](int64_t i, int64_t j) { return dy[i] * (x[i] - mT[j]); }, S1.data(), S2.data());
  ChannelMap(rows, C, dx, [&](int64_t i, int64_t j) { return (dy[i] * sT[j]) * rTp[j]; });
  for (int64_t c = 0; c < C; c++) {
    const double rc = r[c];
    const double sc = scale ? scale[c] : 1.0;
    dMean[c] = static_cast<float>(-sc * rc * S1[c]);
    dVariance[c] = static_cast<float>(-0.5 * sc * rc * rc * rc * S2[c]);
    if (dOffset) dOffset[c] = static_cast<float>(S1[c]);
    if (dScale) dScale[c] = static_cast<float>(rc * S2[c]);
  }
  return info.Env().Undefined();
}

// batchNormTraining(x, rows, C, offset | undefined, scale | undefined, epsilon, y, mean, variance,
//                   residual | undefined, activation): per channel the batch mean and biased
// variance (two passes, sums in float64), then y = act((x − mean)·(r·scale) + offset + residual)
// with r = 1/sqrt(variance + ε), act the identity (0) or ReLU (1), in a third pass.
Napi::Value BatchNormTrainingJs(const Napi::CallbackInfo& info) {
  const char* k = "batchNormTraining";
  const int64_t rows = IntArg(info, 1, k), C = IntArg(info, 2, k);
  const float* x = F32ArgSized(info, 0, k, rows * C);
  const float* offset = info[3].IsUndefined() ? nullptr : F32ArgSized(info, 3, k, C);
  const float* scale = info[4].IsUndefined() ? nullptr : F32ArgSized(info, 4, k, C);
  const double eps = NumberArg(info, 5, k);
  float* y = F32ArgSized(info, 6, k, rows * C);
  float* mean = F32ArgSized(info, 7, k, C);
  float* variance = F32ArgSized(info, 8, k, C);
  const float* residual = info.Length() > 9 && !info[9].IsUndefined() ? F32ArgSized(info, 9, k, rows * C) : nullptr;
  const int64_t activation = info.Length() > 10 && !info[10].IsUndefined() ? IntArg(info, 10, k) : 0;
  if (activation < 0 || activation > 1) throw std::runtime_error("batchNormTraining: unknown activation code");
  if (rows <= 0) throw std::runtime_error("batchNormTraining: x has no rows");
  const int64_t L = std::max<int64_t>(1, 256 / C) * C;
  std::vector<double> sum(C), unused(C);
  ChannelSums(
      rows, C, [&](int64_t i, int64_t) { return x[i]; }, [](int64_t, int64_t) { return 0.0f; },
      sum.data(), unused.data());
  std::vector<float> m(C);
  for (int64_t c = 0; c < C; c++) m[c] = static_cast<float>(sum[c] / static_cast<double>(rows));
  const std::vector<float> mT = Tile(m, C, L);
  const float* mp = mT.data();
  std::vector<double> sq(C);
  ChannelSums(
      rows, C,
      [&](int64_t i, int64_t j) {
        const float d = x[i] - mp[j];
        return d * d;
      },
      [](int64_t, int64_t) { return 0.0f; }, sq.data(), unused.data());
  std::vector<float> a(C), b(C);
  for (int64_t c = 0; c < C; c++) {
    const double v = sq[c] / static_cast<double>(rows);
    mean[c] = m[c];
    variance[c] = static_cast<float>(v);
    const double r = 1.0 / std::sqrt(v + eps);
    const double sc = scale ? scale[c] : 1.0;
    a[c] = static_cast<float>(sc * r);
    b[c] = offset ? offset[c] : 0.0f;
  }
  const std::vector<float> aT = Tile(a, C, L), bT = Tile(b, C, L);
  const float* ap = aT.data();
  const float* bp = bT.data();
  if (residual && activation == 1)
    ChannelMap(rows, C, y, [&](int64_t i, int64_t j) {
      return std::max((x[i] - mp[j]) * ap[j] + bp[j] + residual[i], 0.0f);
    });
  else if (residual)
    ChannelMap(rows, C, y, [&](int64_t i, int64_t j) { return (x[i] - mp[j]) * ap[j] + bp[j] + residual[i]; });
  else if (activation == 1)
    ChannelMap(rows, C, y, [&](int64_t i, int64_t j) { return std::max((x[i] - mp[j]) * ap[j] + bp[j], 0.0f); });
  else
    ChannelMap(rows, C, y, [&](int64_t i, int64_t j) { return (x[i] - mp[j]) * ap[j] + bp[j]; });
  return info.Env().Undefined();
}

// batchNormTrainingBackward(dy, x, rows, C, mean, variance, scale | undefined, epsilon,
//                           dx, dOffset, dScale, y | undefined, activation, dResidual | undefined):
// with g = dy masked by the activation at the output y (ReLU: y > 0), r = 1/sqrt(variance + ε),
// s = scale (or 1), S1 = Σ g and S2 = Σ g·(x − mean) per channel (float64): dx = s·r·g − s·r·S1/N −
// s·r³·S2/N·(x − mean), dOffset = S1, dScale = r·S2 (the statistics' dependence on x included),
// and dResidual = g where asked for (written in the sums' pass).
Napi::Value BatchNormTrainingBackwardJs(const Napi::CallbackInfo& info) {
  const char* k = "batchNormTrainingBackward";
  const int64_t rows = IntArg(info, 2, k), C = IntArg(info, 3, k);
  const float* dy = F32ArgSized(info, 0, k, rows * C);
  const float* x = F32ArgSized(info, 1, k, rows * C);
  const float* mean = F32ArgSized(info, 4, k, C);
  const float* variance = F32ArgSized(info, 5, k, C);
  const float* scale = info[6].IsUndefined() ? nullptr : F32ArgSized(info, 6, k, C);
  const double eps = NumberArg(info, 7, k);
  float* dx = F32ArgSized(info, 8, k, rows * C);
  float* dOffset = F32ArgSized(info, 9, k, C);
  float* dScale = F32ArgSized(info, 10, k, C);
  const int64_t activation = info.Length() > 12 && !info[12].IsUndefined() ? IntArg(info, 12, k) : 0;
  if (activation < 0 || activation > 1) throw std::runtime_error("batchNormTrainingBackward: unknown activation code");
  const float* yOut = activation == 1 ? F32ArgSized(info, 11, k, rows * C) : nullptr;
  float* dRes = info.Length() > 13 && !info[13].IsUndefined() ? F32ArgSized(info, 13, k, rows * C) : nullptr;
  const int64_t L = std::max<int64_t>(1, 256 / C) * C;
  const std::vector<float> mT = Tile(std::vector<float>(mean, mean + C), C, L);
  const float* mp = mT.data();
  std::vector<double> S1(C), S2(C);
  const double N = static_cast<double>(rows);
  // g = dy through the activation, as arithmetic (dy·[y > 0], as reluBackward computes it) so
  // that the loops vectorise; the activation and the residual's output are compile-time choices.
  auto run = [&](auto reluTag, auto residualTag) {
    constexpr bool kRelu = decltype(reluTag)::value;
    constexpr bool kResidual = decltype(residualTag)::value;
    auto grad = [&](int64_t i) {
      if constexpr (kRelu) return dy[i] * (yOut[i] > 0.0f ? 1.0f : 0.0f);
      else return dy[i];
    };
    ChannelSums(
        rows, C,
        [&](int64_t i, int64_t) {
          const float g = grad(i);
          if constexpr (kResidual) dRes[i] = g;
          return g;
        },
        [&](int64_t i, int64_t j) { return grad(i) * (x[i] - mp[j]); }, S1.data(), S2.data());
    std::vector<float> a(C), b(C), c3(C);
    for (int64_t c = 0; c < C; c++) {
      const double r = 1.0 / std::sqrt(static_cast<double>(variance[c]) + eps);
      const double sc = scale ? scale[c] : 1.0;
      a[c] = static_cast<float>(sc * r);
      c3[c] = static_cast<float>(-sc * r * r * r * S2[c] / N);
      b[c] = static_cast<float>(-sc * r * S1[c] / N);
      dOffset[c] = static_cast<float>(S1[c]);
      dScale[c] = static_cast<float>(r * S2[c]);
    }
    const std::vector<float> aT = Tile(a, C, L), bT = Tile(b, C, L), cT = Tile(c3, C, L);
    const float* ap = aT.data();
    const float* bp = bT.data();
    const float* cp = cT.data();
    ChannelMap(rows, C, dx,
               [&](int64_t i, int64_t j) { return ap[j] * grad(i) + bp[j] + cp[j] * (x[i] - mp[j]); });
  };
  if (yOut && dRes)
    run(std::true_type{}, std::true_type{});
  else if (yOut)
    run(std::true_type{}, std::false_type{});
  else if (dRes)
    run(std::false_type{}, std::true_type{});
  else
    run(std::false_type{}, std::false_type{});
  return info.Env().Undefined();
}

// biasActivationBackward(dy, y, rows, C, activation, dz, dBias): dz = dy masked by the
// activation's derivative at its output y (0: none, 1: ReLU, y > 0), dBias = Σ_rows dz (float64).
Napi::Value BiasActivationBackwardJs(const Napi::CallbackInfo& info) {
  const char* k = "biasActivationBackward";
  const int64_t rows = IntArg(info, 2, k), C = IntArg(info, 3, k);
  const float* dy = F32ArgSized(info, 0, k, rows * C);
  const float* y = F32ArgSized(info, 1, k, rows * C);
  const int64_t activation = IntArg(info, 4, k);
  float* dz = F32ArgSized(info, 5, k, rows * C);
  float* dBias = F32ArgSized(info, 6, k, C);
  if (activation < 0 || activation > 1) throw std::runtime_error("biasActivationBackward: unknown activation code");
  std::vector<double> sum(C), unused(C);
  if (activation == 1) {
    // The mask's pass writes dz and sums it: dz[i] is read back from the cache line just written.
    ChannelSums(
        rows, C,
        [&](int64_t i, int64_t) {
          const float g = dy[i] * (y[i] > 0.0f ? 1.0f : 0.0f);  // arithmetic: vectorises
          dz[i] = g;
          return g;
        },
        [](int64_t, int64_t) { return 0.0f; }, sum.data(), unused.data());
  } else {
    std::memcpy(dz, dy, static_cast<size_t>(rows * C) * sizeof(float));
    ChannelSums(
        rows, C, [&](int64_t i, int64_t) { return dy[i]; }, [](int64_t, int64_t) { return 0.0f; }, sum.data(),
        unused.data());
  }
  for (int64_t c = 0; c < C; c++) dBias[c] = static_cast<float>(sum[c]);
  return info.Env().Undefined();
}

}  // namespace

void InitFused(Napi::Env env, Napi::Object exports) {
  exports.Set("biasActivationBackward",
              Napi::Function::New(env, BiasActivationBackwardJs, "biasActivationBackward"));
  exports.Set("batchNormTraining", Napi::Function::New(env, BatchNormTrainingJs, "batchNormTraining"));
  exports.Set("batchNormTrainingBackward",
              Napi::Function::New(env, BatchNormTrainingBackwardJs, "batchNormTrainingBackward"));
  exports.Set("batchNorm", Napi::Function::New(env, BatchNormJs, "batchNorm"));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackwardJs, "batchNormBackward"));
  exports.Set("reluBackward", Napi::Function::New(env, ReluBackwardJs, "reluBackward"));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropyJs, "softmaxCrossEntropy"));
  exports.Set("softmaxCrossEntropyBackward", Napi::Function::New(env, SoftmaxCrossEntropyBackwardJs, "softmaxCrossEntropyBackward"));
}

}  // namespace dqa
