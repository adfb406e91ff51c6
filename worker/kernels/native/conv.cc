// Convolutions on wasm-heap tensors: forward (with fused bias and activation), backward data and
// backward weights, plain (tfjs filter [kh, kw, inC, outC]) or depthwise (filter [kh, kw, C, M], one
// group per input channel).
#include "conv.h"

#include <stdexcept>

namespace ringtune {
namespace {

using dnnl::algorithm;
using Tag = memory::format_tag;

// The order of ConvParams' fields in the descriptor array the JS side fills (onednn-conv.ts).
enum Field {
  kKind, kBatch, kInH, kInW, kInC, kOutH, kOutW, kOutC, kKh, kKw, kGroups, kSh, kSw, kDh, kDw,
  kPadT, kPadL, kPadB, kPadR, kNchw, kActivation, kAlpha, kBias, kFields
};

memory::desc Any(const memory::desc& d) { return memory::desc(d.dims(), memory::data_type::f32, Tag::any); }

// Filter as tfjs stores it: [kh, kw, inC, outC], or for depthwise [kh, kw, C, M] (group g, output o).
memory::desc FilterDesc(const ConvParams& p) {
  const int64_t o = p.outC, kw = p.kw;
  if (p.groups == 1) return memory::desc({o, p.inC, p.kh, kw}, memory::data_type::f32, {1, o, kw * p.inC * o, p.inC * o});
  const int64_t m = o / p.groups;
  return memory::desc({p.groups, m, 1, p.kh, kw}, memory::data_type::f32, {m, 1, o, kw * o, o});
}

struct Geometry {
  memory::desc src, weights, dst, bias;
  memory::dims strides, dilates, padL, padR;
};

Geometry Describe(const ConvParams& p) {
  Geometry g;
  g.src = ActivationDesc(p.batch, p.inC, p.inH, p.inW, p.nchw);
  g.dst = ActivationDesc(p.batch, p.outC, p.outH, p.outW, p.nchw);
  g.weights = FilterDesc(p);
  if (p.bias) g.bias = memory::desc({p.outC}, memory::data_type::f32, Tag::a);
  g.strides = {p.sh, p.sw};
  g.dilates = {p.dh - 1, p.dw - 1};  // oneDNN counts the gaps between taps
  g.padL = {p.padT, p.padL};
  g.padR = {p.padB, p.padR};
  return g;
}

dnnl::convolution_forward::primitive_desc ForwardPd(const Geometry& g, const dnnl::primitive_attr& attr) {
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, algorithm::convolution_direct, Any(g.src),
                                    Any(g.weights), g.bias, Any(g.dst), g.strides, g.dilates, g.padL, g.padR);
  return dnnl::convolution_forward::primitive_desc(d, attr, Engine());
}

// Where convolution argument `arg` (DNNL_ARG_*) lies in the heap.
const memory::desc& HeapLayout(const Geometry& g, int arg) {
  switch (arg) {
    case DNNL_ARG_SRC:
    case DNNL_ARG_DIFF_SRC: return g.src;
    case DNNL_ARG_WEIGHTS:
    case DNNL_ARG_DIFF_WEIGHTS: return g.weights;
    case DNNL_ARG_DST:
    case DNNL_ARG_DIFF_DST: return g.dst;
    case DNNL_ARG_BIAS: return g.bias;
  }
  throw std::logic_error("no heap layout for convolution argument " + std::to_string(arg));
}

// An Op running `pd` on `inputs` then `outputs` (DNNL_ARG_*), each reordered between its heap layout
// and the one `pd` picked where they differ.
template <typename Primitive, typename Pd>
std::unique_ptr<Op> ConvOp(const Pd& pd, const Geometry& g, const std::vector<int>& inputs,
                           const std::vector<int>& outputs) {
  auto bind = [&](const std::vector<int>& args) {
    std::vector<Arg> bound;
    for (int arg : args) bound.emplace_back(arg, HeapLayout(g, arg), pd.query_md(dnnl::query::exec_arg_md, arg));
    return bound;
  };
  return NewOp<Primitive>(pd, bind(inputs), bind(outputs));
}

std::unique_ptr<Op> MakeForward(const ConvParams& p) {
  Geometry g = Describe(p);
  std::vector<int> inputs = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS};
  if (p.bias) inputs.push_back(DNNL_ARG_BIAS);
  auto pd = ForwardPd(g, ActivationAttr(p.activation, p.alpha));
  return ConvOp<dnnl::convolution_forward>(pd, g, inputs, {DNNL_ARG_DST});
}

// A backward convolution (`Backward`: data or weights), its primitive hinted by the forward one.
template <typename Backward>
std::unique_ptr<Op> MakeBackward(const ConvParams& p, const std::vector<int>& inputs, const std::vector<int>& outputs) {
  Geometry g = Describe(p);
  typename Backward::desc d(algorithm::convolution_direct, Any(g.src), Any(g.weights), Any(g.dst), g.strides, g.dilates,
                            g.padL, g.padR);
  typename Backward::primitive_desc pd(d, BaseAttr(), Engine(), ForwardPd(g, BaseAttr()));
  return ConvOp<Backward>(pd, g, inputs, outputs);
}

}  // namespace

ConvParams ParseConv(const double* d, size_t n) {
  const Descriptor f("conv", d, n, kFields);
  auto i = [&](Field k) { return f.Int(k); };
  ConvParams p{static_cast<ConvKind>(i(kKind)), i(kBatch), i(kInH), i(kInW), i(kInC), i(kOutH), i(kOutW), i(kOutC),
               i(kKh), i(kKw), i(kGroups), i(kSh), i(kSw), i(kDh), i(kDw), i(kPadT), i(kPadL), i(kPadB), i(kPadR),
               i(kNchw) != 0, static_cast<int>(i(kActivation)), f.Float(kAlpha), i(kBias) != 0};
  if (p.groups > 1 && p.inC != p.groups)
    throw std::invalid_argument("grouped convolutions must be depthwise (groups == input channels)");
  return p;
}

void RunConv(const ConvParams& p, const Heap& heap, const std::vector<double>& offsets) {
  std::vector<int64_t> key = {100 + p.kind, p.batch, p.inH, p.inW, p.inC, p.outH, p.outW, p.outC, p.kh, p.kw,
                              p.groups, p.sh, p.sw, p.dh, p.dw, p.padT, p.padL, p.padB, p.padR, p.nchw,
                              p.activation, FloatBits(p.alpha), p.bias};
  Op& op = CachedOp(key, [&]() {
    switch (p.kind) {
      case kForward: return MakeForward(p);
      case kBackwardData:
        return MakeBackward<dnnl::convolution_backward_data>(p, {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS},
                                                             {DNNL_ARG_DIFF_SRC});
      case kBackwardWeights:
        return MakeBackward<dnnl::convolution_backward_weights>(p, {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST},
                                                                {DNNL_ARG_DIFF_WEIGHTS});
    }
    throw std::invalid_argument("unknown convolution kind " + std::to_string(p.kind));
  });
  Run(op, heap, offsets);
}

}  // namespace ringtune
