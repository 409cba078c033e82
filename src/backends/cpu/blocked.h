// Channel-blocked activations between CPU kernels. oneDNN's convolutions and pools compute in a channel-blocked
// layout (cpu_kernel.h BlockedView); converting to plain NCHW after every such node and back before the next one
// costs 15-27% of a CNN's time when elementwise ops, Concat or Resize sit between convolutions (SE blocks, FPNs,
// Fire modules). The hand-written kernels for those ops therefore also read and write the blocked form: a
// producer leaves its output blocked when every reader takes hand-offs, and the plain bytes are filled only
// when some reader needs them (materialize).
#pragma once
#include <cstdlib>
#include <memory>

#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

// A hand-off made by a hand-written kernel: the blocked bytes live in the plain output tensor's own bytes when
// they fit exactly (C a multiple of the block: materialize() then converts in place through a scratch copy and
// the blocked form is gone), else in a buffer the producing node keeps.
class BlockedHandoff final : public CpuHandoff {
 public:
  const char* family() const override { return "blocked"; }
  Status materialize() override;
  BlockedView blocked() const override { return done_ && in_place_ ? BlockedView{} : view_; }
  void reset(BlockedView v, float* plain, bool in_place, int threads);

 private:
  BlockedView view_;
  float* plain_ = nullptr;
  bool in_place_ = false, done_ = false;
  int threads_ = 1;
};

// What a node that writes blocked outputs keeps between runs (its node_state()).
struct BlockedOutputState {
  std::shared_ptr<BlockedHandoff> handoff = std::make_shared<BlockedHandoff>();
  std::unique_ptr<float, decltype(&std::free)> buffer{nullptr, &std::free};
  int64_t buffer_floats = 0;
  // The binary kernel's channels-last hand-off (eltwise.cc binary_channels_last), kept with the node like the rest.
  std::shared_ptr<CpuHandoff> channels_last;
};

// The channel-blocked view of input i when its producer handed one over (and it was not materialized since).
BlockedView blocked_input(const CpuKernelContext& ctx, size_t i);
// Fills the plain bytes behind every input's hand-off (the plain path of a kernel that takes hand-offs).
Status materialize_all_inputs(const CpuKernelContext& ctx);

// Output 0 of `dims` in the channel-blocked form with `block` when every reader takes hand-offs: allocates the
// output, returns where to write the blocked values (zero the channel padding: zero_channel_pad) and attaches
// the hand-off. An empty view when the output must be plain (nothing is allocated then).
Result<BlockedView> blocked_output(CpuKernelContext& ctx, const Dims& dims, int64_t block);

// Zeroes the lanes past C in the last channel block of every batch item (a no-op when C % block == 0).
void zero_channel_pad(const BlockedView& v, int threads);
// Blocked -> plain NCHW (`plain` does not overlap v.data).
void unblock(const BlockedView& v, float* plain, int threads);

}  // namespace kiln::cpu
