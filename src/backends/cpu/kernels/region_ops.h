// The region and neighbourhood kernel family of older CNNs and two-stage detectors: LRN (local response
// normalization across channels: AlexNet, GoogLeNet, CaffeNet), NonMaxSuppression (detection post-processing) and
// RoiAlign (Faster/Mask R-CNN heads). float32; results match the reference kernels (NMS exactly: IoU in double);
// supports/run pairs registered by register_norm.cc (LRN) and register_data.cc (NMS, RoiAlign).
#pragma once
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu::kern {

NodeSupport lrn_supports(const Graph& g, const Node& n);  // float32, rank >= 2
Status lrn_run(CpuKernelContext& ctx);
NodeSupport nms_supports(const Graph& g, const Node& n);  // float32 boxes and scores
Status nms_run(CpuKernelContext& ctx);
NodeSupport roi_align_supports(const Graph& g, const Node& n);  // float32 X [N,C,H,W] and rois, int32/int64 indices
Status roi_align_run(CpuKernelContext& ctx);

}  // namespace kiln::cpu::kern
