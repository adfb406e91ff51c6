// See adam.h. Bitwise equality with the JS loop needs the same IEEE double operations in the same
// order: no fused multiply-add (GCC contracts across statements by default outside ISO C) and no
// fast-math. binding.gyp builds this file alone with -ffp-contract=off and -fno-math-errno (errno
// is what keeps sqrt from vectorizing; it changes no result); the pragmas repeat the first where
// the compiler honours them.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("-ffp-contract=off")
#endif

#include "adam.h"

#include <cmath>
#include <cstddef>
#include <string>

namespace ringtune {
namespace {

struct Coefficients {
  double f, mom, damp, sqrMom, sqrDamp, scale, invDebias2, eps;
};

// adamLoop of shared/optim.ts, operation for operation.
void Pass(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v, size_t len, const Coefficients& c) {
  for (size_t i = 0; i < len; i++) {
    const double gi = g[i];
    const float mi = static_cast<float>(c.mom * m[i] + c.damp * gi);
    const float vi = static_cast<float>(c.sqrMom * v[i] + c.sqrDamp * gi * gi);
    m[i] = mi;
    v[i] = vi;
    const double decayed = static_cast<float>(p[i] * c.f);
    p[i] = static_cast<float>(decayed + (c.scale * mi) / (std::sqrt(vi * c.invDebias2) + c.eps));
  }
}

napi_value Fail(napi_env env, const std::string& what) {
  napi_throw_error(env, nullptr, ("ringtune_onednn: adam: " + what).c_str());
  return nullptr;
}

const char* const kNames[] = {"p", "g", "m", "v"};

}  // namespace

napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 5)
    return Fail(env, "expected (p, g, m, v: Float32Array, desc: Float64Array)");
  float* arrays[4];
  size_t lengths[4];
  for (int i = 0; i < 4; i++) {
    napi_typedarray_type type;
    void* data;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, argv[i], &type, &lengths[i], &data, &ab, &offset) != napi_ok ||
        type != napi_float32_array)
      return Fail(env, std::string(kNames[i]) + " must be a Float32Array");
    arrays[i] = static_cast<float*>(data);
  }
  napi_typedarray_type type;
  size_t descLength;
  void* descData;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, argv[4], &type, &descLength, &descData, &ab, &offset) != napi_ok ||
      type != napi_float64_array || descLength != 10)
    return Fail(env, "desc must be a Float64Array of 10 (off, len and the segment's coefficients)");
  const double* d = static_cast<const double*>(descData);
  if (!(d[0] >= 0 && d[1] >= 0) || d[0] != std::floor(d[0]) || d[1] != std::floor(d[1]))
    return Fail(env, "off and len must be whole and non-negative, got " + std::to_string(d[0]) + " and " + std::to_string(d[1]));
  const size_t off = static_cast<size_t>(d[0]);
  const size_t len = static_cast<size_t>(d[1]);
  for (int i = 0; i < 4; i++)
    if (off + len > lengths[i])
      return Fail(env, "segment [" + std::to_string(off) + ", " + std::to_string(off + len) + ") runs past " + kNames[i] +
                           " (" + std::to_string(lengths[i]) + " floats)");
  const Coefficients c{d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]};
  Pass(arrays[0] + off, arrays[1] + off, arrays[2] + off, arrays[3] + off, len, c);
  return nullptr;
}

}  // namespace ringtune
