// Channel-blocked hand-offs: conversion to plain, padding, and the producer/reader helpers.
#include "backends/cpu/blocked.h"

#include <cstring>
#include <vector>

#include "backends/cpu/kernels/common.h"

namespace kiln::cpu {

void unblock(const BlockedView& v, float* plain, int threads) {
  const int64_t n = v.dims[0], c = v.dims[1], cb = v.channel_blocks(), b = v.block, s = v.spatial();
  kern::parallel_range(threads, n * cb, [&](int64_t lo, int64_t hi) {
    for (int64_t nb = lo; nb < hi; ++nb) {
      const int64_t ni = nb / cb, bi = nb % cb, lanes = std::min(b, c - bi * b);
      const float* src = v.data + nb * s * b;
      float* dst = plain + (ni * c + bi * b) * s;
      for (int64_t l = 0; l < lanes; ++l) {
        float* d = dst + l * s;
        for (int64_t i = 0; i < s; ++i) d[i] = src[i * b + l];
      }
    }
  });
}

void zero_channel_pad(const BlockedView& v, int threads) {
  const int64_t c = v.dims[1], b = v.block, cb = v.channel_blocks(), s = v.spatial();
  const int64_t used = c - (cb - 1) * b;
  if (used == b) return;
  kern::parallel_range(threads, v.dims[0], [&](int64_t lo, int64_t hi) {
    for (int64_t ni = lo; ni < hi; ++ni) {
      float* last = v.data + (ni * cb + cb - 1) * s * b;
      for (int64_t i = 0; i < s; ++i) std::memset(last + i * b + used, 0, static_cast<size_t>(b - used) * sizeof(float));
    }
  });
}

void BlockedHandoff::reset(BlockedView v, float* plain, bool in_place, int threads) {
  view_ = std::move(v);
  plain_ = plain;
  in_place_ = in_place;
  done_ = false;
  threads_ = threads;
}

Status BlockedHandoff::materialize() {
  if (done_) return ok_status();
  if (in_place_) {
    static thread_local std::vector<float> scratch;
    scratch.assign(view_.data, view_.data + view_.padded_numel());
    BlockedView copy = view_;
    copy.data = scratch.data();
    unblock(copy, plain_, threads_);
  } else {
    unblock(view_, plain_, threads_);
  }
  done_ = true;
  return ok_status();
}

BlockedView blocked_input(const CpuKernelContext& ctx, size_t i) {
  CpuHandoff* h = ctx.input_handoff(i);
  if (!h) return {};
  BlockedView v = h->blocked();
  if (v && v.dims != ctx.input(i).dims()) return {};
  return v;
}

Status materialize_all_inputs(const CpuKernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (CpuHandoff* h = ctx.input_handoff(i)) KILN_RETURN_IF_ERROR(h->materialize());
  return ok_status();
}

Result<BlockedView> blocked_output(CpuKernelContext& ctx, const Dims& dims, int64_t block) {
  if (dims.size() < 3 || block <= 0 || !ctx.private_output(0)) return BlockedView{};
  auto& slot = ctx.node_state();
  if (!slot) slot = std::make_shared<BlockedOutputState>();
  auto& st = *static_cast<BlockedOutputState*>(slot.get());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, dims));
  BlockedView v{nullptr, dims, block};
  const bool in_place = dims[1] % block == 0;
  if (in_place) {
    v.data = y->data<float>();
  } else {
    const int64_t need = v.padded_numel();
    if (st.buffer_floats < need) {
      const size_t bytes = (static_cast<size_t>(need) * sizeof(float) + 63) / 64 * 64;
      st.buffer.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!st.buffer) return resource_exhausted("out of host memory for a blocked activation of " + dims_to_string(dims));
      st.buffer_floats = need;
    }
    v.data = st.buffer.get();
  }
  st.handoff->reset(v, y->data<float>(), in_place, ctx.num_threads());
  ctx.attach_handoff(0, st.handoff);
  return v;
}

}  // namespace kiln::cpu
