// Build time, --precision bf16 (or best) on a CPU with native bf16: which kernel classes compute in bf16.
#pragma once
#include <vector>

#include "runtime/backend.h"

namespace kiln::cpu {

// bf16 does not make every model faster: depthwise convolutions and memory-bound 1x1s with costly epilogues gain
// nothing and every layout change between a bf16 and a float32 kernel costs a reorder (EfficientNet-B0 ran 85
// img/s in bf16 against 108 in float32 on AMX), while transformers' matmuls run 2-3x faster. Times whole runs of
// the engine on synthetic inputs at the opt shape with convolutions and matmuls each in bf16 or float32 and keeps
// the fastest (all-bf16 unless another choice is at least 5% faster), recording it in the plans: precision
// kBFloat16 or kFloat32 on every onednn_conv / onednn_matmul node. Prints one line with the timings. A model that
// cannot run on synthetic inputs, or runs for long, keeps bf16 everywhere. No-op at opt level 0, for other
// precisions and on CPUs without native bf16.
Status choose_bf16_kernel_classes(std::vector<NodePlan>& plans, const PlanRequest& request);

// --precision int8 with float layers in bf16 (TensorRT's --int8 --fp16 on the CPU): the int8 engine's float
// convolutions, matmuls, recurrences and attention compute in bf16 where the CPU has native bf16, unless
// --int8-float fp32. choose_bf16_kernel_classes then marks the plans of CPU nodes with float32 results kBFloat16 (the context allows bf16
// where a plan says so), without timing: an int8 build from the same calibration cache gives the same engine bytes.
bool int8_float_in_bf16(const PlanRequest& request);

}  // namespace kiln::cpu
