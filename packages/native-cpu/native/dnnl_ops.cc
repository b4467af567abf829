// Convolutions, depthwise (grouped) convolutions, pooling and matMul on oneDNN 2.x.
//
// Layouts: activations stay NHWC in JavaScript's Float32Arrays (the Backend contract), filters HWIO
// ([fh, fw, inC, outC]; depthwise [fh, fw, C, multiplier]). Each primitive is created once per
// geometry (the first creation JIT-compiles a kernel, ≈ 20 ms) and cached per thread. Filters go
// to the layout oneDNN picks for them (`format_tag::any`: with plain `hwio`/`ohwi` filters oneDNN
// falls back to gemm or reference kernels, 3–1000× slower); the reorder is a few microseconds for
// the filters of a CNN layer. Activations are handed to oneDNN as NHWC by default, which its
// AVX-512/AVX2 kernels take directly; DQA_NATIVE_ACTIVATIONS=any lets oneDNN choose (blocked
// nChw16c) and reorders at each call instead (measured slower here: see the README).
//
// Geometry arrays (from @dqa/core's Conv2DGeometry, in this order):
//   batch, inH, inW, inC, outH, outW, outC, fh, fw, strideH, strideW, dilationH, dilationW,
//   padTop, padBottom, padLeft, padRight, multiplier
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>

#include "common.h"

namespace dqa {
namespace {

using dnnl::algorithm;
using dnnl::engine;
using dnnl::memory;
using dnnl::prop_kind;
using dnnl::stream;
using tag = memory::format_tag;
using dt = memory::data_type;

engine& Engine() {
  static engine e(engine::kind::cpu, 0);
  return e;
}

stream& Stream() {
  thread_local stream s(Engine());
  return s;
}

// Winograd F(4×4, 3×3) for the 3×3 stride-1 convolutions where oneDNN has it (channels in
// multiples of 16, AVX-512): about 1.5× faster than direct NHWC here for each of forward,
// backward-data and backward-weights, reorders to its blocked layout included, at a rounding error
// a few times the direct one's (still far inside the conformance tolerances).
// DQA_NATIVE_CONV_ALGO=direct turns it off.
bool WinogradAllowed() {
  static const bool allowed = [] {
    const char* v = std::getenv("DQA_NATIVE_CONV_ALGO");
    return !(v != nullptr && std::strcmp(v, "direct") == 0);
  }();
  return allowed;
}

bool ActivationsAny() {
  static const bool any = [] {
    const char* v = std::getenv("DQA_NATIVE_ACTIVATIONS");
    return v != nullptr && std::strcmp(v, "any") == 0;
  }();
  return any;
}

struct Geom {
  int64_t n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, mult;
};

Geom GeomArg(const Napi::CallbackInfo& info, size_t i, const char* kernel) {
  const Dims d = DimsArg(info, i, kernel);
  if (d.size() != 18) throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": geometry must have 18 entries");
  return Geom{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16], d[17]};
}

Dims GeomKey(int kind, const Geom& g) {
  return Dims{kind, g.n, g.ih, g.iw, g.ic, g.oh, g.ow, g.oc, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pb, g.pl, g.pr, g.mult};
}

// 64-byte aligned scratch memory, grown on demand and kept with its primitive.
struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(ptr); }
  void* Get(size_t need) {
    if (need > bytes) {
      std::free(ptr);
      ptr = std::aligned_alloc(64, (need + 63) / 64 * 64);
      if (!ptr) throw std::bad_alloc();
      bytes = need;
    }
    return ptr;
  }
};

// Inputs already reordered to a primitive's layout, by (array, version, layout): a convolution's
// input reordered for its forward pass serves its filter gradient too, and dy reordered for the
// input gradient serves the filter gradient. JavaScript gives every array it hands out as a kernel
// output a new version, and arrays never change while they hold a tensor, so an entry is exact
// for as long as its version is current. Version 0: not cached.
class ReorderCache {
 public:
  // The cached copy of (data, version) in layout `prim`, or null.
  void* Find(const void* data, double version, const memory::desc& prim) {
    for (Entry& e : entries_) {
      if (e.data == data && e.version == version && e.version != 0 && e.prim == prim) {
        e.used = ++clock_;
        return e.buf.ptr;
      }
    }
    return nullptr;
  }
  // The buffer to reorder (data, version) into: the least recently used entry's.
  void* Slot(const void* data, double version, const memory::desc& prim) {
    Entry* victim = &entries_[0];
    for (Entry& e : entries_)
      if (e.used < victim->used) victim = &e;
    victim->data = data;
    victim->version = version;
    victim->prim = prim;
    victim->used = ++clock_;
    return victim->buf.Get(prim.get_size());
  }

 private:
  struct Entry {
    const void* data = nullptr;
    double version = 0;
    memory::desc prim;
    uint64_t used = 0;
    Buffer buf;
  };
  Entry entries_[6];
  uint64_t clock_ = 0;
};

ReorderCache& Reordered() {
  thread_local ReorderCache cache;
  return cache;
}

// A primitive argument in the primitive's own layout, moved to/from the user's (plain) layout by
// a cached reorder when the two differ.
struct Staged {
  memory::desc user;
  memory::desc prim;
  bool same = true;
  std::unique_ptr<dnnl::reorder> toPrim, toUser;
  Buffer buf;

  void Init(const memory::desc& u, const memory::desc& p) {
    user = u;
    prim = p;
    same = u == p;
  }
  // Memory for an input: the user's data itself, or its reordered copy (reused while `version`,
  // nonzero, is current: see ReorderCache).
  memory In(const void* data, double version = 0) {
    memory um(user, Engine(), const_cast<void*>(data));
    if (same) return um;
    if (version != 0) {
      if (void* hit = Reordered().Find(data, version, prim)) return memory(prim, Engine(), hit);
    }
    memory pm(prim, Engine(), version != 0 ? Reordered().Slot(data, version, prim) : buf.Get(prim.get_size()));
    if (!toPrim) toPrim = std::make_unique<dnnl::reorder>(um, pm);
    toPrim->execute(Stream(), um, pm);
    return pm;
  }
  // Memory for an output: the user's buffer itself, or scratch to reorder back with `Finish`.
  memory Out(void* data) {
    if (same) return memory(user, Engine(), data);
    return memory(prim, Engine(), buf.Get(prim.get_size()));
  }
  void Finish(memory& pm, void* data) {
    if (same) return;
    memory um(user, Engine(), data);
    if (!toUser) toUser = std::make_unique<dnnl::reorder>(pm, um);
    toUser->execute(Stream(), pm, um);
  }
};

memory::desc ActivationDesc(int64_t n, int64_t c, int64_t h, int64_t w) {
  return memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
}

memory::desc AnyActivation(int64_t n, int64_t c, int64_t h, int64_t w) {
  return memory::desc({n, c, h, w}, dt::f32, ActivationsAny() ? tag::any : tag::nhwc);
}

// How a convolution is computed: the algorithm and the activations' layout tag it is asked with.
struct ConvChoice {
  algorithm algo;
  tag activations;
};

// Filters as @dqa/core stores them: HWIO, or [fh, fw, C, multiplier] as grouped goihw.
memory::desc UserFilterDesc(bool depthwise, const Geom& g) {
  if (depthwise) {
    const int64_t M = g.mult, C = g.ic;
    return memory::desc({C, M, 1, g.kh, g.kw}, dt::f32, memory::dims{M, 1, 1, g.kw * C * M, C * M});
  }
  return memory::desc({g.oc, g.ic, g.kh, g.kw}, dt::f32, memory::dims{1, g.oc, g.kw * g.ic * g.oc, g.ic * g.oc});
}

memory::desc AnyFilterDesc(bool depthwise, const Geom& g) {
  if (depthwise) return memory::desc({g.ic, g.mult, 1, g.kh, g.kw}, dt::f32, tag::any);
  return memory::desc({g.oc, g.ic, g.kh, g.kw}, dt::f32, tag::any);
}

struct ConvGeometry {
  memory::dims strides, dilates, padL, padR;
  explicit ConvGeometry(const Geom& g)
      : strides{g.sh, g.sw}, dilates{g.dh - 1, g.dw - 1}, padL{g.pt, g.pl}, padR{g.pb, g.pr} {}
};

memory::desc Act(const ConvChoice& c, int64_t n, int64_t ch, int64_t h, int64_t w) {
  return memory::desc({n, ch, h, w}, dt::f32, c.activations);
}

// What a forward convolution adds to its output in the same pass: a bias, then an activation.
struct ConvEpilogue {
  bool bias = false;
  int activation = 0;  // 0: none, 1: ReLU
};

dnnl::convolution_forward::primitive_desc ForwardPd(bool depthwise, const Geom& g, const ConvChoice& c,
                                                    const ConvEpilogue& ep = {}) {
  const ConvGeometry cg(g);
  dnnl::primitive_attr attr;
  if (ep.activation == 1) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  if (ep.bias) {
    dnnl::convolution_forward::desc d(prop_kind::forward_training, c.algo, Act(c, g.n, g.ic, g.ih, g.iw),
                                      AnyFilterDesc(depthwise, g), memory::desc({g.oc}, dt::f32, tag::x),
                                      Act(c, g.n, g.oc, g.oh, g.ow), cg.strides, cg.dilates, cg.padL, cg.padR);
    return dnnl::convolution_forward::primitive_desc(d, attr, Engine());
  }
  dnnl::convolution_forward::desc d(prop_kind::forward_training, c.algo, Act(c, g.n, g.ic, g.ih, g.iw),
                                    AnyFilterDesc(depthwise, g), Act(c, g.n, g.oc, g.oh, g.ow), cg.strides,
                                    cg.dilates, cg.padL, cg.padR);
  return dnnl::convolution_forward::primitive_desc(d, attr, Engine());
}

// Creates a primitive descriptor with Winograd where it may apply and oneDNN has it, else direct.
template <typename Make>
auto WithBestAlgorithm(bool depthwise, const Geom& g, Make make) {
  // Channels in whole 16-lane blocks: oneDNN would pad a 1-channel image layer to 16 and run slower
  // than direct.
  const bool eligible = WinogradAllowed() && !depthwise && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 &&
                        g.dh == 1 && g.dw == 1 && g.ic % 16 == 0 && g.oc % 16 == 0;
  if (eligible) {
    try {
      return make(ConvChoice{algorithm::convolution_winograd, tag::any});
    } catch (const dnnl::error&) {
      // Not implemented for this shape or machine: direct below.
    }
  }
  return make(ConvChoice{algorithm::convolution_direct, ActivationsAny() ? tag::any : tag::nhwc});
}

struct ConvFwd {
  dnnl::convolution_forward prim;
  Staged src, wei, dst;
};
struct ConvBwdData {
  dnnl::convolution_backward_data prim;
  Staged diffDst, wei, diffSrc;
};
struct ConvBwdWeights {
  dnnl::convolution_backward_weights prim;
  Staged src, diffDst, diffWei;
};

template <typename T>
using Cache = std::map<Dims, std::unique_ptr<T>>;

ConvFwd& GetConvFwd(bool depthwise, const Geom& g, const ConvEpilogue& ep = {}) {
  thread_local Cache<ConvFwd> cache;
  Dims key = GeomKey(depthwise, g);
  key.push_back(ep.bias ? 1 : 0);
  key.push_back(ep.activation);
  auto& slot = cache[key];
  if (!slot) {
    auto pd =
        WithBestAlgorithm(depthwise, g, [&](const ConvChoice& c) { return ForwardPd(depthwise, g, c, ep); });
    auto e = std::make_unique<ConvFwd>();
    e->prim = dnnl::convolution_forward(pd);
    e->src.Init(ActivationDesc(g.n, g.ic, g.ih, g.iw), pd.src_desc());
    e->wei.Init(UserFilterDesc(depthwise, g), pd.weights_desc());
    e->dst.Init(ActivationDesc(g.n, g.oc, g.oh, g.ow), pd.dst_desc());
    slot = std::move(e);
  }
  return *slot;
}

ConvBwdData& GetConvBwdData(bool depthwise, const Geom& g) {
  thread_local Cache<ConvBwdData> cache;
  auto& slot = cache[GeomKey(depthwise, g)];
  if (!slot) {
    const ConvGeometry cg(g);
    auto pd = WithBestAlgorithm(depthwise, g, [&](const ConvChoice& c) {
      auto hint = ForwardPd(depthwise, g, c);
      dnnl::convolution_backward_data::desc d(c.algo, Act(c, g.n, g.ic, g.ih, g.iw), AnyFilterDesc(depthwise, g),
                                              Act(c, g.n, g.oc, g.oh, g.ow), cg.strides, cg.dilates, cg.padL, cg.padR);
      return dnnl::convolution_backward_data::primitive_desc(d, Engine(), hint);
    });
    auto e = std::make_unique<ConvBwdData>();
    e->prim = dnnl::convolution_backward_data(pd);
    e->diffDst.Init(ActivationDesc(g.n, g.oc, g.oh, g.ow), pd.diff_dst_desc());
    e->wei.Init(UserFilterDesc(depthwise, g), pd.weights_desc());
    e->diffSrc.Init(ActivationDesc(g.n, g.ic, g.ih, g.iw), pd.diff_src_desc());
    slot = std::move(e);
  }
  return *slot;
}

ConvBwdWeights& GetConvBwdWeights(bool depthwise, const Geom& g) {
  thread_local Cache<ConvBwdWeights> cache;
  auto& slot = cache[GeomKey(depthwise, g)];
  if (!slot) {
    const ConvGeometry cg(g);
    auto pd = WithBestAlgorithm(depthwise, g, [&](const ConvChoice& c) {
      auto hint = ForwardPd(depthwise, g, c);
      dnnl::convolution_backward_weights::desc d(c.algo, Act(c, g.n, g.ic, g.ih, g.iw), AnyFilterDesc(depthwise, g),
                                                 Act(c, g.n, g.oc, g.oh, g.ow), cg.strides, cg.dilates, cg.padL,
                                                 cg.padR);
      return dnnl::convolution_backward_weights::primitive_desc(d, Engine(), hint);
    });
    auto e = std::make_unique<ConvBwdWeights>();
    e->prim = dnnl::convolution_backward_weights(pd);
    e->src.Init(ActivationDesc(g.n, g.ic, g.ih, g.iw), pd.src_desc());
    e->diffDst.Init(ActivationDesc(g.n, g.oc, g.oh, g.ow), pd.diff_dst_desc());
    e->diffWei.Init(UserFilterDesc(depthwise, g), pd.diff_weights_desc());
    slot = std::move(e);
  }
  return *slot;
}

void CheckGeom(const Napi::CallbackInfo& info, const Geom& g, bool depthwise, const char* kernel) {
  const bool ok = g.n > 0 && g.ih > 0 && g.iw > 0 && g.ic > 0 && g.oh > 0 && g.ow > 0 && g.oc > 0 && g.kh > 0 &&
                  g.kw > 0 && g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0 && g.pt >= 0 && g.pb >= 0 && g.pl >= 0 &&
                  g.pr >= 0 && g.mult > 0 && (!depthwise || g.oc == g.ic * g.mult);
  if (!ok) throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + kernel + ": invalid geometry");
}

int64_t FilterSize(bool depthwise, const Geom& g) {
  return depthwise ? g.kh * g.kw * g.ic * g.mult : g.kh * g.kw * g.ic * g.oc;
}

// The version JavaScript gave an input array (0: none).
double VersionArg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0;
}

// convForward(depthwise, x, xVersion, filter, filterVersion, geometry, out[, bias | undefined,
//             activation]): activation 0 none, 1 ReLU, applied after the bias in the same pass.
Napi::Value ConvForwardJs(const Napi::CallbackInfo& info) {
  const char* k = "conv2d";
  const bool depthwise = info[0].ToBoolean();
  const Geom g = GeomArg(info, 5, k);
  CheckGeom(info, g, depthwise, k);
  const float* x = F32ArgSized(info, 1, k, g.n * g.ih * g.iw * g.ic);
  const float* w = F32ArgSized(info, 3, k, FilterSize(depthwise, g));
  float* y = F32ArgSized(info, 6, k, g.n * g.oh * g.ow * g.oc);
  ConvEpilogue ep;
  const float* bias = nullptr;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    bias = F32ArgSized(info, 7, k, g.oc);
    ep.bias = true;
  }
  if (info.Length() > 8 && !info[8].IsUndefined()) {
    ep.activation = static_cast<int>(IntArg(info, 8, k));
    if (ep.activation < 0 || ep.activation > 1)
      throw Napi::RangeError::New(info.Env(), "native-cpu conv2d: unknown activation code");
  }
  ConvFwd& e = GetConvFwd(depthwise, g, ep);
  memory src = e.src.In(x, VersionArg(info, 2)), wei = e.wei.In(w, VersionArg(info, 4)), dst = e.dst.Out(y);
  {
    ScopedSignalBlock guard;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(memory::desc({g.oc}, dt::f32, tag::x), Engine(), const_cast<float*>(bias)));
    e.prim.execute(Stream(), args);
  }
  e.dst.Finish(dst, y);
  return info.Env().Undefined();
}

// convBackwardData(depthwise, dy, dyVersion, filter, filterVersion, geometry, out)
Napi::Value ConvBackwardDataJs(const Napi::CallbackInfo& info) {
  const char* k = "conv2dBackpropInput";
  const bool depthwise = info[0].ToBoolean();
  const Geom g = GeomArg(info, 5, k);
  CheckGeom(info, g, depthwise, k);
  const float* dy = F32ArgSized(info, 1, k, g.n * g.oh * g.ow * g.oc);
  const float* w = F32ArgSized(info, 3, k, FilterSize(depthwise, g));
  float* dx = F32ArgSized(info, 6, k, g.n * g.ih * g.iw * g.ic);
  ConvBwdData& e = GetConvBwdData(depthwise, g);
  memory diffDst = e.diffDst.In(dy, VersionArg(info, 2)), wei = e.wei.In(w, VersionArg(info, 4)),
         diffSrc = e.diffSrc.Out(dx);
  {
    ScopedSignalBlock guard;
    e.prim.execute(Stream(), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  }
  e.diffSrc.Finish(diffSrc, dx);
  return info.Env().Undefined();
}

// convBackwardWeights(depthwise, x, xVersion, dy, dyVersion, geometry, out)
Napi::Value ConvBackwardWeightsJs(const Napi::CallbackInfo& info) {
  const char* k = "conv2dBackpropFilter";
  const bool depthwise = info[0].ToBoolean();
  const Geom g = GeomArg(info, 5, k);
  CheckGeom(info, g, depthwise, k);
  const float* x = F32ArgSized(info, 1, k, g.n * g.ih * g.iw * g.ic);
  const float* dy = F32ArgSized(info, 3, k, g.n * g.oh * g.ow * g.oc);
  float* dw = F32ArgSized(info, 6, k, FilterSize(depthwise, g));
  ConvBwdWeights& e = GetConvBwdWeights(depthwise, g);
  memory src = e.src.In(x, VersionArg(info, 2)), diffDst = e.diffDst.In(dy, VersionArg(info, 4)),
         diffWei = e.diffWei.Out(dw);
  {
    ScopedSignalBlock guard;
    e.prim.execute(Stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, diffWei}});
  }
  e.diffWei.Finish(diffWei, dw);
  return info.Env().Undefined();
}

// ── pooling ───────────────────────────────────────────────────────────────────────────────
// Max pooling keeps, per output, the index of its window's first maximum (oneDNN's workspace);
// JavaScript holds the workspace of a forward pass next to its input, so the backward pass
// routes dy without recomputing. Average pooling excludes padding (TensorFlow's rule).

struct PoolFwd {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
  Staged src, dst;
  Buffer ws;  // workspace when the caller keeps none
};
struct PoolBwd {
  dnnl::pooling_backward prim;
  Staged diffDst, diffSrc;
};

dnnl::pooling_forward::primitive_desc PoolPd(bool max, const Geom& g) {
  dnnl::pooling_forward::desc d(prop_kind::forward_training,
                                max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding,
                                AnyActivation(g.n, g.ic, g.ih, g.iw), AnyActivation(g.n, g.ic, g.oh, g.ow),
                                {g.sh, g.sw}, {g.kh, g.kw}, {g.pt, g.pl}, {g.pb, g.pr});
  return dnnl::pooling_forward::primitive_desc(d, Engine());
}

PoolFwd& GetPoolFwd(bool max, const Geom& g) {
  thread_local Cache<PoolFwd> cache;
  auto& slot = cache[GeomKey(max, g)];
  if (!slot) {
    auto e = std::make_unique<PoolFwd>();
    e->pd = PoolPd(max, g);
    e->prim = dnnl::pooling_forward(e->pd);
    e->src.Init(ActivationDesc(g.n, g.ic, g.ih, g.iw), e->pd.src_desc());
    e->dst.Init(ActivationDesc(g.n, g.ic, g.oh, g.ow), e->pd.dst_desc());
    slot = std::move(e);
  }
  return *slot;
}

PoolBwd& GetPoolBwd(bool max, const Geom& g) {
  thread_local Cache<PoolBwd> cache;
  auto& slot = cache[GeomKey(max, g)];
  if (!slot) {
    PoolFwd& f = GetPoolFwd(max, g);
    dnnl::pooling_backward::desc d(max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding,
                                   AnyActivation(g.n, g.ic, g.ih, g.iw), AnyActivation(g.n, g.ic, g.oh, g.ow),
                                   {g.sh, g.sw}, {g.kh, g.kw}, {g.pt, g.pl}, {g.pb, g.pr});
    dnnl::pooling_backward::primitive_desc pd(d, Engine(), f.pd);
    auto e = std::make_unique<PoolBwd>();
    e->prim = dnnl::pooling_backward(pd);
    e->diffDst.Init(ActivationDesc(g.n, g.ic, g.oh, g.ow), pd.diff_dst_desc());
    e->diffSrc.Init(ActivationDesc(g.n, g.ic, g.ih, g.iw), pd.diff_src_desc());
    slot = std::move(e);
  }
  return *slot;
}

void CheckPool(const Napi::CallbackInfo& info, const Geom& g, const char* kernel) {
  const bool ok = g.n > 0 && g.ih > 0 && g.iw > 0 && g.ic > 0 && g.oh > 0 && g.ow > 0 && g.kh > 0 && g.kw > 0 &&
                  g.sh > 0 && g.sw > 0 && g.pt >= 0 && g.pb >= 0 && g.pl >= 0 && g.pr >= 0;
  if (!ok) throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + kernel + ": invalid geometry");
}

// Bytes of the max-pooling workspace for a geometry.
Napi::Value PoolWorkspaceBytesJs(const Napi::CallbackInfo& info) {
  const Geom g = GeomArg(info, 0, "maxPool");
  CheckPool(info, g, "maxPool");
  return Napi::Number::New(info.Env(), static_cast<double>(GetPoolFwd(true, g).pd.workspace_desc().get_size()));
}

void* WorkspaceArg(const Napi::CallbackInfo& info, size_t i, size_t need, const char* kernel) {
  Napi::Value v = info[i];
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), std::string("native-cpu ") + kernel + ": workspace must be a Uint8Array");
  }
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  if (a.ByteLength() < need) throw Napi::RangeError::New(info.Env(), std::string("native-cpu ") + kernel + ": workspace too small");
  return a.Data();
}

// pool(max, x, geometry, out, workspace?)
Napi::Value PoolForwardJs(const Napi::CallbackInfo& info) {
  const bool max = info[0].ToBoolean();
  const char* k = max ? "maxPool" : "avgPool";
  const Geom g = GeomArg(info, 2, k);
  CheckPool(info, g, k);
  const float* x = F32ArgSized(info, 1, k, g.n * g.ih * g.iw * g.ic);
  float* y = F32ArgSized(info, 3, k, g.n * g.oh * g.ow * g.ic);
  PoolFwd& e = GetPoolFwd(max, g);
  ScopedSignalBlock guard;
  memory src = e.src.In(x), dst = e.dst.Out(y);
  if (max) {
    const memory::desc wsd = e.pd.workspace_desc();
    void* ws = WorkspaceArg(info, 4, wsd.get_size(), k);
    memory wsm(wsd, Engine(), ws ? ws : e.ws.Get(wsd.get_size()));
    e.prim.execute(Stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, wsm}});
  } else {
    e.prim.execute(Stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  }
  e.dst.Finish(dst, y);
  return info.Env().Undefined();
}

// poolBackward(max, dy, x | undefined, geometry, out, workspace?): without a workspace, max
// pooling runs the forward pass on x again to find each window's maximum.
Napi::Value PoolBackwardJs(const Napi::CallbackInfo& info) {
  const bool max = info[0].ToBoolean();
  const char* k = max ? "maxPoolBackprop" : "avgPoolBackprop";
  const Geom g = GeomArg(info, 3, k);
  CheckPool(info, g, k);
  const float* dy = F32ArgSized(info, 1, k, g.n * g.oh * g.ow * g.ic);
  float* dx = F32ArgSized(info, 4, k, g.n * g.ih * g.iw * g.ic);
  PoolBwd& e = GetPoolBwd(max, g);
  ScopedSignalBlock guard;
  memory diffDst = e.diffDst.In(dy), diffSrc = e.diffSrc.Out(dx);
  if (max) {
    PoolFwd& f = GetPoolFwd(true, g);
    const memory::desc wsd = f.pd.workspace_desc();
    void* ws = WorkspaceArg(info, 5, wsd.get_size(), k);
    if (!ws) {
      const float* x = F32ArgSized(info, 2, k, g.n * g.ih * g.iw * g.ic);
      ws = f.ws.Get(wsd.get_size());
      Buffer tmp;
      memory src = f.src.In(x);
      memory dst(f.pd.dst_desc(), Engine(), tmp.Get(f.pd.dst_desc().get_size()));
      memory wsm(wsd, Engine(), ws);
      f.prim.execute(Stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, wsm}});
    }
    memory wsm(wsd, Engine(), ws);
    e.prim.execute(Stream(), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_SRC, diffSrc}, {DNNL_ARG_WORKSPACE, wsm}});
  } else {
    e.prim.execute(Stream(), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  }
  e.diffSrc.Finish(diffSrc, dx);
  return info.Env().Undefined();
}

// ── matMul ────────────────────────────────────────────────────────────────────────────────
// matMul(a, aRows, aCols, b, bRows, bCols, transposeA, transposeB, out): op(a) · op(b) with
// oneDNN's row-major sgemm (its JIT GEMM, threaded like the rest).
Napi::Value MatMulJs(const Napi::CallbackInfo& info) {
  const char* k = "matMul";
  const int64_t ar = IntArg(info, 1, k), ac = IntArg(info, 2, k);
  const int64_t br = IntArg(info, 4, k), bc = IntArg(info, 5, k);
  const bool ta = info[6].ToBoolean(), tb = info[7].ToBoolean();
  const int64_t M = ta ? ac : ar, K = ta ? ar : ac;
  const int64_t K2 = tb ? bc : br, N = tb ? br : bc;
  if (K != K2) throw Napi::RangeError::New(info.Env(), "native-cpu matMul: inner dimensions differ");
  const float* a = F32ArgSized(info, 0, k, ar * ac);
  const float* b = F32ArgSized(info, 3, k, br * bc);
  float* out = F32ArgSized(info, 8, k, M * N);
  if (M == 0 || N == 0) return info.Env().Undefined();
  if (K == 0) {
    std::memset(out, 0, sizeof(float) * M * N);
    return info.Env().Undefined();
  }
  ScopedSignalBlock guard;
  const dnnl::status s = dnnl::sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, a, std::max<int64_t>(ac, 1), b,
                                     std::max<int64_t>(bc, 1), 0.0f, out, N);
  if (s != dnnl::status::success) throw Napi::Error::New(info.Env(), "native-cpu matMul: oneDNN sgemm failed (status " + std::to_string(static_cast<int>(s)) + ")");
  return info.Env().Undefined();
}

}  // namespace

void InitDnnl(Napi::Env env, Napi::Object exports) {
  exports.Set("convForward", Napi::Function::New(env, ConvForwardJs, "convForward"));
  exports.Set("convBackwardData", Napi::Function::New(env, ConvBackwardDataJs, "convBackwardData"));
  exports.Set("convBackwardWeights", Napi::Function::New(env, ConvBackwardWeightsJs, "convBackwardWeights"));
  exports.Set("poolWorkspaceBytes", Napi::Function::New(env, PoolWorkspaceBytesJs, "poolWorkspaceBytes"));
  exports.Set("poolForward", Napi::Function::New(env, PoolForwardJs, "poolForward"));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBackwardJs, "poolBackward"));
  exports.Set("matMul", Napi::Function::New(env, MatMulJs, "matMul"));
  const dnnl_version_t* v = dnnl_version();
  exports.Set("dnnlVersion", Napi::String::New(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)));
  exports.Set("dnnlCpuRuntime", Napi::String::New(env, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential" : "other"));
}

}  // namespace dqa
