// Shared helpers of the @dqa/native-cpu addon: argument unpacking (Float32Arrays owned by
// JavaScript, shapes as plain arrays of integers) and the OpenMP work thresholds.
//
// Memory model: every kernel reads its inputs from, and writes its whole output into,
// Float32Arrays that JavaScript allocated; nothing here keeps a pointer past the call.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dqa {

// Below this many elements a loop runs on the calling thread: waking the OpenMP team costs more
// than the work (a few microseconds).
constexpr int64_t kParallelMin = 1 << 15;

using Dims = std::vector<int64_t>;

// The data of a Float32Array argument; throws a TypeError naming the kernel and argument.
inline float* F32Arg(const Napi::CallbackInfo& info, size_t i, const char* kernel, size_t* length = nullptr) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": argument " +
                                               std::to_string(i) + " must be a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (length) *length = a.ElementLength();
  return a.Data();
}

// The data of a Float32Array argument that must hold at least `need` elements.
inline float* F32ArgSized(const Napi::CallbackInfo& info, size_t i, const char* kernel, int64_t need) {
  size_t length = 0;
  float* p = F32Arg(info, i, kernel, &length);
  if (static_cast<int64_t>(length) < need) {
    throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + kernel + ": argument " +
                                                std::to_string(i) + " holds " +
                                                std::to_string(length) + " values, needs " +
                                                std::to_string(need));
  }
  return p;
}

inline int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* kernel) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": argument " +
                                               std::to_string(i) + " must be a number");
  }
  return v.As<Napi::Number>().Int64Value();
}

inline double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* kernel) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": argument " +
                                               std::to_string(i) + " must be a number");
  }
  return v.As<Napi::Number>().DoubleValue();
}

// A shape (or any list of integers) given as a JavaScript array or an Int32Array.
inline Dims DimsArg(const Napi::CallbackInfo& info, size_t i, const char* kernel) {
  Napi::Value v = info[i];
  Dims out;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
    return out;
  }
  if (!v.IsArray()) {
    throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": argument " +
                                               std::to_string(i) + " must be an array of integers");
  }
  Napi::Array a = v.As<Napi::Array>();
  const uint32_t n = a.Length();
  out.resize(n);
  for (uint32_t k = 0; k < n; k++) out[k] = a.Get(k).As<Napi::Number>().Int64Value();
  return out;
}

inline int64_t Product(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

// Row-major strides of `shape` aligned to the rank of `out`, 0 on broadcast axes (NumPy rules).
inline Dims BroadcastStrides(const Dims& shape, const Dims& out) {
  Dims s(out.size(), 0);
  const size_t offset = out.size() - shape.size();
  int64_t acc = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    s[k + offset] = shape[k] == 1 ? 0 : acc;
    acc *= shape[k];
  }
  return s;
}

// Blocks asynchronous signals on the calling thread while a oneDNN kernel runs, and restores the
// previous mask after. oneDNN 2.x's JIT f32 GEMM kernels (used by sgemm, and by convolutions and
// inner products that fall back to GEMM) point the stack pointer into the heap while they run; a
// signal handled on such a thread (V8's profiler, Ctrl-C handlers, any SIGPROF-based profiler)
// then corrupts the heap (oneDNN issue #4845, fixed in 3.11.2). A blocked signal waits until the
// kernel returns. The team's worker threads block them for good (BlockSignalsInTeam).
class ScopedSignalBlock {
 public:
  ScopedSignalBlock();
  ~ScopedSignalBlock();
  ScopedSignalBlock(const ScopedSignalBlock&) = delete;
  ScopedSignalBlock& operator=(const ScopedSignalBlock&) = delete;

 private:
  unsigned char saved_[256];  // a sigset_t (kept opaque here so <signal.h> stays out)
};

// Blocks asynchronous signals in every OpenMP worker thread of the calling thread's team (not in
// the calling thread itself), so signals go to threads that run no oneDNN kernels.
void BlockSignalsInTeam();

// Registration of each source file's functions on the addon's exports.
void InitElementwise(Napi::Env env, Napi::Object exports);
void InitReduce(Napi::Env env, Napi::Object exports);
void InitDnnl(Napi::Env env, Napi::Object exports);
void InitFused(Napi::Env env, Napi::Object exports);
void InitQuant(Napi::Env env, Napi::Object exports);

}  // namespace dqa
