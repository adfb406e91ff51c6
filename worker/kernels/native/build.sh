#!/bin/sh
# Builds the oneDNN kernels addon (run by `npm install` and `npm run build:native`). Without
# oneDNN's headers it says how to get them and succeeds: CPU workers then use the wasm kernels.
cd "$(dirname "$0")" || exit 1
if ! echo '#include <oneapi/dnnl/dnnl.hpp>' | "${CXX:-c++}" -x c++ -E - >/dev/null 2>&1; then
  echo "ringtune: oneDNN not found (or no C++ compiler), CPU workers use the wasm kernels; for ~3x: apt-get install -y libdnnl-dev, then npm run build:native"
  exit 0
fi
node-gyp rebuild --loglevel=error || echo "ringtune: the oneDNN kernels addon did not build (see above); CPU workers use the wasm kernels"
