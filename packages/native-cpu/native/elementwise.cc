// Elementwise kernels: binary ops with NumPy broadcasting, unary ops, clip, where and fill.
// Semantics follow @dqa/core's reference kernels (packages/core/src/reference/elementwise.ts)
// value for value: JavaScript's Math.max/Math.min propagate NaN, comparisons give 0/1 masks,
// relu(NaN) is NaN, sign(NaN) is 0, `step` is 1 where x > 0.
//
// Broadcasting: the operands' strides are aligned to the output, size-1 axes dropped and adjacent
// axes merged where every operand is contiguous across them, so [n, h, w, c] + [c] becomes
// rows × c with the bias repeated: one tight, vectorised inner loop per row.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"

namespace dqa {
namespace {

enum BinaryOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMaximum,
  kMinimum,
  kPow,
  kGreater,
  kGreaterEqual,
  kLess,
  kLessEqual,
  kEqual,
  kBinaryCount
};

enum UnaryOp {
  kNeg,
  kAbs,
  kSign,
  kExp,
  kLog,
  kSqrt,
  kSquare,
  kReciprocal,
  kRelu,
  kSigmoid,
  kTanh,
  kFloor,
  kStep,
  kUnaryCount
};

// Math.max: NaN if either is NaN; +0 beats −0.
inline float JsMax(float a, float b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

inline float JsMin(float a, float b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

template <int OP>
inline float Bin(float a, float b) {
  if constexpr (OP == kAdd) return a + b;
  if constexpr (OP == kSub) return a - b;
  if constexpr (OP == kMul) return a * b;
  if constexpr (OP == kDiv) return a / b;
  if constexpr (OP == kMaximum) return JsMax(a, b);
  if constexpr (OP == kMinimum) return JsMin(a, b);
  // JavaScript's ** in double precision, rounded to float32 as the reference stores it.
  if constexpr (OP == kPow) return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  if constexpr (OP == kGreater) return a > b ? 1.0f : 0.0f;
  if constexpr (OP == kGreaterEqual) return a >= b ? 1.0f : 0.0f;
  if constexpr (OP == kLess) return a < b ? 1.0f : 0.0f;
  if constexpr (OP == kLessEqual) return a <= b ? 1.0f : 0.0f;
  if constexpr (OP == kEqual) return a == b ? 1.0f : 0.0f;
  return 0.0f;
}

// One contiguous run of the output; SA/SB are the operands' strides along it (0 or 1).
template <int OP, int SA, int SB>
void BinaryRun(const float* __restrict a, const float* __restrict b, float* __restrict o, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) o[i] = Bin<OP>(a[i * SA], b[i * SB]);
}

using RunFn = void (*)(const float*, const float*, float*, int64_t);

template <int OP>
RunFn PickRun(int sa, int sb) {
  if (sa && sb) return BinaryRun<OP, 1, 1>;
  if (sa) return BinaryRun<OP, 1, 0>;
  if (sb) return BinaryRun<OP, 0, 1>;
  return BinaryRun<OP, 0, 0>;
}

RunFn PickBinary(int op, int sa, int sb) {
  switch (op) {
    case kAdd: return PickRun<kAdd>(sa, sb);
    case kSub: return PickRun<kSub>(sa, sb);
    case kMul: return PickRun<kMul>(sa, sb);
    case kDiv: return PickRun<kDiv>(sa, sb);
    case kMaximum: return PickRun<kMaximum>(sa, sb);
    case kMinimum: return PickRun<kMinimum>(sa, sb);
    case kPow: return PickRun<kPow>(sa, sb);
    case kGreater: return PickRun<kGreater>(sa, sb);
    case kGreaterEqual: return PickRun<kGreaterEqual>(sa, sb);
    case kLess: return PickRun<kLess>(sa, sb);
    case kLessEqual: return PickRun<kLessEqual>(sa, sb);
    case kEqual: return PickRun<kEqual>(sa, sb);
    default: return nullptr;
  }
}

// The output as rows × inner with each operand's aligned strides; size-1 axes dropped and axes
// merged where every operand continues contiguously (or stays broadcast) across them.
struct Plan {
  Dims dims;                  // outer axes then the inner one (at least one axis)
  std::vector<Dims> strides;  // per operand, aligned to dims
  int64_t inner() const { return dims.back(); }
  int64_t rows() const {
    int64_t r = 1;
    for (size_t k = 0; k + 1 < dims.size(); k++) r *= dims[k];
    return r;
  }
  // Offsets of each operand at the start of row `r`.
  void RowOffsets(int64_t r, int64_t* off) const {
    const size_t nOps = strides.size();
    for (size_t j = 0; j < nOps; j++) off[j] = 0;
    for (size_t k = dims.size() - 1; k-- > 0;) {
      const int64_t i = r % dims[k];
      r /= dims[k];
      for (size_t j = 0; j < nOps; j++) off[j] += i * strides[j][k];
    }
  }
};

// Walks rows [begin, end) of a plan, keeping each operand's row offset incrementally (an odometer
// over the outer axes: no division per row).
template <size_t N, typename Visit>
void ForRows(const Plan& p, int64_t begin, int64_t end, Visit visit) {
  if (begin >= end) return;
  const size_t outer = p.dims.size() - 1;
  int64_t off[N];
  p.RowOffsets(begin, off);
  Dims idx(outer, 0);
  for (int64_t r = begin, k = static_cast<int64_t>(outer); k-- > 0;) {
    idx[k] = r % p.dims[k];
    r /= p.dims[k];
  }
  for (int64_t r = begin; r < end; r++) {
    visit(r, off);
    for (size_t k = outer; k-- > 0;) {
      for (size_t j = 0; j < N; j++) off[j] += p.strides[j][k];
      if (++idx[k] < p.dims[k]) break;
      for (size_t j = 0; j < N; j++) off[j] -= p.strides[j][k] * p.dims[k];
      idx[k] = 0;
    }
  }
}

// Splits rows evenly over the team (when the work is large enough) and walks each share.
template <size_t N, typename Visit>
void ParallelRows(const Plan& p, Visit visit) {
  const int64_t rows = p.rows();
  const bool parallel = rows > 1 && rows * p.inner() >= kParallelMin;
#pragma omp parallel if (parallel)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    ForRows<N>(p, rows * t / nt, rows * (t + 1) / nt, visit);
  }
}

Plan MakePlan(const Dims& out, const std::vector<Dims>& shapes) {
  std::vector<Dims> aligned;
  for (const Dims& s : shapes) aligned.push_back(BroadcastStrides(s, out));
  Plan p;
  p.strides.resize(shapes.size());
  for (size_t k = 0; k < out.size(); k++) {
    if (out[k] == 1) continue;
    bool merge = !p.dims.empty();
    if (merge) {
      for (size_t j = 0; j < shapes.size(); j++) {
        if (p.strides[j].back() != aligned[j][k] * out[k]) merge = false;
      }
    }
    if (merge) {
      p.dims.back() *= out[k];
      for (size_t j = 0; j < shapes.size(); j++) p.strides[j].back() = aligned[j][k];
    } else {
      p.dims.push_back(out[k]);
      for (size_t j = 0; j < shapes.size(); j++) p.strides[j].push_back(aligned[j][k]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (auto& s : p.strides) s.push_back(0);
  }
  return p;
}

void Binary(int op, const float* a, const Dims& aShape, const float* b, const Dims& bShape,
            const Dims& outShape, float* out) {
  const Plan p = MakePlan(outShape, {aShape, bShape});
  const int64_t inner = p.inner();
  const int64_t rows = p.rows();
  const int sa = p.strides[0].back() != 0;
  const int sb = p.strides[1].back() != 0;
  RunFn run = PickBinary(op, sa, sb);
  const int64_t total = rows * inner;
  // A short vector repeated along every row (a bias over the channels of an NHWC tensor): tile
  // it to a few thousand values and run long contiguous chunks instead of one short run per row.
  // The other operand is contiguous, or one number (a broadcast of the vector to a full shape).
  const auto full = [&](int j) { return p.strides[j][0] == inner && p.strides[j][1] == 1; };
  const auto scalar = [&](int j) { return p.strides[j][0] == 0 && p.strides[j][1] == 0; };
  const auto vector = [&](int j) { return p.strides[j][0] == 0 && p.strides[j][1] == 1; };
  const bool periodicB = p.dims.size() == 2 && vector(1) && (full(0) || scalar(0));
  const bool periodicA = p.dims.size() == 2 && vector(0) && (full(1) || scalar(1));
  if ((periodicA || periodicB) && inner < 1024 && total >= 4096) {
    const int64_t reps = std::max<int64_t>(1, 4096 / inner);
    const int64_t chunk = reps * inner;
    std::vector<float> tiled(static_cast<size_t>(chunk));
    const float* period = periodicB ? b : a;
    for (int64_t r = 0; r < reps; r++) std::copy(period, period + inner, tiled.data() + r * inner);
    const int64_t chunks = (total + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (total >= kParallelMin)
    for (int64_t c = 0; c < chunks; c++) {
      const int64_t s = c * chunk;
      const int64_t n = std::min(chunk, total - s);
      if (periodicB) run(a + s * sa, tiled.data(), out + s, n);
      else run(tiled.data(), b + s * sb, out + s, n);
    }
    return;
  }
  if (rows == 1) {
    // One long run: split it into chunks across the team.
    const int64_t chunk = 1 << 14;
    const int64_t chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (total >= kParallelMin)
    for (int64_t c = 0; c < chunks; c++) {
      const int64_t s = c * chunk;
      const int64_t n = std::min(chunk, inner - s);
      run(a + s * sa, b + s * sb, out + s, n);
    }
    return;
  }
  ParallelRows<2>(p, [&](int64_t r, const int64_t* off) { run(a + off[0], b + off[1], out + r * inner, inner); });
}

template <int OP>
inline float Un(float x) {
  if constexpr (OP == kNeg) return -x;
  if constexpr (OP == kAbs) return std::fabs(x);
  if constexpr (OP == kSign) return x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f);
  if constexpr (OP == kExp) return std::exp(x);
  if constexpr (OP == kLog) return std::log(x);
  if constexpr (OP == kSqrt) return std::sqrt(x);
  if constexpr (OP == kSquare) return x * x;
  if constexpr (OP == kReciprocal) return 1.0f / x;
  if constexpr (OP == kRelu) return (x > 0 || x != x) ? x : 0.0f;
  if constexpr (OP == kSigmoid) return 1.0f / (1.0f + std::exp(-x));
  if constexpr (OP == kTanh) return std::tanh(x);
  if constexpr (OP == kFloor) return std::floor(x);
  if constexpr (OP == kStep) return x > 0 ? 1.0f : 0.0f;
  return 0.0f;
}

template <int OP>
void UnaryLoop(const float* __restrict x, float* __restrict o, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) o[i] = Un<OP>(x[i]);
}

void Unary(int op, const float* x, float* out, int64_t n) {
  switch (op) {
    case kNeg: return UnaryLoop<kNeg>(x, out, n);
    case kAbs: return UnaryLoop<kAbs>(x, out, n);
    case kSign: return UnaryLoop<kSign>(x, out, n);
    case kExp: return UnaryLoop<kExp>(x, out, n);
    case kLog: return UnaryLoop<kLog>(x, out, n);
    case kSqrt: return UnaryLoop<kSqrt>(x, out, n);
    case kSquare: return UnaryLoop<kSquare>(x, out, n);
    case kReciprocal: return UnaryLoop<kReciprocal>(x, out, n);
    case kRelu: return UnaryLoop<kRelu>(x, out, n);
    case kSigmoid: return UnaryLoop<kSigmoid>(x, out, n);
    case kTanh: return UnaryLoop<kTanh>(x, out, n);
    case kFloor: return UnaryLoop<kFloor>(x, out, n);
    case kStep: return UnaryLoop<kStep>(x, out, n);
  }
}

// binary(op, a, aShape, b, bShape, outShape, out)
Napi::Value BinaryJs(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(IntArg(info, 0, "binary"));
  if (op < 0 || op >= kBinaryCount) throw Napi::RangeError::New(info.Env(), "native-cpu binary: unknown op code " + std::to_string(op));
  const Dims aShape = DimsArg(info, 2, "binary");
  const Dims bShape = DimsArg(info, 4, "binary");
  const Dims outShape = DimsArg(info, 5, "binary");
  const float* a = F32ArgSized(info, 1, "binary", Product(aShape));
  const float* b = F32ArgSized(info, 3, "binary", Product(bShape));
  float* out = F32ArgSized(info, 6, "binary", Product(outShape));
  Binary(op, a, aShape, b, bShape, outShape, out);
  return info.Env().Undefined();
}

// unary(op, x, size, out)
Napi::Value UnaryJs(const Napi::CallbackInfo& info) {
  const int op = static_cast<int>(IntArg(info, 0, "unary"));
  if (op < 0 || op >= kUnaryCount) throw Napi::RangeError::New(info.Env(), "native-cpu unary: unknown op code " + std::to_string(op));
  const int64_t n = IntArg(info, 2, "unary");
  const float* x = F32ArgSized(info, 1, "unary", n);
  float* out = F32ArgSized(info, 3, "unary", n);
  Unary(op, x, out, n);
  return info.Env().Undefined();
}

// clip(x, size, lo, hi, out): v < lo ? lo : Math.min(v, hi) (NaN stays NaN).
Napi::Value ClipJs(const Napi::CallbackInfo& info) {
  const int64_t n = IntArg(info, 1, "clip");
  const float* x = F32ArgSized(info, 0, "clip", n);
  const float lo = static_cast<float>(NumberArg(info, 2, "clip"));
  const float hi = static_cast<float>(NumberArg(info, 3, "clip"));
  float* out = F32ArgSized(info, 4, "clip", n);
  // Branch-free (vectorised) form of JsMin(v, hi); NaN passes through both comparisons.
  const bool hiNegZero = hi == 0.0f && std::signbit(hi);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    float r = v > hi ? hi : v;
    if (hiNegZero && v == 0.0f) r = hi;  // Math.min(+0, −0) is −0
    out[i] = v < lo ? lo : r;
  }
  return info.Env().Undefined();
}

// where(cond, condShape, a, aShape, b, bShape, outShape, out): cond != 0 ? a : b.
Napi::Value WhereJs(const Napi::CallbackInfo& info) {
  const Dims cShape = DimsArg(info, 1, "where");
  const Dims aShape = DimsArg(info, 3, "where");
  const Dims bShape = DimsArg(info, 5, "where");
  const Dims outShape = DimsArg(info, 6, "where");
  const float* c = F32ArgSized(info, 0, "where", Product(cShape));
  const float* a = F32ArgSized(info, 2, "where", Product(aShape));
  const float* b = F32ArgSized(info, 4, "where", Product(bShape));
  float* out = F32ArgSized(info, 7, "where", Product(outShape));
  const Plan p = MakePlan(outShape, {cShape, aShape, bShape});
  const int64_t inner = p.inner();
  const int64_t sc = p.strides[0].back(), sa = p.strides[1].back(), sb = p.strides[2].back();
  ParallelRows<3>(p, [&](int64_t r, const int64_t* off) {
    const float* cr = c + off[0];
    const float* ar = a + off[1];
    const float* br = b + off[2];
    float* o = out + r * inner;
    for (int64_t i = 0; i < inner; i++) o[i] = cr[i * sc] != 0.0f ? ar[i * sa] : br[i * sb];
  });
  return info.Env().Undefined();
}

// fill(out, size, value)
Napi::Value FillJs(const Napi::CallbackInfo& info) {
  const int64_t n = IntArg(info, 1, "fill");
  float* out = F32ArgSized(info, 0, "fill", n);
  const float v = static_cast<float>(NumberArg(info, 2, "fill"));
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = v;
  return info.Env().Undefined();
}

}  // namespace

void InitElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, BinaryJs, "binary"));
  exports.Set("unary", Napi::Function::New(env, UnaryJs, "unary"));
  exports.Set("clip", Napi::Function::New(env, ClipJs, "clip"));
  exports.Set("where", Napi::Function::New(env, WhereJs, "where"));
  exports.Set("fill", Napi::Function::New(env, FillJs, "fill"));
}

}  // namespace dqa
