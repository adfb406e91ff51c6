// Running cached oneDNN primitives on wasm-heap tensors (see op.h).
#include "op.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace ringtune {

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& Stream() {
  static dnnl::stream stream(Engine());
  return stream;
}

void* Heap::At(double offset, size_t bytesNeeded) const {
  if (!(offset >= 0) || offset + static_cast<double>(bytesNeeded) > static_cast<double>(bytes))
    throw std::out_of_range("tensor at heap offset " + std::to_string(static_cast<int64_t>(offset)) + " (" +
                            std::to_string(bytesNeeded) + " bytes) lies past the wasm heap's " + std::to_string(bytes) +
                            " bytes");
  return base + static_cast<size_t>(offset);
}

namespace {

// Scratch memory for one Run: reordered operands and the primitive's scratchpad. Runs are sequential
// (one thread per process), so one buffer serves them all; it only grows, to the largest run's need.
class Arena {
 public:
  void Reserve(size_t bytes) {
    if (bytes <= capacity_) return;
    std::free(data_);
    data_ = static_cast<uint8_t*>(std::aligned_alloc(kAlign, Round(bytes)));
    if (data_ == nullptr) throw std::bad_alloc();
    capacity_ = Round(bytes);
  }
  void* Take(size_t bytes) {
    void* p = data_ + used_;
    used_ += Round(bytes);
    return p;
  }
  void Reset() { used_ = 0; }
  static size_t Round(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

 private:
  static constexpr size_t kAlign = 64;
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

Arena& Scratch() {
  static Arena arena;
  return arena;
}

struct KeyHash {
  size_t operator()(const std::vector<int64_t>& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : k) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

std::unordered_map<std::vector<int64_t>, std::unique_ptr<Op>, KeyHash>& Cache() {
  static std::unordered_map<std::vector<int64_t>, std::unique_ptr<Op>, KeyHash> cache;
  return cache;
}

}  // namespace

Op& CachedOp(const std::vector<int64_t>& key, const std::function<std::unique_ptr<Op>()>& make) {
  auto& cache = Cache();
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= kMaxCached) cache.clear();
  return *cache.emplace(key, make()).first->second;
}

size_t CachedOps() { return Cache().size(); }

dnnl::primitive_attr BaseAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void AddOperand(Op& op, int arg, const memory::desc& user, const memory::desc& inner, bool output) {
  Operand o{arg, user, inner, output, user != inner, {}};
  if (o.reorder) {
    const auto& from = output ? inner : user;
    const auto& to = output ? user : inner;
    o.convert = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), from, Engine(), to));
  }
  op.operands.push_back(std::move(o));
}

void Run(Op& op, const Heap& heap, const std::vector<double>& offsets) {
  if (offsets.size() != op.operands.size())
    throw std::invalid_argument("expected " + std::to_string(op.operands.size()) + " tensor offsets, got " +
                                std::to_string(offsets.size()));
  Arena& arena = Scratch();
  size_t need = Arena::Round(op.scratchpad.get_size());
  for (const auto& o : op.operands)
    if (o.reorder) need += Arena::Round(o.inner.get_size());
  arena.Reserve(need);
  arena.Reset();
  auto& s = Stream();
  std::unordered_map<int, memory> args;
  std::vector<std::pair<const Operand*, std::pair<memory, memory>>> outputs;
  for (size_t i = 0; i < op.operands.size(); i++) {
    const Operand& o = op.operands[i];
    memory user(o.user, Engine(), heap.At(offsets[i], o.user.get_size()));
    if (!o.reorder) {
      args.emplace(o.arg, user);
      continue;
    }
    memory inner(o.inner, Engine(), arena.Take(o.inner.get_size()));
    if (o.output)
      outputs.push_back({&o, {inner, user}});
    else
      o.convert.execute(s, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, inner}});
    args.emplace(o.arg, inner);
  }
  if (op.scratchpad.get_size() > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD, memory(op.scratchpad, Engine(), arena.Take(op.scratchpad.get_size())));
  op.prim.execute(s, args);
  for (auto& [o, mems] : outputs) o->convert.execute(s, {{DNNL_ARG_FROM, mems.first}, {DNNL_ARG_TO, mems.second}});
  s.wait();
}

void AppendActivation(dnnl::post_ops& po, int activation, float alpha) {
  switch (activation) {
    case kLinear: return;
    case kRelu: return po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    case kRelu6: return po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f);
    case kLeakyRelu: return po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, alpha, 0.f);
    case kSigmoid: return po.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f);
    case kElu: return po.append_eltwise(1.f, dnnl::algorithm::eltwise_elu, 1.f, 0.f);
    default: throw std::invalid_argument("unknown fused activation code " + std::to_string(activation));
  }
}

dnnl::primitive_attr ActivationAttr(int activation, float alpha) {
  dnnl::primitive_attr attr = BaseAttr();
  dnnl::post_ops po;
  AppendActivation(po, activation, alpha);
  attr.set_post_ops(po);
  return attr;
}

int64_t FloatBits(float f) {
  int32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

memory::desc ActivationDesc(int64_t n, int64_t c, int64_t h, int64_t w, bool nchw) {
  memory::dims strides = nchw ? memory::dims{c * h * w, h * w, w, 1} : memory::dims{h * w * c, 1, w * c, c};
  return memory::desc({n, c, h, w}, memory::data_type::f32, strides);
}

}  // namespace ringtune
