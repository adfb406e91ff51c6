// Batch normalization (training mode, and inference with the moving statistics) and the ReLU
// gradients (bnorm.cc): the passes that surround every convolution of a training step or a
// validation pass.
#pragma once

#include "op.h"

namespace ringtune {

enum NormKind { kNormForward = 0, kNormBackward = 1, kReluBackward = 2, kNormInference = 3 };

struct NormParams {
  NormKind kind;
  int64_t n, c, h, w;  // channels last; a [rows, C] tensor is {rows, C, 1, 1}
  float epsilon;       // BatchNorm's; the upper clip of a ReLU gradient (0: plain ReLU)
};

// Reads a descriptor of `n` doubles; throws std::invalid_argument when it is malformed.
NormParams ParseNorm(const double* d, size_t n);

// Runs on the heap tensors at `offsets`. Forward: x, gamma, beta, y, mean, variance (biased, over
// N*H*W). Backward: x, gamma, beta, mean, variance, dy, dx, dgamma, dbeta. ReLU gradient: dy, x, dx.
// Inference: x, mean, variance, gamma, beta, y.
void RunNorm(const NormParams& p, const Heap& heap, const std::vector<double>& offsets);

}  // namespace ringtune
