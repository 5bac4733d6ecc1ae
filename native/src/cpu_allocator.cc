// A caching allocator for libtorch's CPU tensors, installed when the addon loads.
//
// Why: libtorch's default CPU allocator is malloc/free. A SparK step allocates and frees gigabytes of
// activations and gradients, most of them larger than glibc's mmap threshold (at most 32 MiB, and
// 51 MiB for ResNet-50's last decoder map at 224, batch 8), so every step maps them afresh and the
// kernel zero-fills every page on first touch: on the 2-core development machine nearly a third of the
// CPU time was the kernel's (page faults), and OpenMP threads spun while one of them faulted. A training step
// allocates the same sizes in the same order every iteration, so keeping freed blocks and handing
// them out again removes nearly all of it, without changing a single number.
//
// Policy (large blocks only; below kLargeMin glibc's heap already reuses memory without faults):
//  - a block is mmap'd at its size rounded up to kGranule; on free its range is cached, coalesced
//    with adjacent cached ranges;
//  - a request takes the smallest cached range that is large enough (best fit) and leaves the rest
//    of it cached;
//  - when none is large enough, cached ranges are unmapped (largest first) until live + cached +
//    request fits under the high-water mark of live + cached plus a slack, and a fresh block is
//    mapped. The mark grows only when live memory needs it, so the peak resident size stays close to
//    that of the live tensors; with glibc alone it is higher (ResNet-50 SparK step: 2.65 GB here vs
//    2.80 GB with glibc, whose heap also fragments when told not to give memory back).
// SPARKTS_CPU_ALLOCATOR=system keeps libtorch's default allocator.
#include "glue.h"
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <type_traits>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace sparkts {
namespace {

constexpr size_t kLargeMin = size_t(1) << 20;   // 1 MiB
constexpr size_t kGranule = size_t(64) << 10;   // 64 KiB
constexpr size_t kMinSlack = size_t(128) << 20;  // 128 MiB

size_t roundUp(size_t n) { return (n + kGranule - 1) / kGranule * kGranule; }

// c10::Allocator::allocate is const up to libtorch 2.2 and non-const from 2.3 on (which also adds the
// pure virtual copy_data): the shim overrides whichever this libtorch declares. Only the specialisation
// that is used gets instantiated, so the other one's `override` is never checked.
constexpr bool kAllocateIsConst = std::is_same_v<decltype(&c10::Allocator::allocate), c10::DataPtr (c10::Allocator::*)(size_t) const>;

template <bool kConst, typename Base = c10::Allocator>
struct AllocatorShim;
template <typename Base>
struct AllocatorShim<true, Base> : Base {
  c10::DataPtr allocate(size_t n) const override { return allocateBlock(n); }
  virtual c10::DataPtr allocateBlock(size_t n) const = 0;
};
template <typename Base>
struct AllocatorShim<false, Base> : Base {
  c10::DataPtr allocate(size_t n) override { return allocateBlock(n); }
  virtual c10::DataPtr allocateBlock(size_t n) const = 0;
};

class CachingCpuAllocator final : public AllocatorShim<kAllocateIsConst> {
 public:
  c10::DataPtr allocateBlock(size_t n) const override {
    void* p = n >= kLargeMin ? const_cast<CachingCpuAllocator*>(this)->takeLarge(n) : c10::alloc_cpu(n);
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  // Overrides the pure virtual of libtorch ≥ 2.3; an unused extra member before.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  static CachingCpuAllocator& instance() {
    static CachingCpuAllocator* a = new CachingCpuAllocator();  // never destroyed: tensors may outlive statics
    return *a;
  }

  struct Stats {
    size_t live = 0, cached = 0, highWater = 0;
    uint64_t freshMaps = 0, reuses = 0, unmaps = 0;
  };
  Stats stats() {
    std::lock_guard<std::mutex> g(mu_);
    return st_;
  }
  void emptyCache() {
    std::lock_guard<std::mutex> g(mu_);
    unmapAllCached();
    st_.highWater = st_.live;
  }

 private:
  static void release(void* p) {
    if (p && !instance().giveBackLarge(static_cast<char*>(p))) c10::free_cpu(p);
  }

  void* takeLarge(size_t n) {
    const size_t size = roundUp(n);
    std::lock_guard<std::mutex> g(mu_);
    char* p = nullptr;
    auto fit = bySize_.lower_bound({size, nullptr});  // best fit: the smallest cached range that is large enough
    if (fit != bySize_.end()) {
      const size_t have = fit->first;
      p = fit->second;
      removeFree(p, have);
      if (have > size) addFree(p + size, have - size);  // the tail stays cached (parts of a mapping unmap independently)
      st_.cached -= size;
      st_.reuses++;
    } else {
      // Nothing cached is large enough: unmap cached ranges, largest first, until the request fits
      // under the high-water mark, then map afresh.
      while (!bySize_.empty() && st_.live + st_.cached + size > st_.highWater + slack()) unmapFree(std::prev(bySize_.end())->second);
      p = map(size);
      if (!p) {  // out of address space or memory: give everything cached back and try once more
        unmapAllCached();
        p = map(size);
      }
      TORCH_CHECK(p, "sparkts CPU allocator: cannot allocate ", n, " bytes (out of memory)");
      st_.freshMaps++;
    }
    st_.live += size;
    if (st_.live + st_.cached > st_.highWater) st_.highWater = st_.live + st_.cached;
    liveSize_[p] = size;
    return p;
  }

  bool giveBackLarge(char* p) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = liveSize_.find(p);
    if (it == liveSize_.end()) return false;
    size_t size = it->second;
    liveSize_.erase(it);
    st_.live -= size;
    st_.cached += size;
    // Coalesce with free neighbours: adjacent anonymous mappings form one range that munmap accepts whole.
    auto next = byAddr_.find(p + size);
    if (next != byAddr_.end()) {
      const size_t s = next->second;
      removeFree(next->first, s);
      size += s;
    }
    auto prev = byAddr_.lower_bound(p);
    if (prev != byAddr_.begin()) {
      --prev;
      if (prev->first + prev->second == p) {
        char* q = prev->first;
        const size_t s = prev->second;
        removeFree(q, s);
        p = q;
        size += s;
      }
    }
    addFree(p, size);
    return true;
  }

  void addFree(char* p, size_t size) {
    byAddr_.emplace(p, size);
    bySize_.emplace(size, p);
  }
  void removeFree(char* p, size_t size) {
    byAddr_.erase(p);
    bySize_.erase({size, p});
  }
  void unmapFree(char* p) {
    const size_t size = byAddr_.at(p);
    removeFree(p, size);
    munmap(p, size);
    st_.cached -= size;
    st_.unmaps++;
  }
  // Room kept above the high-water mark before cached ranges are given back: without it, the tail
  // pieces left by splits are evicted and re-mapped every step (ResNet-50 SparK at 224, batch 8:
  // ~90k page faults a step with none, 0 with 100 MiB, peak RSS 2.40 vs 2.65 GB, glibc's 2.80 GB).
  // A 16th of the mark at batch 16 cost 150 MB more peak RSS than a 32nd, for no fewer faults.
  size_t slack() const { return std::max(kMinSlack, st_.highWater / 32); }

  void unmapAllCached() {
    while (!byAddr_.empty()) unmapFree(byAddr_.begin()->first);
  }

  static char* map(size_t size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }

  std::mutex mu_;
  std::map<char*, size_t> byAddr_;              // cached ranges by address (for coalescing)
  std::set<std::pair<size_t, char*>> bySize_;   // the same ranges by size (for best fit)
  std::unordered_map<void*, size_t> liveSize_;  // blocks handed out -> their rounded size
  Stats st_;
};

bool installed = false;

}  // namespace

void installCpuAllocator() {
  const char* choice = std::getenv("SPARKTS_CPU_ALLOCATOR");
  if (choice && std::strcmp(choice, "system") == 0) return;
  // Priority above libtorch's default registration (0), so ours is what empty_cpu gets.
  c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/10);
  installed = true;
}

Napi::Value cpuAllocatorStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("caching", installed);
  auto s = CachingCpuAllocator::instance().stats();
  o.Set("liveBytes", double(s.live));
  o.Set("cachedBytes", double(s.cached));
  o.Set("highWaterBytes", double(s.highWater));
  o.Set("freshMaps", double(s.freshMaps));
  o.Set("reuses", double(s.reuses));
  o.Set("unmaps", double(s.unmaps));
  return o;
}

Napi::Value cpuAllocatorEmptyCache(const Napi::CallbackInfo& info) {
  CachingCpuAllocator::instance().emptyCache();
  return info.Env().Undefined();
}

}  // namespace sparkts
