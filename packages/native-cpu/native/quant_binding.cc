// Node-API wrappers of the fused quantizer kernels (quant.h), used by src/fused.ts.
//
// A layer's quantizers travel as a Float64Array of 5 numbers each:
//   [kind (quant::Kind), bits, groups, stride, PACT's α (NaN: calibrate α = max(0, max x))].
// Calibration comes back in a Float64Array the caller sized with quant::CalibrationSize (three
// doubles per group and non-identity quantizer) and hands back to quantDots for the backward.
#include <cmath>
#include <string>
#include <vector>

#include "common.h"
#include "quant.h"

namespace dqa {
namespace {

constexpr size_t kSpecWidth = 5;

double* F64Arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, size_t* length) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": argument " +
                                               std::to_string(i) + " must be a Float64Array");
  }
  Napi::Float64Array a = v.As<Napi::Float64Array>();
  *length = a.ElementLength();
  return a.Data();
}

std::vector<quant::Spec> SpecsArg(const Napi::CallbackInfo& info, size_t i, const char* kernel,
                                  int64_t n) {
  size_t length = 0;
  const double* d = F64Arg(info, i, kernel, &length);
  auto bad = [&](const std::string& why) {
    return Napi::RangeError::New(info.Env(), std::string("native-cpu ") + kernel + ": " + why);
  };
  if (length == 0 || length % kSpecWidth != 0)
    throw bad("the quantizer list must hold 5 numbers per quantizer, got " + std::to_string(length));
  std::vector<quant::Spec> specs(length / kSpecWidth);
  for (size_t k = 0; k < specs.size(); k++) {
    const double* s = d + k * kSpecWidth;
    const int kind = static_cast<int>(s[0]);
    const int bits = static_cast<int>(s[1]);
    if (kind < 0 || kind > static_cast<int>(quant::Kind::Pact))
      throw bad("unknown quantizer kind " + std::to_string(kind));
    if (kind != static_cast<int>(quant::Kind::Identity) && (bits < 1 || bits > 16))
      throw bad("bits must be 1–16, got " + std::to_string(bits));
    quant::Spec& q = specs[k];
    q.kind = static_cast<quant::Kind>(kind);
    q.bits = bits;
    q.groups = static_cast<int64_t>(s[2]);
    q.stride = static_cast<int64_t>(s[3]);
    q.pactAlpha = s[4];
    if (q.groups < 1 || q.stride < 1 || (n > 0 && n % (q.groups * q.stride) != 0))
      throw bad("quantizer " + std::to_string(k) + ": " + std::to_string(q.groups) +
                " groups of stride " + std::to_string(q.stride) + " do not tile " +
                std::to_string(n) + " values");
    if (q.kind == quant::Kind::Pact && q.groups != 1)
      throw bad("PACT quantizes per tensor only");
  }
  return specs;
}

// quantForward(specs, weights | null, x, calib, out): calibrates every quantizer from x into
// `calib`, then writes Q(x) (one quantizer, weights null) or Σ_k weights[k]·Q_k(x) into `out`.
// Returns false, writing nothing, when x holds a NaN or an infinity.
Napi::Value QuantForwardJs(const Napi::CallbackInfo& info) {
  const char* k = "quantForward";
  size_t n = 0;
  const float* x = F32Arg(info, 2, k, &n);
  const int64_t size = static_cast<int64_t>(n);
  const std::vector<quant::Spec> specs = SpecsArg(info, 0, k, size);
  const int count = static_cast<int>(specs.size());
  size_t calibLength = 0;
  double* calib = F64Arg(info, 3, k, &calibLength);
  if (static_cast<int64_t>(calibLength) != quant::CalibrationSize(specs.data(), count))
    throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + k + ": calibration array holds " +
                                                std::to_string(calibLength) + " values, needs " +
                                                std::to_string(quant::CalibrationSize(specs.data(), count)));
  float* out = F32ArgSized(info, 4, k, size);
  const double* weights = nullptr;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    size_t wl = 0;
    weights = F64Arg(info, 1, k, &wl);
    if (static_cast<int>(wl) != count)
      throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + k + ": " + std::to_string(wl) +
                                                  " mixing weights for " + std::to_string(count) + " quantizers");
  } else if (count != 1) {
    throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + k +
                                                ": several quantizers need mixing weights");
  }
  if (!quant::Calibrate(specs.data(), count, x, size, calib)) return Napi::Boolean::New(info.Env(), false);
  if (weights)
    quant::Mix(specs.data(), weights, count, calib, x, size, out);
  else
    quant::Quantize(specs[0], calib, x, size, out);
  return Napi::Boolean::New(info.Env(), true);
}

// quantDots(specs, calib, x, dy, dots): dots[k] = Σ_i dy_i·Q_k(x)_i with the calibration of
// quantForward.
Napi::Value QuantDotsJs(const Napi::CallbackInfo& info) {
  const char* k = "quantDots";
  size_t n = 0;
  const float* x = F32Arg(info, 2, k, &n);
  const int64_t size = static_cast<int64_t>(n);
  const std::vector<quant::Spec> specs = SpecsArg(info, 0, k, size);
  const int count = static_cast<int>(specs.size());
  size_t calibLength = 0;
  const double* calib = F64Arg(info, 1, k, &calibLength);
  if (static_cast<int64_t>(calibLength) != quant::CalibrationSize(specs.data(), count))
    throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + k + ": calibration array holds " +
                                                std::to_string(calibLength) + " values");
  const float* dy = F32ArgSized(info, 3, k, size);
  size_t dl = 0;
  double* dots = F64Arg(info, 4, k, &dl);
  if (static_cast<int>(dl) < count)
    throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + k + ": dots holds " +
                                                std::to_string(dl) + " values for " + std::to_string(count) + " quantizers");
  quant::MixDots(specs.data(), count, calib, x, dy, size, dots);
  return info.Env().Undefined();
}

// quantPactBackward(alpha, x, dy, dx): PACT's dx into `dx`; returns dL/dα = Σ dy over x ≥ α.
Napi::Value QuantPactBackwardJs(const Napi::CallbackInfo& info) {
  const char* k = "quantPactBackward";
  const double alpha = NumberArg(info, 0, k);
  size_t n = 0;
  const float* x = F32Arg(info, 1, k, &n);
  const int64_t size = static_cast<int64_t>(n);
  const float* dy = F32ArgSized(info, 2, k, size);
  float* dx = F32ArgSized(info, 3, k, size);
  return Napi::Number::New(info.Env(), quant::PactBackward(alpha, x, dy, size, dx));
}

}  // namespace

void InitQuant(Napi::Env env, Napi::Object exports) {
  exports.Set("quantForward", Napi::Function::New(env, QuantForwardJs, "quantForward"));
  exports.Set("quantDots", Napi::Function::New(env, QuantDotsJs, "quantDots"));
  exports.Set("quantPactBackward", Napi::Function::New(env, QuantPactBackwardJs, "quantPactBackward"));
}

}  // namespace dqa
