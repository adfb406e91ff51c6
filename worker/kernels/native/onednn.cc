// ringtune's oneDNN kernels for the tfjs wasm backend (loaded by worker/kernels/onednn.ts). Every
// function takes the wasm memory's ArrayBuffer, re-read by the caller after its last allocation
// (memory growth replaces it), a Float64Array describing the operation and a Float64Array of the
// byte offsets of its tensors in that heap; it reads and writes the heap in place.
#include <node_api.h>
#include <omp.h>

#include <exception>
#include <string>

#include "adam.h"
#include "binary.h"
#include "bnorm.h"
#include "conv.h"
#include "matmul.h"
#include "pool.h"
#include "../../native/exports.h"

namespace {

using ringtune::Heap;

napi_value Fail(napi_env env, const std::string& what) {
  napi_throw_error(env, nullptr, ("ringtune_onednn: " + what).c_str());
  return nullptr;
}

struct Call {
  Heap heap{nullptr, 0};
  const double* desc = nullptr;
  size_t descLength = 0;
  std::vector<double> offsets;
};

// Parses (heap, desc, offsets); false after throwing a JS error.
bool ParseCall(napi_env env, napi_callback_info info, Call& call) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3) {
    Fail(env, "expected (heap: ArrayBuffer, desc: Float64Array, offsets: Float64Array)");
    return false;
  }
  void* base;
  if (napi_get_arraybuffer_info(env, argv[0], &base, &call.heap.bytes) != napi_ok) {
    Fail(env, "the heap must be the wasm memory's ArrayBuffer (a SharedArrayBuffer of threaded wasm is not supported)");
    return false;
  }
  call.heap.base = static_cast<uint8_t*>(base);
  const double* arrays[2];
  size_t lengths[2];
  for (int i = 0; i < 2; i++) {
    napi_typedarray_type type;
    void* data;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, argv[1 + i], &type, &lengths[i], &data, &ab, &offset) != napi_ok ||
        type != napi_float64_array) {
      Fail(env, i == 0 ? "desc must be a Float64Array" : "offsets must be a Float64Array");
      return false;
    }
    arrays[i] = static_cast<const double*>(data);
  }
  call.desc = arrays[0];
  call.descLength = lengths[0];
  call.offsets.assign(arrays[1], arrays[1] + lengths[1]);
  return true;
}

// Runs `body` on a parsed call, turning C++ exceptions (oneDNN's included) into JS errors.
template <typename Body>
napi_value Guarded(napi_env env, napi_callback_info info, const char* name, Body body) {
  Call call;
  if (!ParseCall(env, info, call)) return nullptr;
  try {
    body(call);
  } catch (const std::exception& e) {
    return Fail(env, std::string(name) + ": " + e.what());
  }
  return nullptr;
}

// One N-API function: parses the descriptor and runs the op (Run checks the number of tensors).
template <typename Params>
napi_value Entry(napi_env env, napi_callback_info info, const char* name, Params (*parse)(const double*, size_t),
                 void (*run)(const Params&, const Heap&, const std::vector<double>&)) {
  return Guarded(env, info, name, [&](Call& c) { run(parse(c.desc, c.descLength), c.heap, c.offsets); });
}

napi_value Conv(napi_env env, napi_callback_info info) {
  return Entry(env, info, "conv", ringtune::ParseConv, ringtune::RunConv);
}

napi_value Matmul(napi_env env, napi_callback_info info) {
  return Entry(env, info, "matmul", ringtune::ParseMatmul, ringtune::RunMatmul);
}

napi_value Norm(napi_env env, napi_callback_info info) {
  return Entry(env, info, "norm", ringtune::ParseNorm, ringtune::RunNorm);
}

napi_value Binary(napi_env env, napi_callback_info info) {
  return Entry(env, info, "binary", ringtune::ParseBinary, ringtune::RunBinary);
}

napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return Entry(env, info, "maxPoolGrad", ringtune::ParsePool, ringtune::RunMaxPoolGrad);
}

// "oneDNN <version> (<isa>, <threads> thread)": what the backend line reports.
napi_value Describe(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  std::string isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: isa = "AMX"; break;
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_vnni:
    case dnnl::cpu_isa::avx512_core: isa = "AVX-512"; break;
    case dnnl::cpu_isa::avx2_vnni:
    case dnnl::cpu_isa::avx2: isa = "AVX2"; break;
    default: isa = "SSE4.1 or older"; break;
  }
  std::string text = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                     std::to_string(v->patch) + " (" + isa + ", " + std::to_string(omp_get_max_threads()) + " thread)";
  napi_value out;
  napi_create_string_utf8(env, text.c_str(), text.size(), &out);
  return out;
}

napi_value Cached(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_double(env, static_cast<double>(ringtune::CachedOps()), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  // Each worker process owns one core (Note [one thread per worker] in onednn.ts).
  omp_set_num_threads(1);
  static const ringtune::Export functions[] = {
      {"conv", Conv},
      {"matmul", Matmul},
      {"norm", Norm},
      {"binary", Binary},
      {"maxPoolGrad", MaxPoolGrad},
      {"adam", ringtune::Adam},
      {"describe", Describe},
      {"cachedPrimitives", Cached},
  };
  return ringtune::DefineExports(env, exports, functions);
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
