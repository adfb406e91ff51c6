// The exports table both native addons (shared memory, oneDNN kernels) hand to Node-API.
#pragma once
#include <node_api.h>

#include <cstddef>

namespace ringtune {

// One function an addon exports: its JavaScript name and its C++ entry.
struct Export {
  const char* name;
  napi_callback fn;
};

// Defines every entry of `list` on `exports` as a plain method.
template <size_t N>
napi_value DefineExports(napi_env env, napi_value exports, const Export (&list)[N]) {
  napi_property_descriptor props[N];
  for (size_t i = 0; i < N; i++) props[i] = {list[i].name, nullptr, list[i].fn, nullptr, nullptr, nullptr, napi_default, nullptr};
  napi_define_properties(env, exports, N, props);
  return exports;
}

}  // namespace ringtune
