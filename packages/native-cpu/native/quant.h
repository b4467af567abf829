// Fused quantizer kernels of @dqa/native-cpu: every quantizer of @dqa/quantizers with its
// calibration, PACT's gradient, and the K-way mixture Σ_k a_k·Q_k(w) of DQA (eq. 1–3) and
// Binary-Relax (eq. 8) with the dot products Σ_i dy_i·Q_k(w)_i its attention gradient needs.
//
// Pure C++17 over plain arrays (no Node-API here; quant_binding.cc wraps it). The arithmetic is
// the plain references' (packages/quantizers/src/*.ts) operation for operation, in double where
// they compute in JavaScript numbers, so outputs equal them bit for bit; the exceptions are the
// means E|x| of BWN and TWN, summed in parallel (not left to right), whose float32 value can
// differ by one ulp (see test/fused-kernels.test.ts). Build without -ffast-math and with
// -ffp-contract=off: a fused multiply-add would round differently from JavaScript.
#pragma once

#include <cstdint>
#include <limits>

namespace dqa {
namespace quant {

// Which quantizer a kernel computes. The numbers are shared with src/fused.ts.
enum class Kind : int32_t {
  Identity = 0,  // fp: Q(x) = x
  MinMax = 1,    // eq. 10, 13: 2ⁿ levels from min to max
  Sawb = 2,      // eq. 11–12: 2ⁿ levels on [−α*, α*], α* the exact MSE minimiser
  Bwn = 3,       // eq. 14: ±E|x|
  Twn = 4,       // eq. 15: {−β, 0, β}, δ = 0.7·E|x|
  Pact = 5,      // clip to [0, α], then 2ⁿ levels on [0, α]
};

// One quantizer Q_k of a layer.
struct Spec {
  Kind kind = Kind::Identity;
  int32_t bits = 32;
  // Calibration groups: 1 per tensor, or the channel count per channel.
  int64_t groups = 1;
  // Elements between consecutive channels (the product of the dimensions after the channel
  // axis): flat element i belongs to group (i / stride) % groups.
  int64_t stride = 1;
  // PACT's learned clip level α; NaN calibrates α = max(0, max x) as the reference does.
  double pactAlpha = std::numeric_limits<double>::quiet_NaN();
};

// Calibration: three doubles per group and quantizer, stored as three arrays of `groups` values
// (p0 of every group, then p1, then p2), quantizers one after another:
//   MinMax, Sawb: p0 = lowest level, p1 = level step (≤ 0: a single level, p0), p2 = 1/step
//   Pact:         p0 = clip level α,  p1 = level step, p2 = 1/step
//   Bwn:          p0 = β
//   Twn:          p0 = δ,            p1 = β
//   Identity:     nothing (0 doubles)
int64_t CalibrationSize(const Spec& s);
int64_t CalibrationSize(const Spec* specs, int count);

// Calibrates every spec from x: one pass for the statistics (min, max, Σ|x|) of each distinct
// grouping, a second for TWN's β, an exact sort-and-sweep for SAWB. Returns false (and leaves
// `calib` unspecified) when x holds a NaN or an infinity.
bool Calibrate(const Spec* specs, int count, const float* x, int64_t n, double* calib);

// Q(x) for one quantizer, written straight into out (no accumulation: the reference's ±0 kept).
void Quantize(const Spec& s, const double* calib, const float* x, int64_t n, float* out);

// out = Σ_k weights[k]·Q_k(x), accumulated as the reference mixture does:
// out_i ← float(out_i + weights[k]·Q_k(x)_i) for k = 0 … count−1, starting from 0. With one spec
// and weight 1 this is Q(x) exactly. One pass over x, tile by tile, every Q_k of a tile in cache.
void Mix(const Spec* specs, const double* weights, int count, const double* calib, const float* x,
         int64_t n, float* out);

// dots[k] = Σ_i dy_i·Q_k(x)_i (summed in double), recomputing Q_k from its calibration: one pass
// over x and dy for all K, what dL/da of a mixture needs.
void MixDots(const Spec* specs, int count, const double* calib, const float* x, const float* dy,
             int64_t n, double* dots);

// PACT's gradient rule: dx_i = dy_i where 0 ≤ x_i < α, else 0; returns Σ dy_i over x_i ≥ α.
// α is rounded to float32 as the reference does; NaN calibrates α = max(0, max x).
double PactBackward(double alpha, const float* x, const float* dy, int64_t n, float* dx);

// SAWB's α* (eq. 12) of n values, exactly as sawbAlpha() of @dqa/quantizers computes it.
double SawbAlpha(const float* x, int64_t n, int bits);

}  // namespace quant
}  // namespace dqa
