// Reference FusedElementwise: runs the step program per output element in float32 over broadcast inputs.
#include "backends/reference/fused/fused_math.h"
#include "backends/reference/fused/kernels.h"

namespace kiln::fused_ref {

Status fused_elementwise(KernelContext& ctx) {
  const size_t k = ctx.num_inputs();
  if (k == 0) return ctx.error("needs at least one input");
  for (size_t i = 0; i < k; ++i) KILN_RETURN_IF_ERROR(ctx.require_tensor(i));
  KILN_ASSIGN_OR_RETURN(const fused::Program prog, fused::parse_program(ctx.node()));
  const DType dt = ctx.input(0).dtype();
  if (!fused_dtype_supported(dt))
    return ctx.unsupported(std::string("dtype ") + dtype_name(dt) + " (float16, bfloat16, float32, float64 only)");
  std::vector<Tensor> in;
  Dims out_dims = ctx.input(0).dims();
  for (size_t i = 0; i < k; ++i) {
    const Tensor& t = ctx.input(i);
    if (!fused_dtype_supported(t.dtype()))
      return ctx.error("input " + std::to_string(i) + " must be a float tensor; got " + dtype_name(t.dtype()));
    if (!broadcast_dims(out_dims, t.dims(), &out_dims))
      return ctx.error("input " + std::to_string(i) + " of shape " + dims_to_string(t.dims()) +
                       " does not broadcast with " + dims_to_string(ctx.input(0).dims()));
    in.push_back(to_float32(t));
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(DType::kFloat32, out_dims));
  std::vector<std::vector<int64_t>> maps;
  for (const Tensor& t : in) maps.push_back(broadcast_index_map(t.dims(), out_dims));
  std::vector<float> s(prog.steps.size());
  float* yd = y.data<float>();
  for (int64_t e = 0; e < y.numel(); ++e) {
    auto value = [&](const fused::Operand& o) -> float {
      switch (o.kind) {
        case fused::Operand::Kind::kInput:
          return in[o.index].data<float>()[maps[o.index][e]];
        case fused::Operand::Kind::kStep:
          return s[o.index];
        case fused::Operand::Kind::kConst:
          return o.value;
      }
      return 0.f;
    };
    for (size_t j = 0; j < prog.steps.size(); ++j) {
      const fused::Step& st = prog.steps[j];
      const float a = value(st.args[0]);
      const float b = st.args.size() > 1 ? value(st.args[1]) : 0.f;
      const float c = st.args.size() > 2 ? value(st.args[2]) : 0.f;
      s[j] = eval_step(st.op, a, b, c);
    }
    yd[e] = s.back();
  }
  ctx.set_output(0, from_float32(y, dt));
  return ok_status();
}

}  // namespace kiln::fused_ref
