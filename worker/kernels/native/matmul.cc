// Batched matrix products on wasm-heap tensors, in the layouts tfjs stores them (no reorders).
#include "matmul.h"

#include <stdexcept>

namespace ringtune {
namespace {

enum Field { kBatchA, kBatchB, kM, kK, kN, kTransposeA, kTransposeB, kActivation, kAlpha, kBias, kFields };

std::unique_ptr<Op> MakeMatmul(const MatmulParams& p) {
  const auto f32 = memory::data_type::f32;
  const int64_t m = p.m, k = p.k, n = p.n, batch = std::max(p.batchA, p.batchB);
  memory::desc a({p.batchA, m, k}, f32, p.transposeA ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
  memory::desc b({p.batchB, k, n}, f32, p.transposeB ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
  memory::desc out({batch, m, n}, f32, memory::dims{m * n, n, 1});
  memory::desc bias = p.bias ? memory::desc({1, 1, n}, f32, memory::dims{n, n, 1}) : memory::desc();
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, bias, out), ActivationAttr(p.activation, p.alpha), Engine());
  std::vector<Arg> inputs = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}};
  if (p.bias) inputs.emplace_back(DNNL_ARG_BIAS, bias);
  return NewOp<dnnl::matmul>(pd, inputs, {{DNNL_ARG_DST, out}});
}

}  // namespace

MatmulParams ParseMatmul(const double* d, size_t n) {
  const Descriptor f("matmul", d, n, kFields);
  auto i = [&](Field k) { return f.Int(k); };
  MatmulParams p{i(kBatchA),        i(kBatchB),        i(kM), i(kK), i(kN), i(kTransposeA) != 0, i(kTransposeB) != 0,
                 static_cast<int>(i(kActivation)), f.Float(kAlpha), i(kBias) != 0};
  if (p.batchA != p.batchB && p.batchA != 1 && p.batchB != 1)
    throw std::invalid_argument("matmul batches " + std::to_string(p.batchA) + " and " + std::to_string(p.batchB) +
                                " do not broadcast");
  return p;
}

void RunMatmul(const MatmulParams& p, const Heap& heap, const std::vector<double>& offsets) {
  std::vector<int64_t> key = {200, p.batchA, p.batchB, p.m, p.k, p.n, p.transposeA, p.transposeB, p.activation,
                              FloatBits(p.alpha), p.bias};
  Run(CachedOp(key, [&]() { return MakeMatmul(p); }), heap, offsets);
}

}  // namespace ringtune
