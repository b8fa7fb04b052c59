#pragma once
// Peak CPU memory of a region: LibTorch's default CPU allocator reports every
// allocation and free to the thread-local MemoryReportingInfoBase installed
// under DebugInfoKind::PROFILER_STATE (the hook the PyTorch profiler uses).
// The peak is what the region holds on top of what existed before it: saved
// activations, temporaries, gradients. oneDNN's own scratch memory is not seen.
#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <cstdint>
#include <memory>

namespace daas::bench {

class PeakMemory : public c10::MemoryReportingInfoBase {
 public:
  void reportMemoryUsage(void* /*ptr*/, int64_t alloc_size, int64_t /*total_allocated*/, int64_t /*total_reserved*/,
                         c10::Device device) override {
    if (device.type() != c10::DeviceType::CPU) return;
    current_ += alloc_size;
    peak_ = std::max(peak_, current_);
  }
  bool memoryProfilingEnabled() const override { return true; }
  int64_t peak() const { return peak_; }

 private:
  int64_t current_ = 0;
  int64_t peak_ = 0;
};

/// Runs `region` and returns the peak bytes it allocated on the CPU.
template <typename F>
int64_t peak_bytes(F&& region) {
  auto reporter = std::make_shared<PeakMemory>();
  {
    c10::DebugInfoGuard guard(c10::DebugInfoKind::PROFILER_STATE, reporter);
    region();
  }
  return reporter->peak();
}

}  // namespace daas::bench
