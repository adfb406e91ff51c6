// The max-pooling gradient as a plain loop, not oneDNN's pooling: oneDNN takes the maximum's
// position from a forward pass's workspace and documents no order among equal values, while tfjs
// sends dy to the first maximum in the window, and windows of equal values are common (zero
// padding, ReLU zeros). Contributions reach dx in the windows' order, as tfjs adds them.
#include "pool.h"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace ringtune {

PoolParams ParsePool(const double* d, size_t n) {
  constexpr size_t kFields = 12;
  if (n < kFields) throw std::invalid_argument("pool descriptor has " + std::to_string(n) + " fields, expected 12");
  int64_t v[kFields];
  for (size_t i = 0; i < kFields; i++) v[i] = static_cast<int64_t>(d[i]);
  PoolParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
  if (p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1) throw std::invalid_argument("pool window and strides must be positive");
  return p;
}

void RunMaxPoolGrad(const PoolParams& p, const Heap& heap, const std::vector<double>& offsets) {
  if (offsets.size() != 3) throw std::invalid_argument("expected 3 tensor offsets, got " + std::to_string(offsets.size()));
  const int64_t c = p.channels, inPlane = p.inH * p.inW;
  const size_t inBytes = sizeof(float) * p.batch * inPlane * c;
  const size_t outBytes = sizeof(float) * p.batch * p.outH * p.outW * c;
  const float* x = static_cast<const float*>(heap.At(offsets[0], inBytes));
  const float* dy = static_cast<const float*>(heap.At(offsets[1], outBytes));
  float* dx = static_cast<float*>(heap.At(offsets[2], inBytes));
  std::memset(dx, 0, inBytes);
  std::vector<float> best(c);
  std::vector<int64_t> where(c);
  for (int64_t b = 0; b < p.batch; b++) {
    const float* xb = x + b * inPlane * c;
    float* dxb = dx + b * inPlane * c;
    for (int64_t oy = 0; oy < p.outH; oy++) {
      for (int64_t ox = 0; ox < p.outW; ox++) {
        std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
        std::fill(where.begin(), where.end(), -1);
        for (int64_t ky = 0; ky < p.kh; ky++) {
          const int64_t yy = oy * p.sh - p.padT + ky;
          if (yy < 0 || yy >= p.inH) continue;
          for (int64_t kx = 0; kx < p.kw; kx++) {
            const int64_t xx = ox * p.sw - p.padL + kx;
            if (xx < 0 || xx >= p.inW) continue;
            const int64_t pixel = yy * p.inW + xx;
            const float* row = xb + pixel * c;
            for (int64_t k = 0; k < c; k++) {
              if (row[k] > best[k]) {
                best[k] = row[k];
                where[k] = pixel;
              }
            }
          }
        }
        const float* g = dy + ((b * p.outH + oy) * p.outW + ox) * c;
        for (int64_t k = 0; k < c; k++)
          if (where[k] >= 0) dxb[where[k] * c + k] += g[k];
      }
    }
  }
}

}  // namespace ringtune
