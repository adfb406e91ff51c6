// Batched matrix products (matmul.cc) with tfjs's transposes, batch broadcast, bias and activation.
#pragma once

#include "op.h"

namespace ringtune {

struct MatmulParams {
  int64_t batchA, batchB, m, k, n;
  bool transposeA, transposeB;
  int activation;  // an Activation code (conv.h)
  float alpha;
  bool bias;
};

// Reads a descriptor of `n` doubles; throws std::invalid_argument when it is malformed.
MatmulParams ParseMatmul(const double* d, size_t n);

// out[i] = activation(op(a[i or 0]) x op(b[i or 0]) + bias) on the heap tensors at `offsets`: a, b,
// [bias,] out.
void RunMatmul(const MatmulParams& p, const Heap& heap, const std::vector<double>& offsets);

}  // namespace ringtune
