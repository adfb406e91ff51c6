// Shared memory for the same-host all-reduce (worker/shm/allreduce.ts): a POSIX shared-memory
// segment mapped into every worker, futex waits on counters inside it, and the fixed-order
// n-way sum. Linux only; when this addon is absent the workers use the ZeroMQ ring.
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include "../../native/exports.h"

namespace {

napi_value Throw(napi_env env, const char* what, const char* name, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s %s: %s", what, name, strerror(err));
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

bool Args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
    napi_throw_type_error(env, nullptr, "ringtune_shm: missing arguments");
    return false;
  }
  return true;
}

// Bytes of a typed array argument (any element type), or nullptr after throwing.
void* TypedData(napi_env env, napi_value v, size_t* bytes) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) {
    napi_throw_type_error(env, nullptr, "ringtune_shm: expected a typed array");
    return nullptr;
  }
  size_t width = type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                 : type == napi_float32_array || type == napi_int32_array || type == napi_uint32_array ? 4
                 : type == napi_int16_array || type == napi_uint16_array ? 2 : 1;
  *bytes = length * width;
  return data;
}

// The segment name argument; false after throwing.
bool NameArg(napi_env env, napi_value v, char (&name)[256]) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "ringtune_shm: the segment name must be a string");
    return false;
  }
  return true;
}

void Unmap(napi_env, void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }

// map(name, bytes): opens (creating if needed) the segment, reserves `bytes` of memory for it up
// front (so a full /dev/shm is an error here, not a SIGBUS later) and maps it shared.
napi_value Map(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[256];
  if (!Args(env, info, 2, argv) || !NameArg(env, argv[0], name)) return nullptr;
  double bytesD;
  napi_get_value_double(env, argv[1], &bytesD);
  size_t bytes = static_cast<size_t>(bytesD);
  int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
  if (fd < 0) return Throw(env, "cannot open shared memory", name, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) { int e = errno; close(fd); return Throw(env, "cannot stat shared memory", name, e); }
  if (static_cast<size_t>(st.st_size) < bytes) {
    int e = posix_fallocate(fd, 0, bytes);
    if (e != 0) { close(fd); return Throw(env, "cannot reserve shared memory (is /dev/shm large enough?)", name, e); }
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) return Throw(env, "cannot map shared memory", name, e);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, bytes, Unmap, reinterpret_cast<void*>(bytes), &ab) != napi_ok) {
    munmap(p, bytes);
    napi_throw_error(env, nullptr, "ringtune_shm: cannot wrap the mapping in an ArrayBuffer");
    return nullptr;
  }
  return ab;
}

// unlink(name): removes the name; existing mappings stay valid.
napi_value Unlink(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[256];
  if (!Args(env, info, 1, argv) || !NameArg(env, argv[0], name)) return nullptr;
  if (shm_unlink(name) != 0 && errno != ENOENT) return Throw(env, "cannot unlink shared memory", name, errno);
  return nullptr;
}

std::atomic<int32_t>* Word(napi_env env, napi_value arr, napi_value idx) {
  size_t bytes;
  void* data = TypedData(env, arr, &bytes);
  if (!data) return nullptr;
  uint32_t i;
  napi_get_value_uint32(env, idx, &i);
  if ((i + 1) * 4 > bytes) { napi_throw_range_error(env, nullptr, "ringtune_shm: counter index out of range"); return nullptr; }
  return reinterpret_cast<std::atomic<int32_t>*>(static_cast<int32_t*>(data) + i);
}

// The first `want` arguments, the first two naming a counter (typed array, index); nullptr after throwing.
std::atomic<int32_t>* CounterArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  return Args(env, info, want, argv) ? Word(env, argv[0], argv[1]) : nullptr;
}

long Futex(std::atomic<int32_t>* w, int op, int32_t val, const struct timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<int32_t*>(w), op, val, timeout, nullptr, 0);
}

// publish(counters, index, value): stores value and wakes every waiter on that counter.
napi_value Publish(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  std::atomic<int32_t>* w = CounterArgs(env, info, 3, argv);
  if (!w) return nullptr;
  int32_t v;
  napi_get_value_int32(env, argv[2], &v);
  w->store(v, std::memory_order_seq_cst);
  Futex(w, FUTEX_WAKE, INT32_MAX, nullptr);
  return nullptr;
}

double NowMs() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// waitAtLeast(counters, index, target, spins, timeoutMs): true once counter >= target (wrapping
// compare), false after timeoutMs. Spins `spins` times first (cheap when peers are on other
// cores), then sleeps in the kernel until a publish wakes it.
napi_value WaitAtLeast(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  std::atomic<int32_t>* w = CounterArgs(env, info, 5, argv);
  if (!w) return nullptr;
  int32_t target;
  uint32_t spins;
  double timeoutMs;
  napi_get_value_int32(env, argv[2], &target);
  napi_get_value_uint32(env, argv[3], &spins);
  napi_get_value_double(env, argv[4], &timeoutMs);
  auto reached = [&](int32_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v) - static_cast<uint32_t>(target)) >= 0; };
  bool ok = false;
  for (uint32_t i = 0; i < spins; i++) {
    if (reached(w->load(std::memory_order_acquire))) { ok = true; break; }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  if (!ok) {
    double deadline = NowMs() + timeoutMs;
    for (;;) {
      int32_t v = w->load(std::memory_order_acquire);
      if (reached(v)) { ok = true; break; }
      double left = deadline - NowMs();
      if (left <= 0) break;
      struct timespec ts;
      ts.tv_sec = static_cast<time_t>(left / 1e3);
      ts.tv_nsec = static_cast<long>((left - ts.tv_sec * 1e3) * 1e6);
      Futex(w, FUTEX_WAIT, v, &ts);
    }
  }
  napi_value out;
  napi_get_boolean(env, ok, &out);
  return out;
}

// sumInto(dst, [src0, src1, ...], scale): dst = ((src0 + src1) + src2 ...) * scale, element by
// element in that fixed order (dst may alias any source), so every rank that runs it on the same
// inputs gets the same bits. Works in cache-sized blocks: one pass over memory, not n.
napi_value SumInto(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!Args(env, info, 3, argv)) return nullptr;
  size_t dstBytes;
  float* dst = static_cast<float*>(TypedData(env, argv[0], &dstBytes));
  if (!dst) return nullptr;
  uint32_t n;
  napi_get_array_length(env, argv[1], &n);
  if (n < 1 || n > 1024) { napi_throw_range_error(env, nullptr, "ringtune_shm: sumInto needs 1 to 1024 sources"); return nullptr; }
  const float* src[1024];
  for (uint32_t k = 0; k < n; k++) {
    napi_value s;
    napi_get_element(env, argv[1], k, &s);
    size_t b;
    src[k] = static_cast<const float*>(TypedData(env, s, &b));
    if (!src[k]) return nullptr;
    if (b != dstBytes) { napi_throw_range_error(env, nullptr, "ringtune_shm: sumInto sources and destination differ in length"); return nullptr; }
  }
  double scaleD;
  napi_get_value_double(env, argv[2], &scaleD);
  const float scale = static_cast<float>(scaleD);
  const size_t count = dstBytes / 4;
  const size_t kBlock = 2048;
  float acc[kBlock];
  for (size_t at = 0; at < count; at += kBlock) {
    const size_t m = count - at < kBlock ? count - at : kBlock;
    const float* a = src[0] + at;
    for (size_t i = 0; i < m; i++) acc[i] = a[i];
    for (uint32_t k = 1; k < n; k++) {
      const float* b = src[k] + at;
      for (size_t i = 0; i < m; i++) acc[i] += b[i];
    }
    float* d = dst + at;
    if (scale != 1.0f) {
      for (size_t i = 0; i < m; i++) d[i] = acc[i] * scale;
    } else {
      for (size_t i = 0; i < m; i++) d[i] = acc[i];
    }
  }
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  static const ringtune::Export functions[] = {
      {"map", Map},
      {"unlink", Unlink},
      {"publish", Publish},
      {"waitAtLeast", WaitAtLeast},
      {"sumInto", SumInto},
  };
  return ringtune::DefineExports(env, exports, functions);
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
