// Convolution primitives (conv.cc): what one call asks for, as parsed from the JS descriptor array.
#pragma once

#include "op.h"

namespace ringtune {

enum ConvKind { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

struct ConvParams {
  ConvKind kind;
  int64_t batch, inH, inW, inC, outH, outW, outC, kh, kw, groups, sh, sw, dh, dw, padT, padL, padB, padR;
  bool nchw;
  int activation;
  float alpha;
  bool bias;
};

// Reads a descriptor of `n` doubles; throws std::invalid_argument when it is malformed.
ConvParams ParseConv(const double* d, size_t n);


// Runs the convolution on the heap tensors at `offsets`: forward x, filter, [bias,] y; backward data
// dy, filter, dx; backward weights x, dy, dW.
void RunConv(const ConvParams& p, const Heap& heap, const std::vector<double>& offsets);

}  // namespace ringtune
