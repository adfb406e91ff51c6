// Elementwise arithmetic and comparisons with tfjs's broadcasting (binary.cc).
#pragma once

#include "op.h"

namespace ringtune {

enum BinaryAlg { kAdd = 0, kSub, kMul, kDiv, kEq, kNe, kGt, kGe, kLt, kLe };

struct BinaryParams {
  BinaryAlg alg;
  bool negate;                // the result is negated (a - b computed as -(b - a))
  bool boolOut;               // comparisons write 0/1 bytes (tfjs's bool)
  std::vector<int64_t> dims;  // the output's, after merging dims that broadcast alike
  std::vector<int64_t> bDims; // the second operand's: each 1 or the output's
};

// Reads [alg, negate, boolOut, rank, dims..., bDims...]; throws std::invalid_argument when malformed.
BinaryParams ParseBinary(const double* d, size_t n);

// out = a op b (b broadcast), on the heap tensors at offsets {a, b, out}.
void RunBinary(const BinaryParams& p, const Heap& heap, const std::vector<double>& offsets);

}  // namespace ringtune
