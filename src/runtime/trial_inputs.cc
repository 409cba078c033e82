// Synthetic inputs for build-time trial runs (see trial_inputs.h).
#include "runtime/trial_inputs.h"

#include <cstring>

namespace kiln {

Tensor random_input(DType dtype, const Dims& dims, std::mt19937& rng) {
  Tensor t(dtype, dims);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::kFloat32:
        t.data<float>()[i] = static_cast<float>(u(rng));
        break;
      case DType::kFloat64:
        t.data<double>()[i] = u(rng);
        break;
      default:
        std::memset(static_cast<char*>(t.raw()) + i * dtype_size(dtype), 0, dtype_size(dtype));  // ids, masks: 0
    }
  }
  if (dtype == DType::kFloat16 || dtype == DType::kBFloat16) {
    // 0x3C00 is 1.0 in float16; bfloat16 1.0 is 0x3F80: a harmless constant input.
    uint16_t one = dtype == DType::kFloat16 ? 0x3C00 : 0x3F80;
    for (int64_t i = 0; i < t.numel(); ++i) t.data<uint16_t>()[i] = one;
  }
  return t;
}

Result<NamedValues> trial_inputs(const Graph& g, const std::vector<OptimizationProfile>& profiles, uint32_t seed,
                                 size_t profile) {
  NamedValues inputs;
  std::mt19937 rng(seed);
  for (const auto& vi : g.inputs) {
    if (!vi.type.is_tensor() || vi.type.dtype == DType::kString)
      return failed_precondition("input '" + vi.name + "' cannot be synthesized");
    Dims dims;
    const OptimizationProfile* prof = profile < profiles.size() ? &profiles[profile] : nullptr;
    auto it = prof ? prof->inputs.find(vi.name) : decltype(prof->inputs.end()){};
    if (prof && it != prof->inputs.end()) {
      dims = it->second.opt;
    } else {
      for (const auto& d : vi.type.shape.dims) dims.push_back(d.is_known() ? d.value : 1);
    }
    inputs.emplace_back(vi.name, Value::of(random_input(vi.type.dtype, dims, rng)));
  }
  return inputs;
}

}  // namespace kiln
