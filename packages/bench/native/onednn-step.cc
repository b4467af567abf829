// The plain oneDNN C++ float training step of `dqa bench speed`: the limit the native backends
// are measured against (issue 6). It builds the exact FP training step of the bench's models as
// @dqa/models specifies them (packages/models/src/architectures/cnn-small.ts, resnet20.ts,
// resnet-block.ts) directly on oneDNN 2.x, with nothing between the primitives:
//
//   forward, softmax cross-entropy, backward, SGD with momentum (v <- mu v + g, w <- w - lr v, as
//   packages/core/src/train/sgd.ts) and batch norm's moving statistics, on one fixed random batch.
//
// How it is fast: activations stay in the layouts oneDNN picks (`format_tag::any`: 16-channel
// blocked with AVX-512), weights live in the convolutions' own layouts, and a reorder appears only
// where two primitives disagree (the input image, in practice). ReLU is fused: into the
// convolution as a post-op (small CNN), into batch norm (`fuse_norm_relu`, ResNet-20) and into the
// residual add (binary post-op); its backward is `eltwise_relu_use_dst_for_bwd` on the stored
// output. Every primitive is created once, before the first step.
//
//   onednn-step --models small-cnn,resnet20 --batch small-cnn=64,resnet20=128 --warmup 2
//               --steps 20 --time-budget 30 --min-steps 3 --lr 0.01 --momentum 0.9 --threads 2
//               [--variants fp] [--print-loss] [--grad-check]
//
// Writes the JSON lines of packages/bench/src/speed/protocol.ts on stdout: `hello`, `progress`
// after each step, `cell` (timed step durations in ms, trainable parameter count, last loss) or
// `cell-error`. With --print-loss, also `{"type":"loss","model":…,"step":i,"loss":…}` per step;
// with --grad-check, first one `{"type":"grad-check",…,"tensor":…,"analytic":…,"numeric":…}` per
// parameter tensor: the backward pass's directional derivative along that tensor's gradient
// against a central difference.
// Build: g++ -std=c++17 -O3 -fopenmp onednn-step.cc -ldnnl (packages/bench/src/speed/onednn.ts).

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using dims = memory::dims;
using tag = memory::format_tag;
using dt = memory::data_type;

/** A primitive with its arguments, bound once. */
struct Exec {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
};

/**
 * An activation. `md` is its layout (whatever the producing primitive chose); its gradient has the
 * same layout. Consumers register their gradient contributions; the producer sums them.
 */
struct Tensor {
  memory value;
  memory::desc md;
  bool needs_grad = true;
  struct Contribution {
    memory mem;
    /** Written by this contribution alone, so it may be accumulated into in place. */
    bool owned;
  };
  std::vector<Contribution> contributions;
};
using TensorPtr = std::shared_ptr<Tensor>;

/** A trainable tensor in its primitive's layout, with its gradient and momentum buffer. */
struct Param {
  std::string name;
  memory weights, grad, velocity;
  long long count;
};

/** TensorFlow's 'same' padding (as core's shape.ts): out = ceil(in / stride), extra pixel after. */
struct SamePad {
  long long out, before, after;
};
SamePad same_padding(long long in, long long k, long long stride) {
  const long long out = (in + stride - 1) / stride;
  const long long total = std::max((out - 1) * stride + k - in, 0LL);
  return {out, total / 2, total - total / 2};
}

memory::desc any_md(const dims& d) { return memory::desc(d, dt::f32, tag::any); }

float* data(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

/** A small graph of oneDNN primitives: forward in build order, backward built in reverse. */
class Net {
 public:
  Net(dnnl::engine& eng, dnnl::stream& strm, unsigned seed) : eng_(eng), strm_(strm), rng_(seed) {}

  TensorPtr input(const dims& d) {
    auto t = tensor(memory::desc(d, dt::f32, tag::nchw));
    t->needs_grad = false;
    std::uniform_real_distribution<float> u(0.f, 1.f);
    float* p = data(t->value);
    for (size_t i = 0; i < t->md.get_size() / sizeof(float); i++) p[i] = u(rng_);
    return t;
  }

  /** conv2d 'same' (TF padding), He-normal kernel, optional bias, optional fused ReLU. */
  TensorPtr conv(const TensorPtr& x, long long oc, long long k, long long stride, bool bias,
                 bool relu, const std::string& name) {
    const dims xd = x->md.dims();
    const long long n = xd[0], ic = xd[1];
    const SamePad ph = same_padding(xd[2], k, stride), pw = same_padding(xd[3], k, stride);
    const dims yd{n, oc, ph.out, pw.out}, wd{oc, ic, k, k}, bd{oc};
    const dims strides{stride, stride}, pl{ph.before, pw.before}, pr{ph.after, pw.after};
    auto desc = bias ? dnnl::convolution_forward::desc(
                           prop_kind::forward_training, algorithm::convolution_direct, any_md(xd),
                           any_md(wd), any_md(bd), any_md(yd), strides, pl, pr)
                     : dnnl::convolution_forward::desc(
                           prop_kind::forward_training, algorithm::convolution_direct, any_md(xd),
                           any_md(wd), any_md(yd), strides, pl, pr);
    dnnl::primitive_attr attr;
    if (relu) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    dnnl::convolution_forward::primitive_desc pd(desc, attr, eng_);
    note_impl("conv", pd.impl_info_str());
    const float he = std::sqrt(2.f / static_cast<float>(ic * k * k));
    Param& kernel = param(name + "/kernel", pd.weights_desc(), memory::desc(wd, dt::f32, tag::oihw),
                          [&](float* p, size_t len) { normal(p, len, he); });
    Param* b = bias ? &param(name + "/bias", pd.bias_desc(), memory::desc(bd, dt::f32, tag::x),
                             [](float* p, size_t len) { std::fill(p, p + len, 0.f); })
                    : nullptr;
    auto y = tensor(pd.dst_desc());
    memory src = adapt_in(x->value, pd.src_desc(), fwd_);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, kernel.weights}, {DNNL_ARG_DST, y->value}};
    if (b) args[DNNL_ARG_BIAS] = b->weights;
    fwd_.push_back({dnnl::convolution_forward(pd), args});

    memory kw = kernel.weights, kg = kernel.grad, bg = b ? b->grad : memory();
    backward_.push_back([=](std::vector<Exec>& ops) {
      memory dy = gradient(*y, ops);
      if (relu) dy = relu_backward(y->value, y->md, dy, ops);
      // Weight (and bias) gradients.
      auto wdesc = bias ? dnnl::convolution_backward_weights::desc(
                              algorithm::convolution_direct, any_md(xd), any_md(wd), any_md(bd),
                              any_md(yd), strides, pl, pr)
                        : dnnl::convolution_backward_weights::desc(
                              algorithm::convolution_direct, any_md(xd), any_md(wd), any_md(yd),
                              strides, pl, pr);
      dnnl::convolution_backward_weights::primitive_desc wpd(wdesc, eng_, pd);
      std::vector<Exec> after;
      std::unordered_map<int, memory> wargs{
          {DNNL_ARG_SRC, adapt_in(src, wpd.src_desc(), ops)},
          {DNNL_ARG_DIFF_DST, adapt_in(dy, wpd.diff_dst_desc(), ops)},
          {DNNL_ARG_DIFF_WEIGHTS, adapt_out(kg, wpd.diff_weights_desc(), after)}};
      if (bias) wargs[DNNL_ARG_DIFF_BIAS] = adapt_out(bg, wpd.diff_bias_desc(), after);
      ops.push_back({dnnl::convolution_backward_weights(wpd), wargs});
      ops.insert(ops.end(), after.begin(), after.end());
      if (!x->needs_grad) return;
      // Input gradient.
      dnnl::convolution_backward_data::desc ddesc(algorithm::convolution_direct, any_md(xd),
                                                  any_md(wd), any_md(yd), strides, pl, pr);
      dnnl::convolution_backward_data::primitive_desc dpd(ddesc, eng_, pd);
      memory dx = zeroed(dpd.diff_src_desc());
      std::unordered_map<int, memory> dargs{
          {DNNL_ARG_WEIGHTS, adapt_in(kw, dpd.weights_desc(), ops)},
          {DNNL_ARG_DIFF_DST, adapt_in(dy, dpd.diff_dst_desc(), ops)},
          {DNNL_ARG_DIFF_SRC, dx}};
      ops.push_back({dnnl::convolution_backward_data(dpd), dargs});
      contribute(*x, dx, true, ops);
    });
    return y;
  }

  /** Batch norm in training mode (batch statistics), scale 1, shift 0, optional fused ReLU. */
  TensorPtr batch_norm(const TensorPtr& x, bool relu, const std::string& name) {
    const long long c = x->md.dims()[1];
    auto flags = dnnl::normalization_flags::use_scale_shift;
    if (relu) flags |= dnnl::normalization_flags::fuse_norm_relu;
    dnnl::batch_normalization_forward::desc desc(prop_kind::forward_training, x->md, kEpsilon,
                                                 flags);
    dnnl::batch_normalization_forward::primitive_desc pd(desc, eng_);
    note_impl("batch norm", pd.impl_info_str());
    Param& ss = param(name + "/scale_shift", pd.weights_desc(),
                      memory::desc({2, c}, dt::f32, tag::nc), [c](float* p, size_t) {
                        std::fill(p, p + c, 1.f);
                        std::fill(p + c, p + 2 * c, 0.f);
                      });
    memory mean(pd.mean_desc(), eng_), var(pd.variance_desc(), eng_);
    memory ws = relu ? memory(pd.workspace_desc(), eng_) : memory();
    moving_stat(mean, 0.f);
    moving_stat(var, 1.f);
    auto y = tensor(pd.dst_desc());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x->value},  {DNNL_ARG_DST, y->value},
                                         {DNNL_ARG_SCALE_SHIFT, ss.weights},
                                         {DNNL_ARG_MEAN, mean},     {DNNL_ARG_VARIANCE, var}};
    if (relu) args[DNNL_ARG_WORKSPACE] = ws;
    fwd_.push_back({dnnl::batch_normalization_forward(pd), args});

    memory sw = ss.weights, sg = ss.grad;
    backward_.push_back([=](std::vector<Exec>& ops) {
      memory dy = gradient(*y, ops);
      dnnl::batch_normalization_backward::desc bdesc(prop_kind::backward, y->md, x->md, kEpsilon,
                                                     flags);
      dnnl::batch_normalization_backward::primitive_desc bpd(bdesc, eng_, pd);
      memory dx = zeroed(bpd.diff_src_desc());
      std::vector<Exec> after;
      std::unordered_map<int, memory> bargs{
          {DNNL_ARG_SRC, x->value},
          {DNNL_ARG_MEAN, mean},
          {DNNL_ARG_VARIANCE, var},
          {DNNL_ARG_DIFF_DST, adapt_in(dy, bpd.diff_dst_desc(), ops)},
          {DNNL_ARG_SCALE_SHIFT, sw},
          {DNNL_ARG_DIFF_SRC, dx},
          {DNNL_ARG_DIFF_SCALE_SHIFT, adapt_out(sg, bpd.diff_weights_desc(), after)}};
      if (relu) bargs[DNNL_ARG_WORKSPACE] = ws;
      ops.push_back({dnnl::batch_normalization_backward(bpd), bargs});
      ops.insert(ops.end(), after.begin(), after.end());
      if (x->needs_grad) contribute(*x, dx, true, ops);
    });
    return y;
  }

  /** relu(a + b): the end of a residual block, ReLU as the binary primitive's post-op. */
  TensorPtr add_relu(const TensorPtr& a, const TensorPtr& b) {
    dnnl::binary::desc desc(algorithm::binary_add, a->md, b->md, a->md);
    dnnl::post_ops po;
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    dnnl::binary::primitive_desc pd(desc, attr, eng_);
    note_impl("add", pd.impl_info_str());
    auto y = tensor(pd.dst_desc());
    fwd_.push_back({dnnl::binary(pd),
                    {{DNNL_ARG_SRC_0, a->value}, {DNNL_ARG_SRC_1, b->value}, {DNNL_ARG_DST, y->value}}});
    backward_.push_back([=](std::vector<Exec>& ops) {
      memory d = relu_backward(y->value, y->md, gradient(*y, ops), ops);
      // The sum's gradient flows unchanged into both operands: one buffer, shared (not owned).
      if (a->needs_grad) contribute(*a, d, false, ops);
      if (b->needs_grad) contribute(*b, d, false, ops);
    });
    return y;
  }

  /** Max pooling k×k, stride k, 'valid'. */
  TensorPtr max_pool(const TensorPtr& x, long long k) {
    const dims xd = x->md.dims();
    return pool(x, algorithm::pooling_max, {k, k}, {k, k},
                {xd[0], xd[1], (xd[2] - k) / k + 1, (xd[3] - k) / k + 1});
  }

  /** Global average pooling: N×C×H×W → N×C×1×1. */
  TensorPtr global_avg_pool(const TensorPtr& x) {
    const dims xd = x->md.dims();
    return pool(x, algorithm::pooling_avg_exclude_padding, {xd[2], xd[3]}, {1, 1},
                {xd[0], xd[1], 1, 1});
  }

  /**
   * Dense layer over the flattened input (an inner product reads the 4-D blocked tensor as it is:
   * no flatten copy). Glorot-uniform kernel, zero bias. Logits in plain N×units.
   */
  TensorPtr dense(const TensorPtr& x, long long units, const std::string& name) {
    const dims xd = x->md.dims();
    long long fan_in = 1;
    for (size_t i = 1; i < xd.size(); i++) fan_in *= xd[i];
    dims wd{units};
    wd.insert(wd.end(), xd.begin() + 1, xd.end());
    const dims bd{units}, yd{xd[0], units};
    dnnl::inner_product_forward::desc desc(prop_kind::forward_training, x->md, any_md(wd),
                                           any_md(bd), memory::desc(yd, dt::f32, tag::nc));
    dnnl::inner_product_forward::primitive_desc pd(desc, eng_);
    note_impl("dense", pd.impl_info_str());
    const float limit = std::sqrt(6.f / static_cast<float>(fan_in + units));
    const tag plain = xd.size() == 4 ? tag::oihw : tag::oi;
    Param& kernel = param(name + "/kernel", pd.weights_desc(), memory::desc(wd, dt::f32, plain),
                          [&](float* p, size_t len) { uniform(p, len, limit); });
    Param& b = param(name + "/bias", pd.bias_desc(), memory::desc(bd, dt::f32, tag::x),
                     [](float* p, size_t len) { std::fill(p, p + len, 0.f); });
    auto y = tensor(pd.dst_desc());
    fwd_.push_back({dnnl::inner_product_forward(pd),
                    {{DNNL_ARG_SRC, x->value},
                     {DNNL_ARG_WEIGHTS, kernel.weights},
                     {DNNL_ARG_BIAS, b.weights},
                     {DNNL_ARG_DST, y->value}}});
    memory kw = kernel.weights, kg = kernel.grad, bg = b.grad;
    backward_.push_back([=](std::vector<Exec>& ops) {
      memory dy = gradient(*y, ops);
      dnnl::inner_product_backward_weights::desc wdesc(x->md, any_md(wd), any_md(bd), y->md);
      dnnl::inner_product_backward_weights::primitive_desc wpd(wdesc, eng_, pd);
      std::vector<Exec> after;
      std::unordered_map<int, memory> wargs{
          {DNNL_ARG_SRC, adapt_in(x->value, wpd.src_desc(), ops)},
          {DNNL_ARG_DIFF_DST, adapt_in(dy, wpd.diff_dst_desc(), ops)},
          {DNNL_ARG_DIFF_WEIGHTS, adapt_out(kg, wpd.diff_weights_desc(), after)},
          {DNNL_ARG_DIFF_BIAS, adapt_out(bg, wpd.diff_bias_desc(), after)}};
      ops.push_back({dnnl::inner_product_backward_weights(wpd), wargs});
      ops.insert(ops.end(), after.begin(), after.end());
      if (!x->needs_grad) return;
      dnnl::inner_product_backward_data::desc ddesc(x->md, any_md(wd), y->md);
      dnnl::inner_product_backward_data::primitive_desc dpd(ddesc, eng_, pd);
      memory dx = zeroed(dpd.diff_src_desc());
      ops.push_back({dnnl::inner_product_backward_data(dpd),
                     {{DNNL_ARG_WEIGHTS, adapt_in(kw, dpd.weights_desc(), ops)},
                      {DNNL_ARG_DIFF_DST, adapt_in(dy, dpd.diff_dst_desc(), ops)},
                      {DNNL_ARG_DIFF_SRC, dx}}});
      contribute(*x, dx, true, ops);
    });
    return y;
  }

  /**
   * Mean softmax cross-entropy of `logits` (plain N×classes) against `labels`: oneDNN's softmax,
   * then the loss and its gradient (p − onehot) / N in one pass over the N×classes values.
   */
  void softmax_cross_entropy(const TensorPtr& logits, std::vector<int> labels) {
    dnnl::softmax_forward::desc desc(prop_kind::forward_training, logits->md, 1);
    dnnl::softmax_forward::primitive_desc pd(desc, eng_);
    probs_ = memory(pd.dst_desc(), eng_);
    softmax_ = {dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, logits->value}, {DNNL_ARG_DST, probs_}}};
    dlogits_ = zeroed(logits->md);
    std::vector<Exec> none;  // same layout: no reorder
    contribute(*logits, dlogits_, true, none);
    labels_ = std::move(labels);
    classes_ = logits->md.dims()[1];
  }

  /** Builds the backward pass (in reverse) and the SGD and moving-statistics updates. */
  void finalize(float lr, float momentum) {
    for (auto it = backward_.rbegin(); it != backward_.rend(); ++it) (*it)(bwd_);
    // Every parameter, gradient and momentum buffer moves into one flat buffer each (same slots),
    // so SGD is two oneDNN sums over all parameters at once, not two per tensor.
    std::vector<memory> w, g, v;
    for (auto& p : params_) {
      w.push_back(p.weights);
      g.push_back(p.grad);
      v.push_back(p.velocity);
    }
    flat_.push_back(flatten(w));
    flat_.push_back(flatten(g));
    flat_.push_back(flatten(v));
    // v ← μ·v + g, then w ← w − lr·v (sgd.ts; in place: the sum's dst is its first source).
    update_.push_back(scaled_sum(flat_[2], momentum, flat_[1], 1.f));
    update_.push_back(scaled_sum(flat_[0], 1.f, flat_[2], -lr));
    // Batch norm's moving statistics: moving ← 0.9·moving + 0.1·batch (@dqa/models' momentum).
    if (!moving_.empty()) {
      std::vector<memory> batch, moving;
      for (auto& [b, m] : moving_) {
        batch.push_back(b);
        moving.push_back(m);
      }
      flat_.push_back(flatten(batch));
      flat_.push_back(flatten(moving));
      update_.push_back(scaled_sum(flat_[4], kStatMomentum, flat_[3], 1.f - kStatMomentum));
    }
  }

  /** One training step; returns its loss. */
  float step() {
    const float loss = forward_loss();
    run(bwd_);
    run(update_);
    strm_.wait();
    return loss;
  }

  /** One parameter tensor's gradient check: the analytic and the numeric directional derivative. */
  struct GradCheck {
    std::string tensor;
    double analytic, numeric;
  };

  /**
   * Checks the backward pass, one parameter tensor at a time: along u = ∇_p L / |∇_p L| (that
   * tensor's own gradient direction) the directional derivative is |∇_p L| (analytic); the central
   * difference (L(p + εu) − L(p − εu)) / 2ε must agree (numeric). A wrong or missing gradient term
   * of any tensor shows in its own check. (A random direction over all parameters gives a tiny
   * derivative that float32 round-off of the deep ResNet drowns, and a check along the whole
   * gradient is dominated by the last layers.) Leaves the parameters as they were.
   */
  std::vector<GradCheck> gradient_check(float eps) {
    forward_loss();
    run(bwd_);
    strm_.wait();
    const size_t total = flat_[1].get_desc().get_size() / sizeof(float);
    const std::vector<float> grad(data(flat_[1]), data(flat_[1]) + total);
    const float* g0 = data(flat_[1]);
    std::vector<GradCheck> out;
    for (auto& p : params_) {
      float* w = data(p.weights);
      const size_t n = p.weights.get_desc().get_size() / sizeof(float);
      const float* g = grad.data() + (data(p.grad) - g0);
      const std::vector<float> w0(w, w + n);
      double norm = 0;
      for (size_t i = 0; i < n; i++) norm += static_cast<double>(g[i]) * g[i];
      norm = std::sqrt(norm);
      if (norm == 0) {
        out.push_back({p.name, 0, 0});
        continue;
      }
      auto loss_at = [&](float sign) {
        for (size_t i = 0; i < n; i++) w[i] = w0[i] + sign * eps * static_cast<float>(g[i] / norm);
        return static_cast<double>(forward_loss());
      };
      const double numeric = (loss_at(1.f) - loss_at(-1.f)) / (2.0 * eps);
      std::copy(w0.begin(), w0.end(), w);
      out.push_back({p.name, norm, numeric});
    }
    return out;
  }

  /** Trainable parameters, counted on the logical shapes (not the blocked layouts' padding). */
  long long param_count() const {
    long long n = 0;
    for (const auto& p : params_) n += p.count;
    return n;
  }

  /** `kind implementation` for each kind of primitive, e.g. `conv brgconv:avx512_core`. */
  std::string implementations() const {
    std::string s;
    for (const auto& [name, impl] : impls_) s += (s.empty() ? "" : ", ") + name + " " + impl;
    return s;
  }

 private:
  static constexpr float kEpsilon = 1e-5f;
  static constexpr float kStatMomentum = 0.9f;

  dnnl::engine& eng_;
  dnnl::stream& strm_;
  std::mt19937 rng_;
  std::vector<Exec> fwd_, bwd_, update_;
  std::vector<std::function<void(std::vector<Exec>&)>> backward_;
  std::deque<Param> params_;
  std::vector<std::pair<memory, memory>> moving_;
  /** Flat parameter, gradient, momentum, batch-statistic and moving-statistic buffers. */
  std::vector<memory> flat_;
  std::vector<std::pair<std::string, std::string>> impls_;
  Exec softmax_;
  memory probs_, dlogits_;
  std::vector<int> labels_;
  long long classes_ = 0;

  void run(const std::vector<Exec>& ops) {
    for (const auto& e : ops) e.prim.execute(strm_, e.args);
  }

  /** Forward pass and mean softmax cross-entropy; leaves dL/dlogits for the backward pass. */
  float forward_loss() {
    run(fwd_);
    softmax_.prim.execute(strm_, softmax_.args);
    strm_.wait();
    const float* p = data(probs_);
    float* d = data(dlogits_);
    const long long n = static_cast<long long>(labels_.size());
    double loss = 0;
    for (long long i = 0; i < n; i++) {
      for (long long j = 0; j < classes_; j++) {
        const float pij = p[i * classes_ + j];
        const bool hit = j == labels_[i];
        d[i * classes_ + j] = (pij - (hit ? 1.f : 0.f)) / static_cast<float>(n);
        if (hit) loss -= std::log(std::max(pij, 1e-30f));
      }
    }
    return static_cast<float>(loss / static_cast<double>(n));
  }

  /** Memory with its whole buffer (blocked layouts' padding included) set to zero. */
  memory zeroed(const memory::desc& md) {
    memory m(md, eng_);
    std::memset(m.get_data_handle(), 0, md.get_size());
    return m;
  }

  TensorPtr tensor(const memory::desc& md) {
    auto t = std::make_shared<Tensor>();
    t->md = md;
    t->value = zeroed(md);
    return t;
  }

  void normal(float* p, size_t len, float stddev) {
    std::normal_distribution<float> d(0.f, stddev);
    for (size_t i = 0; i < len; i++) p[i] = d(rng_);
  }
  void uniform(float* p, size_t len, float limit) {
    std::uniform_real_distribution<float> d(-limit, limit);
    for (size_t i = 0; i < len; i++) p[i] = d(rng_);
  }

  /** A parameter in layout `md`, initialised in the plain layout `plain` and reordered once. */
  Param& param(const std::string& name, const memory::desc& md, const memory::desc& plain,
               const std::function<void(float*, size_t)>& init) {
    memory host = zeroed(plain);
    const size_t count = plain.get_size() / sizeof(float);
    init(data(host), count);
    Param p{name, zeroed(md), zeroed(md), zeroed(md), static_cast<long long>(count)};
    dnnl::reorder(host, p.weights).execute(strm_, host, p.weights);
    strm_.wait();
    params_.push_back(p);
    return params_.back();
  }

  /**
   * Moves the data of `parts` into one new zeroed buffer, a 64-byte aligned slot each, and points
   * each memory at its slot; returns the buffer as one 1-D memory.
   */
  memory flatten(const std::vector<memory>& parts) {
    constexpr size_t kAlign = 64;
    std::vector<size_t> offsets;
    size_t total = 0;
    for (const auto& m : parts) {
      offsets.push_back(total);
      total += (m.get_desc().get_size() + kAlign - 1) / kAlign * kAlign;
    }
    memory flat = zeroed(memory::desc({static_cast<long long>(total / sizeof(float))}, dt::f32, tag::x));
    char* base = static_cast<char*>(flat.get_data_handle());
    for (size_t i = 0; i < parts.size(); i++) {
      std::memcpy(base + offsets[i], parts[i].get_data_handle(), parts[i].get_desc().get_size());
      parts[i].set_data_handle(base + offsets[i]);
    }
    return flat;
  }

  /** dst ← a·dst + b·src, in place, over two memories of one layout. */
  Exec scaled_sum(const memory& dst, float a, const memory& src, float b) {
    const memory::desc md = dst.get_desc();
    dnnl::sum::primitive_desc pd(md, {a, b}, {md, md}, eng_);
    return {dnnl::sum(pd),
            {{DNNL_ARG_MULTIPLE_SRC, dst}, {DNNL_ARG_MULTIPLE_SRC + 1, src}, {DNNL_ARG_DST, dst}}};
  }

  /** A batch statistic and its moving average (initialised to `init`), updated each step. */
  void moving_stat(const memory& batch, float init) {
    memory moving = zeroed(batch.get_desc());
    float* p = data(moving);
    std::fill(p, p + batch.get_desc().get_size() / sizeof(float), init);
    moving_.emplace_back(batch, moving);
  }

  /** Remembers which implementation oneDNN chose for a kind of layer (first seen of each). */
  void note_impl(const std::string& kind, const char* impl) {
    for (const auto& [k, i] : impls_)
      if (k == kind && i == impl) return;
    impls_.emplace_back(kind, impl);
  }

  /** `m` in layout `want`: itself, or a copy that a reorder (appended to `ops`) fills. */
  memory adapt_in(const memory& m, const memory::desc& want, std::vector<Exec>& ops) {
    if (m.get_desc() == want) return m;
    memory out = zeroed(want);
    ops.push_back({dnnl::reorder(m, out), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, out}}});
    return out;
  }

  /** Where a primitive producing layout `produced` writes `target`: it, or a buffer reordered after. */
  memory adapt_out(const memory& target, const memory::desc& produced, std::vector<Exec>& after) {
    if (target.get_desc() == produced) return target;
    memory tmp = zeroed(produced);
    after.push_back({dnnl::reorder(tmp, target), {{DNNL_ARG_FROM, tmp}, {DNNL_ARG_TO, target}}});
    return tmp;
  }

  /** Registers `mem` as one consumer's gradient of `x`, reordered to `x`'s layout if needed. */
  void contribute(Tensor& x, const memory& mem, bool owned, std::vector<Exec>& ops) {
    if (mem.get_desc() == x.md) {
      x.contributions.push_back({mem, owned});
      return;
    }
    memory same = zeroed(x.md);
    ops.push_back({dnnl::reorder(mem, same), {{DNNL_ARG_FROM, mem}, {DNNL_ARG_TO, same}}});
    x.contributions.push_back({same, true});
  }

  /**
   * The gradient of `t`, once every consumer's backward is in `ops`: the single contribution, or
   * their sum (into an owned contribution in place, else into a new buffer).
   */
  memory gradient(Tensor& t, std::vector<Exec>& ops) {
    auto& cs = t.contributions;
    if (cs.empty()) throw std::logic_error("a tensor without consumers has no gradient");
    if (cs.size() == 1) return cs[0].mem;
    auto owned = std::find_if(cs.begin(), cs.end(), [](const auto& c) { return c.owned; });
    if (owned != cs.end()) std::iter_swap(cs.begin(), owned);
    memory dst = cs[0].mem;
    if (owned == cs.end()) {
      dst = zeroed(t.md);
      ops.push_back({dnnl::reorder(cs[0].mem, dst), {{DNNL_ARG_FROM, cs[0].mem}, {DNNL_ARG_TO, dst}}});
    }
    // dst += each other contribution (binary add, in place).
    dnnl::binary::primitive_desc pd(dnnl::binary::desc(algorithm::binary_add, t.md, t.md, t.md), eng_);
    for (size_t i = 1; i < cs.size(); i++)
      ops.push_back({dnnl::binary(pd),
                     {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, cs[i].mem}, {DNNL_ARG_DST, dst}}});
    return dst;
  }

  /** dL/d(pre-ReLU) from the ReLU's output `y` and dL/dy. */
  memory relu_backward(const memory& y, const memory::desc& md, const memory& dy,
                       std::vector<Exec>& ops) {
    dnnl::eltwise_forward::desc fdesc(prop_kind::forward_training,
                                      algorithm::eltwise_relu_use_dst_for_bwd, md, 0.f, 0.f);
    dnnl::eltwise_forward::primitive_desc hint(fdesc, eng_);
    dnnl::eltwise_backward::desc bdesc(algorithm::eltwise_relu_use_dst_for_bwd, md, md, 0.f, 0.f);
    dnnl::eltwise_backward::primitive_desc pd(bdesc, eng_, hint);
    memory d = zeroed(pd.diff_src_desc());
    ops.push_back({dnnl::eltwise_backward(pd),
                   {{DNNL_ARG_DST, y}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, d}}});
    return d;
  }

  TensorPtr pool(const TensorPtr& x, algorithm alg, const dims& kernel, const dims& strides,
                 const dims& yd) {
    const dims pad{0, 0};
    dnnl::pooling_forward::desc desc(prop_kind::forward_training, alg, x->md, any_md(yd), strides,
                                     kernel, pad, pad);
    dnnl::pooling_forward::primitive_desc pd(desc, eng_);
    note_impl("pool", pd.impl_info_str());
    const bool has_ws = pd.workspace_desc().get_size() > 0;
    memory ws = has_ws ? memory(pd.workspace_desc(), eng_) : memory();
    auto y = tensor(pd.dst_desc());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x->value}, {DNNL_ARG_DST, y->value}};
    if (has_ws) args[DNNL_ARG_WORKSPACE] = ws;
    fwd_.push_back({dnnl::pooling_forward(pd), args});
    backward_.push_back([=](std::vector<Exec>& ops) {
      memory dy = gradient(*y, ops);
      if (!x->needs_grad) return;
      dnnl::pooling_backward::desc bdesc(alg, x->md, y->md, strides, kernel, pad, pad);
      dnnl::pooling_backward::primitive_desc bpd(bdesc, eng_, pd);
      memory dx = zeroed(bpd.diff_src_desc());
      std::unordered_map<int, memory> bargs{
          {DNNL_ARG_DIFF_DST, adapt_in(dy, bpd.diff_dst_desc(), ops)}, {DNNL_ARG_DIFF_SRC, dx}};
      if (has_ws) bargs[DNNL_ARG_WORKSPACE] = ws;
      ops.push_back({dnnl::pooling_backward(bpd), bargs});
      contribute(*x, dx, true, ops);
    });
    return y;
  }
};

/** cnn-small: conv3×3 1→32 'same' + ReLU, maxpool 2, conv3×3 32→64 + ReLU, maxpool 2, dense. */
TensorPtr build_cnn_small(Net& net, long long batch) {
  auto x = net.input({batch, 1, 28, 28});
  auto h = net.conv(x, 32, 3, 1, true, true, "conv1");
  h = net.max_pool(h, 2);
  h = net.conv(h, 64, 3, 1, true, true, "conv2");
  h = net.max_pool(h, 2);
  return net.dense(h, 10, "logits");
}

/**
 * A basic block (resnet-block.ts): conv3×3 (stride s) → BN → ReLU → conv3×3 → BN, plus the
 * shortcut (identity, or 1×1 conv at stride s → BN where the shape changes: option B), then ReLU.
 */
TensorPtr basic_block(Net& net, const TensorPtr& x, long long in_channels, long long channels,
                      long long stride, const std::string& prefix) {
  auto r = net.conv(x, channels, 3, stride, false, false, prefix + ".conv1");
  r = net.batch_norm(r, true, prefix + ".bn1");
  r = net.conv(r, channels, 3, 1, false, false, prefix + ".conv2");
  r = net.batch_norm(r, false, prefix + ".bn2");
  TensorPtr s = x;
  if (stride != 1 || in_channels != channels) {
    s = net.conv(x, channels, 1, stride, false, false, prefix + ".shortcut.conv");
    s = net.batch_norm(s, false, prefix + ".shortcut.bn");
  }
  return net.add_relu(r, s);
}

/** resnet20: conv3×3 → 16 + BN + ReLU, 3 stages × 3 basic blocks (16/32/64), GAP, dense. */
TensorPtr build_resnet20(Net& net, long long batch) {
  auto x = net.input({batch, 3, 32, 32});
  auto h = net.conv(x, 16, 3, 1, false, false, "stem.conv");
  h = net.batch_norm(h, true, "stem.bn");
  long long c = 16;
  const long long widths[] = {16, 32, 64};
  for (int s = 0; s < 3; s++) {
    for (int b = 0; b < 3; b++) {
      const long long stride = s > 0 && b == 0 ? 2 : 1;
      h = basic_block(net, h, c, widths[s], stride,
                      "stage" + std::to_string(s + 1) + ".block" + std::to_string(b + 1));
      c = widths[s];
    }
  }
  h = net.global_avg_pool(h);
  return net.dense(h, 10, "logits");
}

// --- command line and output -------------------------------------------------------------------

struct Options {
  std::vector<std::string> models{"small-cnn", "resnet20"};
  std::vector<std::string> variants{"fp"};
  std::map<std::string, long long> batch{{"small-cnn", 64}, {"resnet20", 128}};
  long long warmup = 2, steps = 20, min_steps = 3;
  double time_budget_s = 30;
  float lr = 0.01f, momentum = 0.9f;
  int threads = 0;
  unsigned seed = 0;
  bool print_loss = false;
  bool grad_check = false;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "onednn-step: %s\nusage: onednn-step [--models small-cnn,resnet20] "
               "[--variants fp] [--batch small-cnn=64,resnet20=128] [--warmup 2] [--steps 20] "
               "[--time-budget 30] [--min-steps 3] [--lr 0.01] [--momentum 0.9] [--threads N] "
               "[--seed 0] [--print-loss] [--grad-check]\n",
               why.c_str());
  std::exit(2);
}

double number(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(d)) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    usage(flag + ": expected a number, got '" + v + "'");
  }
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    const std::string flag = argv[i];
    if (flag == "--print-loss" || flag == "--grad-check") {
      (flag == "--print-loss" ? o.print_loss : o.grad_check) = true;
      continue;
    }
    if (flag == "--help" || flag == "-h") usage("the plain oneDNN float training step");
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string v = argv[++i];
    if (flag == "--models") o.models = split(v, ',');
    else if (flag == "--variants") o.variants = split(v, ',');
    else if (flag == "--batch") {
      for (const auto& kv : split(v, ',')) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) usage("--batch: expected model=size, got '" + kv + "'");
        o.batch[kv.substr(0, eq)] = static_cast<long long>(number("--batch", kv.substr(eq + 1)));
      }
    } else if (flag == "--warmup") o.warmup = static_cast<long long>(number(flag, v));
    else if (flag == "--steps") o.steps = static_cast<long long>(number(flag, v));
    else if (flag == "--min-steps") o.min_steps = static_cast<long long>(number(flag, v));
    else if (flag == "--time-budget") o.time_budget_s = number(flag, v);
    else if (flag == "--lr") o.lr = static_cast<float>(number(flag, v));
    else if (flag == "--momentum") o.momentum = static_cast<float>(number(flag, v));
    else if (flag == "--threads") o.threads = static_cast<int>(number(flag, v));
    else if (flag == "--seed") o.seed = static_cast<unsigned>(number(flag, v));
    else usage("unknown option " + flag);
  }
  if (o.warmup < 0 || o.steps < 1 || o.min_steps < 1) usage("--warmup ≥ 0, --steps and --min-steps ≥ 1");
  return o;
}

/** A JSON string literal. */
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') out += {'\\', ch};
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += ch;
  }
  return out + "\"";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void send(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

void measure(const Options& o, const std::string& model, dnnl::engine& eng, dnnl::stream& strm) {
  const auto batch_it = o.batch.find(model);
  if (batch_it == o.batch.end() || batch_it->second < 1)
    throw std::invalid_argument("no batch size for model '" + model + "'");
  const long long batch = batch_it->second;
  Net net(eng, strm, o.seed);
  TensorPtr logits;
  if (model == "small-cnn") logits = build_cnn_small(net, batch);
  else if (model == "resnet20") logits = build_resnet20(net, batch);
  else throw std::invalid_argument("unknown model '" + model + "' (known: small-cnn, resnet20)");
  std::vector<int> labels(static_cast<size_t>(batch));
  for (long long i = 0; i < batch; i++) labels[static_cast<size_t>(i)] = static_cast<int>((i * 7) % 10);
  net.softmax_cross_entropy(logits, labels);
  net.finalize(o.lr, o.momentum);

  const std::string id = "\"model\":" + quote(model) + ",\"variant\":\"fp\"";
  if (o.grad_check) {
    for (const auto& c : net.gradient_check(1e-3f))
      send("{\"type\":\"grad-check\"," + id + ",\"tensor\":" + quote(c.tensor) +
           ",\"analytic\":" + num(c.analytic) + ",\"numeric\":" + num(c.numeric) + "}");
  }
  std::vector<double> steps_ms;
  double timed_ms = 0;
  float loss = NAN;
  const long long total = o.warmup + o.steps;
  for (long long i = 0; i < total; i++) {
    const auto t0 = std::chrono::steady_clock::now();
    loss = net.step();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const bool warm = i < o.warmup;
    if (!warm) {
      steps_ms.push_back(ms);
      timed_ms += ms;
    }
    if (o.print_loss)
      send("{\"type\":\"loss\"," + id + ",\"step\":" + std::to_string(i) + ",\"loss\":" + num(loss) + "}");
    send("{\"type\":\"progress\"," + id + ",\"phase\":\"" + (warm ? "warmup" : "timed") +
         "\",\"step\":" + std::to_string(warm ? i + 1 : static_cast<long long>(steps_ms.size())) +
         ",\"steps\":" + std::to_string(warm ? o.warmup : o.steps) + ",\"ms\":" + num(ms) + "}");
    const bool spent = o.time_budget_s > 0 && timed_ms >= o.time_budget_s * 1000;
    if (!warm && spent && static_cast<long long>(steps_ms.size()) >= o.min_steps) break;
  }
  std::string list;
  for (const double v : steps_ms) list += (list.empty() ? "" : ",") + num(v);
  send("{\"type\":\"cell\"," + id + ",\"batch\":" + std::to_string(batch) +
       ",\"warmup\":" + std::to_string(o.warmup) + ",\"stepsMs\":[" + list +
       "],\"params\":" + std::to_string(net.param_count()) +
       (std::isfinite(loss) ? ",\"loss\":" + num(loss) : std::string()) +
       ",\"implementations\":" + quote(net.implementations()) + "}");
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const dnnl_version_t* v = dnnl_version();
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const std::string version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                std::to_string(v->patch);
    send("{\"type\":\"hello\",\"engine\":\"onednn\",\"version\":" + quote(version) +
         ",\"details\":" +
         quote("plain C++ float step, " + std::to_string(omp_get_max_threads()) + " OpenMP thread" +
               (omp_get_max_threads() == 1 ? "" : "s") + ", " +
               isa_name(dnnl::get_effective_cpu_isa())) +
         "}");
    for (const auto& model : o.models) {
      for (const auto& variant : o.variants) {
        const std::string id = "\"model\":" + quote(model) + ",\"variant\":" + quote(variant);
        if (variant != "fp") {
          send("{\"type\":\"cell-error\"," + id +
               ",\"error\":\"the plain oneDNN step is float only (variant fp)\"}");
          continue;
        }
        try {
          measure(o, model, eng, strm);
        } catch (const dnnl::error& e) {
          send("{\"type\":\"cell-error\"," + id + ",\"error\":" +
               quote(std::string("oneDNN: ") + e.what() + " (status " +
                     std::to_string(static_cast<int>(e.status)) + ")") +
               "}");
        } catch (const std::exception& e) {
          send("{\"type\":\"cell-error\"," + id + ",\"error\":" + quote(e.what()) + "}");
        }
      }
    }
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "onednn-step: oneDNN error %s (status %d)\n", e.what(),
                 static_cast<int>(e.status));
    return 1;
  }
  return 0;
}
