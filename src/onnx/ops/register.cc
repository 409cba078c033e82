// The list of import normalizer families.
#include "onnx/ops/normalize.h"

namespace kiln {

void register_elementwise_unary_normalizers(NormalizeRegistry& r);
void register_elementwise_binary_normalizers(NormalizeRegistry& r);
void register_tensor_normalizers(NormalizeRegistry& r);
void register_nn_normalizers(NormalizeRegistry& r);
void register_math_normalizers(NormalizeRegistry& r);
void register_control_normalizers(NormalizeRegistry& r);
void register_attention_normalizers(NormalizeRegistry& r);

void NormalizeContext::set_const_input(size_t index, Tensor t) {
  if (node.inputs.size() <= index) node.inputs.resize(index + 1);
  node.inputs[index] = graph.add_constant(node.name + "_in" + std::to_string(index), std::move(t));
}

const NormalizeRegistry& normalize_registry() {
  static const NormalizeRegistry* reg = [] {
    auto* r = new NormalizeRegistry();
    register_elementwise_unary_normalizers(*r);
    register_elementwise_binary_normalizers(*r);
    register_tensor_normalizers(*r);
    register_nn_normalizers(*r);
    register_math_normalizers(*r);
    register_control_normalizers(*r);
    register_attention_normalizers(*r);
    return r;
  }();
  return *reg;
}

}  // namespace kiln
