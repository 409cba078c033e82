// Registers the hand-written quantization boundary kernels (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear; LookupTable is
// registered with the oneDNN kernels, whose layouts it reads: onednn/lookup.cc).
#include "backends/cpu/kernels/quantize.h"
#include "backends/cpu/kernels/register.h"

namespace kiln::cpu {

void register_cpu_quant_kernels(CpuKernelRegistry& r) {
  r.add(OpKind::kQuantizeLinear, {"quantize_linear", kern::quantize_linear_supports, kern::quantize_linear_run});
  r.add(OpKind::kDequantizeLinear, {"dequantize_linear", kern::dequantize_linear_supports, kern::dequantize_linear_run});
  r.add(OpKind::kDynamicQuantizeLinear,
        {"dynamic_quantize_linear", kern::dynamic_quantize_linear_supports, kern::dynamic_quantize_linear_run});
}

}  // namespace kiln::cpu
