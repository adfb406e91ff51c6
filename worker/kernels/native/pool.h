// Max-pooling gradient (pool.cc) with tfjs's choice among equal maxima: the first in the window.
#pragma once

#include "op.h"

namespace ringtune {

struct PoolParams {
  int64_t batch, inH, inW, channels, outH, outW, kh, kw, sh, sw, padT, padL;
};

// Reads a descriptor of `n` doubles; throws std::invalid_argument when it is malformed.
PoolParams ParsePool(const double* d, size_t n);

// dx = the gradient of max pooling (NHWC) given x and dy, on the heap tensors at `offsets`: x, dy, dx.
void RunMaxPoolGrad(const PoolParams& p, const Heap& heap, const std::vector<double>& offsets);

}  // namespace ringtune
