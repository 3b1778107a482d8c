// 2-D convolutions (forward, backward-data, backward-weights) for XLA:CPU through oneDNN, as XLA FFI handlers.
//
// Layouts: activations NHWC, weights HWIO (I = input channels per group, O = all output channels); float32, or
// bfloat16 where the CPU has oneDNN's bf16 kernels (accumulation in float32 inside oneDNN).
// The activations stay NHWC (oneDNN's plain nhwc kernels are fast; reordering them to blocked layouts costs
// more than it saves). The weights are described to oneDNN as HWIO through strides and oneDNN chooses the
// layout its kernel wants (format "any"); the weights are reordered into that layout on each call. Plain
// HWIO weights would select a slow im2col GEMM kernel instead.
//
// Primitives are built once per (kind, shapes, strides, padding, dilation, groups) and cached; oneDNN
// primitives may be executed from several threads at once, and the reordered-weight buffers come from a
// per-entry pool, so concurrent calls (XLA runs independent ops in parallel) do not share memory.
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Static description of one convolution; dims are those of the NHWC input x, HWIO weights w and NHWC output y.
struct ConvSpec {
  int64_t n, h, w, c;         // x
  int64_t kh, kw, ci, o;      // w (ci = c / groups)
  int64_t ho, wo;             // y
  int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
  int64_t bf16;               // 1: every operand is bfloat16, 0: float32 (int64_t: the key has no padding bytes)

  std::string key(int kind) const {
    std::string k(sizeof(*this) + sizeof(kind), '\0');
    std::memcpy(&k[0], this, sizeof(*this));
    std::memcpy(&k[sizeof(*this)], &kind, sizeof(kind));
    return k;
  }
  dt type() const { return bf16 ? dt::bf16 : dt::f32; }
  memory::desc x_md() const { return memory::desc({n, c, h, w}, type(), tag::nhwc); }
  memory::desc y_md() const { return memory::desc({n, o, ho, wo}, type(), tag::nhwc); }
  memory::dims w_dims() const {
    if (groups == 1) return {o, ci, kh, kw};
    return {groups, o / groups, ci, kh, kw};
  }
  // HWIO described by strides: element (kh, kw, i, o) sits at ((kh * KW + kw) * I + i) * O + o.
  memory::desc w_user_md() const {
    if (groups == 1) return memory::desc(w_dims(), type(), memory::dims{1, o, kw * ci * o, ci * o});
    return memory::desc(w_dims(), type(), memory::dims{o / groups, 1, o, kw * ci * o, ci * o});
  }
  memory::desc w_any_md() const { return memory::desc(w_dims(), type(), tag::any); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilation() const { return {dh - 1, dw - 1}; }  // oneDNN counts the holes: 0 = dense
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }

  dnnl::convolution_forward::primitive_desc fwd_pd() const {
    return dnnl::convolution_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, x_md(), w_any_md(),
        y_md(), strides(), dilation(), pad_l(), pad_r());
  }
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd(
      const dnnl::convolution_forward::primitive_desc& fwd) const {
    return dnnl::convolution_backward_data::primitive_desc(cpu_engine(), dnnl::algorithm::convolution_direct, x_md(),
                                                           w_any_md(), y_md(), strides(), dilation(), pad_l(),
                                                           pad_r(), fwd);
  }
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd(
      const dnnl::convolution_forward::primitive_desc& fwd) const {
    return dnnl::convolution_backward_weights::primitive_desc(cpu_engine(), dnnl::algorithm::convolution_direct,
                                                              x_md(), w_any_md(), y_md(), strides(), dilation(),
                                                              pad_l(), pad_r(), fwd);
  }
};

// A pool of scratch buffers for reordered weights: one per concurrent call, reused across calls.
class BufferPool {
 public:
  explicit BufferPool(size_t bytes) : bytes_(bytes) {}
  std::unique_ptr<char[]> acquire() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return std::unique_ptr<char[]>(new char[bytes_ + 64]);
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void release(std::unique_ptr<char[]> b) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(b));
  }

 private:
  size_t bytes_;
  std::mutex mu_;
  std::vector<std::unique_ptr<char[]>> free_;
};

struct Entry {
  dnnl::primitive conv;
  memory::desc w_user, w_opt;  // weights (or weight gradient) as the user holds them / as the kernel wants
  bool need_reorder = false;
  dnnl::reorder reorder;        // user -> opt (forward, backward-data) or opt -> user (backward-weights)
  std::unique_ptr<BufferPool> pool;
};

enum Kind { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };

std::unique_ptr<Entry> build(const ConvSpec& s, Kind kind) {
  auto e = std::make_unique<Entry>();
  e->w_user = s.w_user_md();
  auto fwd = s.fwd_pd();
  if (kind == kFwd) {
    e->conv = dnnl::convolution_forward(fwd);
    e->w_opt = fwd.weights_desc();
  } else if (kind == kBwdData) {
    auto pd = s.bwd_data_pd(fwd);
    e->conv = dnnl::convolution_backward_data(pd);
    e->w_opt = pd.weights_desc();
  } else {
    auto pd = s.bwd_weights_pd(fwd);
    e->conv = dnnl::convolution_backward_weights(pd);
    e->w_opt = pd.diff_weights_desc();
  }
  e->need_reorder = e->w_opt != e->w_user;
  if (e->need_reorder) {
    e->reorder = kind == kBwdWeights
                     ? dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->w_opt, cpu_engine(), e->w_user))
                     : dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->w_user, cpu_engine(), e->w_opt));
    e->pool = std::make_unique<BufferPool>(e->w_opt.get_size());
  }
  return e;
}

Entry& lookup(const ConvSpec& s, Kind kind) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::unique_ptr<Entry>> cache;
  const std::string key = s.key(kind);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return *it->second;
  }
  auto built = build(s, kind);  // outside the lock: building can take milliseconds
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[key];
  if (!slot) slot = std::move(built);
  return *slot;
}

ffi::Error make_spec(const ffi::AnyBuffer& a, const ffi::AnyBuffer& b, const ffi::AnyBuffer& c,
                     ffi::Span<const int64_t> xd, ffi::Span<const int64_t> wd, ffi::Span<const int64_t> yd,
                     ffi::Span<const int64_t> strides, ffi::Span<const int64_t> padding,
                     ffi::Span<const int64_t> dilation, int64_t groups, ConvSpec* s) {
  const auto t = a.element_type();
  if ((t != ffi::F32 && t != ffi::BF16) || b.element_type() != t || c.element_type() != t)
    return ffi::Error::InvalidArgument("onednn conv: operands must all be float32 or all bfloat16");
  if (xd.size() != 4 || wd.size() != 4 || yd.size() != 4)
    return ffi::Error::InvalidArgument("onednn conv: x, w and y must have rank 4 (NHWC, HWIO, NHWC)");
  if (strides.size() != 2 || padding.size() != 4 || dilation.size() != 2 || groups < 1)
    return ffi::Error::InvalidArgument("onednn conv: strides/dilation need 2 values, padding 4, groups >= 1");
  *s = ConvSpec{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], wd[3], yd[1], yd[2],
                strides[0], strides[1], padding[0], padding[1], padding[2], padding[3], dilation[0], dilation[1],
                groups, t == ffi::BF16 ? 1 : 0};
  if (s->c != s->ci * groups || s->o % groups != 0 || yd[0] != s->n || yd[3] != s->o)
    return ffi::Error::InvalidArgument("onednn conv: channel counts do not match the groups or the output");
  return ffi::Error::Success();
}

// Runs one cached primitive; `w` is the user's HWIO weights (or weight gradient for backward-weights).
ffi::Error run(const ConvSpec& s, Kind kind, void* x, void* w, void* y) {
  try {
    Entry& e = lookup(s, kind);
    auto& eng = cpu_engine();
    dnnl::stream stream(eng);
    memory x_mem(s.x_md(), eng, x), y_mem(s.y_md(), eng, y), w_user(e.w_user, eng, w);
    std::unique_ptr<char[]> buf;
    memory w_mem = w_user;
    if (e.need_reorder) {
      buf = e.pool->acquire();
      // 64-byte aligned inside the buffer (allocated with 64 spare bytes).
      auto addr = reinterpret_cast<uintptr_t>(buf.get());
      w_mem = memory(e.w_opt, eng, reinterpret_cast<void*>((addr + 63) & ~uintptr_t(63)));
      if (kind != kBwdWeights) e.reorder.execute(stream, w_user, w_mem);
    }
    if (kind == kFwd) {
      e.conv.execute(stream, {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, y_mem}});
    } else if (kind == kBwdData) {
      e.conv.execute(stream, {{DNNL_ARG_DIFF_SRC, x_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DIFF_DST, y_mem}});
    } else {
      e.conv.execute(stream, {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_DIFF_WEIGHTS, w_mem}, {DNNL_ARG_DIFF_DST, y_mem}});
      if (e.need_reorder) e.reorder.execute(stream, w_mem, w_user);
    }
    stream.wait();
    if (buf) e.pool->release(std::move(buf));
  } catch (const dnnl::error& err) {
    return ffi::Error::Internal(std::string("oneDNN: ") + err.what());
  } catch (const std::exception& err) {
    return ffi::Error::Internal(std::string("onednn conv: ") + err.what());
  }
  return ffi::Error::Success();
}

ffi::Error ConvFwd(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> y,
                   ffi::Span<const int64_t> strides, ffi::Span<const int64_t> padding,
                   ffi::Span<const int64_t> dilation, int64_t groups) {
  ConvSpec s;
  auto err = make_spec(x, w, *y, x.dimensions(), w.dimensions(), y->dimensions(), strides, padding, dilation, groups,
                       &s);
  if (!err.success()) return err;
  return run(s, kFwd, x.untyped_data(), w.untyped_data(), y->untyped_data());
}

ffi::Error ConvBwdData(ffi::AnyBuffer dy, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> dx,
                       ffi::Span<const int64_t> strides, ffi::Span<const int64_t> padding,
                       ffi::Span<const int64_t> dilation, int64_t groups) {
  ConvSpec s;
  auto err = make_spec(dy, w, *dx, dx->dimensions(), w.dimensions(), dy.dimensions(), strides, padding, dilation,
                       groups, &s);
  if (!err.success()) return err;
  return run(s, kBwdData, dx->untyped_data(), w.untyped_data(), dy.untyped_data());
}

ffi::Error ConvBwdWeights(ffi::AnyBuffer x, ffi::AnyBuffer dy, ffi::Result<ffi::AnyBuffer> dw,
                          ffi::Span<const int64_t> strides, ffi::Span<const int64_t> padding,
                          ffi::Span<const int64_t> dilation, int64_t groups) {
  ConvSpec s;
  auto err = make_spec(x, dy, *dw, x.dimensions(), dw->dimensions(), dy.dimensions(), strides, padding, dilation,
                       groups, &s);
  if (!err.success()) return err;
  return run(s, kBwdWeights, x.untyped_data(), dw->untyped_data(), dy.untyped_data());
}

// Whether oneDNN has fast bf16 convolutions on this CPU: it refuses some where the ISA lacks them and would
// run others on its reference kernels ("ref:..."), far slower than XLA's conv.
int Bf16Supported() {
  try {
    ConvSpec s{1, 4, 4, 16, 3, 3, 16, 16, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    auto fwd = s.fwd_pd();
    for (const std::string impl : {fwd.impl_info_str(), s.bwd_data_pd(fwd).impl_info_str(),
                                   s.bwd_weights_pd(fwd).impl_info_str()})
      if (impl.rfind("ref", 0) == 0) return 0;
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

#define JAXCNN_EXPORT __attribute__((visibility("default")))

#define CONV_BINDING                                                    \
  ffi::Ffi::Bind()                                                       \
      .Arg<ffi::AnyBuffer>()                                             \
      .Arg<ffi::AnyBuffer>()                                             \
      .Ret<ffi::AnyBuffer>()                                             \
      .Attr<ffi::Span<const int64_t>>("strides")                         \
      .Attr<ffi::Span<const int64_t>>("padding")                         \
      .Attr<ffi::Span<const int64_t>>("dilation")                        \
      .Attr<int64_t>("groups")

// Declared first with default visibility (the library is built with -fvisibility=hidden), then defined.
extern "C" {
JAXCNN_EXPORT XLA_FFI_Error* jaxcnn_onednn_conv_fwd(XLA_FFI_CallFrame* call_frame);
JAXCNN_EXPORT XLA_FFI_Error* jaxcnn_onednn_conv_bwd_data(XLA_FFI_CallFrame* call_frame);
JAXCNN_EXPORT XLA_FFI_Error* jaxcnn_onednn_conv_bwd_weights(XLA_FFI_CallFrame* call_frame);

// The oneDNN version the library runs with (major * 10000 + minor * 100 + patch), for diagnostics.
JAXCNN_EXPORT int jaxcnn_onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return static_cast<int>(v->major * 10000 + v->minor * 100 + v->patch);
}

// 1 where oneDNN builds bfloat16 convolutions on this CPU, else 0.
JAXCNN_EXPORT int jaxcnn_onednn_bf16() { return Bf16Supported(); }

// DNNL_RUNTIME_* of the loaded library's CPU threading (TBB is 4, OpenMP 2).
JAXCNN_EXPORT unsigned jaxcnn_onednn_cpu_runtime() { return dnnl_version()->cpu_runtime; }
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxcnn_onednn_conv_fwd, ConvFwd, CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxcnn_onednn_conv_bwd_data, ConvBwdData, CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxcnn_onednn_conv_bwd_weights, ConvBwdWeights, CONV_BINDING);
