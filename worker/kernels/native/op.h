// One oneDNN primitive bound to tensors that live in the wasm backend's heap (see onednn.cc for the
// N-API side). A primitive is created once per shape (Note [primitive cache]) with the layouts oneDNN
// prefers; operands whose heap layout differs are reordered into a scratch arena around each run.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ringtune {

using dnnl::memory;

// The process's CPU engine and its in-order stream.
dnnl::engine& Engine();
dnnl::stream& Stream();

// The wasm heap of one call: tensor offsets are checked against its length before any access.
struct Heap {
  uint8_t* base;
  size_t bytes;
  // Pointer to `count` floats at byte `offset`; throws std::out_of_range past the heap's end.
  void* At(double offset, size_t bytesNeeded) const;
};

// One operand of a primitive: its layout in the heap and the one the primitive runs on.
struct Operand {
  int arg;  // DNNL_ARG_*
  memory::desc user;
  memory::desc inner;
  bool output;
  bool reorder;  // user != inner: a reorder primitive runs before (input) or after (output)
  dnnl::primitive convert;
};

// A ready primitive and its operands, in the order their heap offsets are passed to Run.
struct Op {
  dnnl::primitive prim;
  std::vector<Operand> operands;
  memory::desc scratchpad;
};

// An Op running the primitive `pd` describes (scratchpad from the arena).
template <typename Primitive, typename Pd>
std::unique_ptr<Op> NewOp(const Pd& pd) {
  auto op = std::make_unique<Op>();
  op->prim = Primitive(pd);
  op->scratchpad = pd.scratchpad_desc();
  return op;
}

// Adds operand `arg` of `prim`'s primitive descriptor with heap layout `user` and primitive layout `inner`.
void AddOperand(Op& op, int arg, const memory::desc& user, const memory::desc& inner, bool output);

// One operand as a kernel lists it: its DNNL_ARG_*, its layout in the heap and the one the primitive
// runs on (the same unless oneDNN picked its own).
struct Arg {
  int arg;
  memory::desc user;
  memory::desc inner;
  Arg(int arg, const memory::desc& layout) : Arg(arg, layout, layout) {}
  Arg(int arg, const memory::desc& user, const memory::desc& inner) : arg(arg), user(user), inner(inner) {}
};

// An Op running the primitive `pd` describes on `inputs` then `outputs`, the order Run takes their
// heap offsets in.
template <typename Primitive, typename Pd>
std::unique_ptr<Op> NewOp(const Pd& pd, const std::vector<Arg>& inputs, const std::vector<Arg>& outputs) {
  auto op = NewOp<Primitive>(pd);
  for (const Arg& a : inputs) AddOperand(*op, a.arg, a.user, a.inner, false);
  for (const Arg& a : outputs) AddOperand(*op, a.arg, a.user, a.inner, true);
  return op;
}

// Runs `op` on the heap tensors at `offsets` (one per operand, in AddOperand order).
void Run(Op& op, const Heap& heap, const std::vector<double>& offsets);

// Attributes every primitive is created with: user-managed scratchpad (from the arena).
dnnl::primitive_attr BaseAttr();

// Note [primitive cache]
// ~~~~~~~~~~~~~~~~~~~~~~
// Creating a oneDNN primitive JIT-compiles its kernel (milliseconds), so primitives are kept per
// shape and attribute set for the life of the process. A training run sees a handful of shapes per
// layer (train and validation batch, a smaller last batch); past kMaxCached entries the cache is
// emptied and refills, bounding the memory of a run whose shapes keep changing.
constexpr size_t kMaxCached = 4096;

// The cached op for `key` (its first element names the primitive kind), made by `make` on a miss.
Op& CachedOp(const std::vector<int64_t>& key, const std::function<std::unique_ptr<Op>()>& make);

// Number of cached primitives.
size_t CachedOps();

// tfjs's fusable activations, by the codes onednn-conv.ts sends.
enum Activation { kLinear = 0, kRelu = 1, kRelu6 = 2, kLeakyRelu = 3, kSigmoid = 4, kElu = 5 };

// Appends tfjs activation `activation` (LeakyRelu slope `alpha`) to a primitive's post-ops.
void AppendActivation(dnnl::post_ops& po, int activation, float alpha);

// BaseAttr with tfjs activation `activation` (LeakyRelu slope `alpha`) fused as a post-op.
dnnl::primitive_attr ActivationAttr(int activation, float alpha);

// The bits of `f`, for cache keys.
int64_t FloatBits(float f);

// Layout of an activation tensor as it lies in the heap: NHWC or NCHW, dims given as {N, C, H, W}.
memory::desc ActivationDesc(int64_t n, int64_t c, int64_t h, int64_t w, bool nchw);

// A kernel's descriptor from JavaScript (an array of numbers) read field by field; refuses, naming
// the kernel, one with fewer than `fields` numbers.
class Descriptor {
 public:
  Descriptor(const char* what, const double* d, size_t n, size_t fields) : d_(d) {
    if (n < fields)
      throw std::invalid_argument(std::string(what) + " descriptor has " + std::to_string(n) + " fields, expected " +
                                  std::to_string(fields));
  }
  int64_t Int(size_t field) const { return static_cast<int64_t>(d_[field]); }
  float Float(size_t field) const { return static_cast<float>(d_[field]); }

 private:
  const double* d_;
};

}  // namespace ringtune
