// The fused fastai Adam pass over one segment of FlatAdam's flat host arrays (shared/optim.ts),
// bitwise equal to adamLoop there. Unlike the kernels it takes no wasm heap: it works on the
// worker's own Float32Arrays.
#pragma once
#include <node_api.h>

namespace ringtune {

// adam(p, g, m, v: Float32Array, desc: Float64Array [off, len, f, mom, damp, sqrMom, sqrDamp,
// scale, invDebias2, eps]): updates p, m and v in place over [off, off + len).
napi_value Adam(napi_env env, napi_callback_info info);

}  // namespace ringtune
