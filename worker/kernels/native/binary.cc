// Elementwise arithmetic and comparisons on wasm-heap tensors: oneDNN's binary primitive, the first
// operand full-size, the second broadcast along any of the (merged) dims.
#include "binary.h"

#include <stdexcept>

namespace ringtune {
namespace {

using dnnl::algorithm;

algorithm Algorithm(BinaryAlg alg) {
  switch (alg) {
    case kAdd: return algorithm::binary_add;
    case kSub: return algorithm::binary_sub;
    case kMul: return algorithm::binary_mul;
    case kDiv: return algorithm::binary_div;
    case kEq: return algorithm::binary_eq;
    case kNe: return algorithm::binary_ne;
    case kGt: return algorithm::binary_gt;
    case kGe: return algorithm::binary_ge;
    case kLt: return algorithm::binary_lt;
    case kLe: return algorithm::binary_le;
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(alg));
}

// Row-major layout of `dims` with element type `dt`.
memory::desc Dense(const std::vector<int64_t>& dims, memory::data_type dt) {
  memory::dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return memory::desc(dims, dt, strides);
}

std::unique_ptr<Op> MakeBinary(const BinaryParams& p) {
  const auto f32 = memory::data_type::f32;
  memory::desc a = Dense(p.dims, f32), b = Dense(p.bDims, f32);
  memory::desc out = Dense(p.dims, p.boolOut ? memory::data_type::u8 : f32);
  dnnl::primitive_attr attr = BaseAttr();
  if (p.negate) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, algorithm::eltwise_linear, -1.f, 0.f);
    attr.set_post_ops(po);
  }
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(Algorithm(p.alg), a, b, out), attr, Engine());
  return NewOp<dnnl::binary>(pd, {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}}, {{DNNL_ARG_DST, out}});
}

}  // namespace

BinaryParams ParseBinary(const double* d, size_t n) {
  if (n < 4) throw std::invalid_argument("binary descriptor too short");
  const size_t rank = static_cast<size_t>(d[3]);
  if (rank < 1 || rank > DNNL_MAX_NDIMS || n < 4 + 2 * rank) throw std::invalid_argument("binary descriptor has a bad rank");
  BinaryParams p{static_cast<BinaryAlg>(static_cast<int>(d[0])), d[1] != 0, d[2] != 0, {}, {}};
  for (size_t i = 0; i < rank; i++) {
    p.dims.push_back(static_cast<int64_t>(d[4 + i]));
    p.bDims.push_back(static_cast<int64_t>(d[4 + rank + i]));
    if (p.bDims[i] != 1 && p.bDims[i] != p.dims[i]) throw std::invalid_argument("the second operand does not broadcast");
  }
  return p;
}

void RunBinary(const BinaryParams& p, const Heap& heap, const std::vector<double>& offsets) {
  std::vector<int64_t> key = {400 + p.alg, p.negate, p.boolOut};
  key.insert(key.end(), p.dims.begin(), p.dims.end());
  key.insert(key.end(), p.bDims.begin(), p.bDims.end());
  Run(CachedOp(key, [&]() { return MakeBinary(p); }), heap, offsets);
}

}  // namespace ringtune
