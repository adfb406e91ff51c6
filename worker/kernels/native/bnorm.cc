// BatchNorm forward (training: batch statistics; inference: the given statistics) and backward,
// and ReLU/ReLU6 gradients, on wasm-heap tensors in their channels-last layout.
#include "bnorm.h"

#include <stdexcept>

namespace ringtune {
namespace {

using dnnl::algorithm;
using dnnl::normalization_flags;
using dnnl::prop_kind;

enum Field { kKind, kN, kC, kH, kW, kEpsilon, kFields };

const normalization_flags kAffine = normalization_flags::use_scale | normalization_flags::use_shift;

memory::desc Channels(int64_t c) { return memory::desc({c}, memory::data_type::f32, memory::format_tag::a); }

dnnl::batch_normalization_forward::primitive_desc ForwardPd(const NormParams& p) {
  memory::desc data = ActivationDesc(p.n, p.c, p.h, p.w, false);
  dnnl::batch_normalization_forward::desc d(prop_kind::forward_training, data, p.epsilon, kAffine);
  return dnnl::batch_normalization_forward::primitive_desc(d, BaseAttr(), Engine());
}

std::unique_ptr<Op> MakeForward(const NormParams& p) {
  auto pd = ForwardPd(p);
  memory::desc data = pd.src_desc(), c = Channels(p.c);
  return NewOp<dnnl::batch_normalization_forward>(pd, {{DNNL_ARG_SRC, data}, {DNNL_ARG_SCALE, c}, {DNNL_ARG_SHIFT, c}},
                                                  {{DNNL_ARG_DST, data}, {DNNL_ARG_MEAN, c}, {DNNL_ARG_VARIANCE, c}});
}

// tfjs's FusedBatchNorm at inference: y = (x - mean) / sqrt(variance + eps) * gamma + beta.
std::unique_ptr<Op> MakeInference(const NormParams& p) {
  memory::desc data = ActivationDesc(p.n, p.c, p.h, p.w, false), c = Channels(p.c);
  dnnl::batch_normalization_forward::desc d(prop_kind::forward_inference, data, p.epsilon,
                                            kAffine | normalization_flags::use_global_stats);
  dnnl::batch_normalization_forward::primitive_desc pd(d, BaseAttr(), Engine());
  std::vector<Arg> inputs = {
      {DNNL_ARG_SRC, data}, {DNNL_ARG_MEAN, c}, {DNNL_ARG_VARIANCE, c}, {DNNL_ARG_SCALE, c}, {DNNL_ARG_SHIFT, c}};
  return NewOp<dnnl::batch_normalization_forward>(pd, inputs, {{DNNL_ARG_DST, data}});
}

std::unique_ptr<Op> MakeBackward(const NormParams& p) {
  auto hint = ForwardPd(p);
  memory::desc data = hint.src_desc(), c = Channels(p.c);
  dnnl::batch_normalization_backward::desc d(prop_kind::backward, data, data, p.epsilon, kAffine);
  dnnl::batch_normalization_backward::primitive_desc pd(d, BaseAttr(), Engine(), hint);
  // SHIFT is unused by the math, but oneDNN 2.6 requires it.
  std::vector<Arg> inputs = {{DNNL_ARG_SRC, data},  {DNNL_ARG_SCALE, c},    {DNNL_ARG_SHIFT, c},
                             {DNNL_ARG_MEAN, c},    {DNNL_ARG_VARIANCE, c}, {DNNL_ARG_DIFF_DST, data}};
  return NewOp<dnnl::batch_normalization_backward>(
      pd, inputs, {{DNNL_ARG_DIFF_SRC, data}, {DNNL_ARG_DIFF_SCALE, c}, {DNNL_ARG_DIFF_SHIFT, c}});
}

// dx = dy where 0 < x (<= clip when clip > 0), else 0: tfjs's Relu and Relu6 gradients.
std::unique_ptr<Op> MakeReluBackward(const NormParams& p) {
  memory::desc data({p.n * p.c * p.h * p.w}, memory::data_type::f32, memory::format_tag::a);
  const bool clip = p.epsilon > 0;
  const algorithm alg = clip ? algorithm::eltwise_clip : algorithm::eltwise_relu;
  dnnl::eltwise_forward::desc fd(prop_kind::forward_training, alg, data, 0.f, p.epsilon);
  dnnl::eltwise_forward::primitive_desc hint(fd, BaseAttr(), Engine());
  dnnl::eltwise_backward::desc d(alg, data, data, 0.f, p.epsilon);
  dnnl::eltwise_backward::primitive_desc pd(d, BaseAttr(), Engine(), hint);
  return NewOp<dnnl::eltwise_backward>(pd, {{DNNL_ARG_DIFF_DST, data}, {DNNL_ARG_SRC, data}},
                                       {{DNNL_ARG_DIFF_SRC, data}});
}

}  // namespace

NormParams ParseNorm(const double* d, size_t n) {
  const Descriptor f("norm", d, n, kFields);
  auto i = [&](Field k) { return f.Int(k); };
  NormParams p{static_cast<NormKind>(i(kKind)), i(kN), i(kC), i(kH), i(kW), f.Float(kEpsilon)};
  if (p.kind < kNormForward || p.kind > kNormInference) throw std::invalid_argument("unknown norm kind");
  return p;
}

void RunNorm(const NormParams& p, const Heap& heap, const std::vector<double>& offsets) {
  std::vector<int64_t> key = {300 + p.kind, p.n, p.c, p.h, p.w, FloatBits(p.epsilon)};
  Run(CachedOp(key,
               [&]() {
                 switch (p.kind) {
                   case kNormForward: return MakeForward(p);
                   case kNormBackward: return MakeBackward(p);
                   case kReluBackward: return MakeReluBackward(p);
                   case kNormInference: return MakeInference(p);
                 }
                 throw std::invalid_argument("unknown norm kind");
               }),
      heap, offsets);
}

}  // namespace ringtune
