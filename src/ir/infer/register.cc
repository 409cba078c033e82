// The list of shape inference families.
#include "ir/shape_inference.h"

namespace kiln {

void register_elementwise_unary_infer(InferRegistry& r);
void register_elementwise_binary_infer(InferRegistry& r);
void register_tensor_infer(InferRegistry& r);
void register_nn_infer(InferRegistry& r);
void register_math_infer(InferRegistry& r);
void register_control_infer(InferRegistry& r);
void register_attention_infer(InferRegistry& r);
void register_fused_infer(InferRegistry& r);

const InferRegistry& infer_registry() {
  static const InferRegistry* reg = [] {
    auto* r = new InferRegistry();
    register_elementwise_unary_infer(*r);
    register_elementwise_binary_infer(*r);
    register_tensor_infer(*r);
    register_nn_infer(*r);
    register_math_infer(*r);
    register_control_infer(*r);
    register_attention_infer(*r);
    register_fused_infer(*r);
    return r;
  }();
  return *reg;
}

}  // namespace kiln
