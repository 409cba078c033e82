// Host side of FusedElementwise on CUDA: parses the program once per (context, node) into bytecode.
#include "backends/cuda/elementwise/fused.h"

#include <memory>

#include "backends/cuda/elementwise/elementwise_kernels.h"
#include "backends/cuda/elementwise/host_util.h"
#include "ir/infer/fused_ops.h"

namespace kiln::cuda {

namespace {

FusedOp fused_op_of(fused::EwOp op) {
  switch (op) {
    case fused::EwOp::kAdd:
      return FusedOp::kAdd;
    case fused::EwOp::kSub:
      return FusedOp::kSub;
    case fused::EwOp::kMul:
      return FusedOp::kMul;
    case fused::EwOp::kDiv:
      return FusedOp::kDiv;
    case fused::EwOp::kPow:
      return FusedOp::kPow;
    case fused::EwOp::kMax:
      return FusedOp::kMax;
    case fused::EwOp::kMin:
      return FusedOp::kMin;
    case fused::EwOp::kNeg:
      return FusedOp::kNeg;
    case fused::EwOp::kAbs:
      return FusedOp::kAbs;
    case fused::EwOp::kRelu:
      return FusedOp::kRelu;
    case fused::EwOp::kSigmoid:
      return FusedOp::kSigmoid;
    case fused::EwOp::kTanh:
      return FusedOp::kTanh;
    case fused::EwOp::kExp:
      return FusedOp::kExp;
    case fused::EwOp::kLog:
      return FusedOp::kLog;
    case fused::EwOp::kSqrt:
      return FusedOp::kSqrt;
    case fused::EwOp::kReciprocal:
      return FusedOp::kReciprocal;
    case fused::EwOp::kErf:
      return FusedOp::kErf;
    case fused::EwOp::kGelu:
      return FusedOp::kGelu;
    case fused::EwOp::kGeluTanh:
      return FusedOp::kGeluTanh;
    case fused::EwOp::kSilu:
      return FusedOp::kSilu;
    case fused::EwOp::kFloor:
      return FusedOp::kFloor;
    case fused::EwOp::kCeil:
      return FusedOp::kCeil;
    case fused::EwOp::kLeakyRelu:
      return FusedOp::kLeakyRelu;
    case fused::EwOp::kClip:
      return FusedOp::kClip;
  }
  return FusedOp::kAdd;
}

// The bytecode of a node's program; errors name the node.
Result<FusedProgram> compile_program(const Node& node) {
  KILN_ASSIGN_OR_RETURN(fused::Program p, fused::parse_program(node));
  if (p.steps.empty()) return invalid_argument(node.describe() + ": program has no steps");
  if (p.steps.size() > static_cast<size_t>(kMaxFusedSteps))
    return unimplemented(node.describe() + ": program has " + std::to_string(p.steps.size()) +
                         " steps; the CUDA kernel takes at most " + std::to_string(kMaxFusedSteps));
  FusedProgram prog;
  prog.num_steps = static_cast<int>(p.steps.size());
  for (size_t j = 0; j < p.steps.size(); ++j) {
    const fused::Step& st = p.steps[j];
    FusedInstr& in = prog.steps[j];
    in.op = fused_op_of(st.op);
    for (size_t a = 0; a < st.args.size() && a < 3; ++a) {
      const fused::Operand& o = st.args[a];
      FusedOperand& d = in.args[a];
      d.kind = o.kind == fused::Operand::Kind::kInput ? 0 : (o.kind == fused::Operand::Kind::kStep ? 1 : 2);
      d.index = static_cast<uint8_t>(o.index);
      d.value = o.value;
    }
  }
  return prog;
}

}  // namespace

bool supports_fused_elementwise(const Node& node, const std::vector<const TypeInfo*>& types) {
  if (node.inputs.empty() || node.inputs.size() > static_cast<size_t>(kMaxFusedInputs)) return false;
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (!dtype_in(types, i, {DType::kFloat32, DType::kFloat16, DType::kBFloat16})) return false;
  return compile_program(node).ok();
}

Status run_fused_elementwise(CudaKernelContext& ctx) {
  std::shared_ptr<void>& state = ctx.node_state();
  if (!state) {
    KILN_ASSIGN_OR_RETURN(FusedProgram prog, compile_program(ctx.node()));
    state = std::make_shared<FusedProgram>(prog);
  }
  const FusedProgram& prog = *static_cast<const FusedProgram*>(state.get());
  const size_t k = ctx.num_inputs();
  if (k == 0) return ctx.error("needs at least one input");
  if (k > static_cast<size_t>(kMaxFusedInputs))
    return ctx.unsupported("more than " + std::to_string(kMaxFusedInputs) + " inputs on CUDA");
  const DType dt = ctx.input_dtype(0);
  std::vector<Dims> shapes;
  for (size_t i = 0; i < k; ++i) {
    if (!is_float_dtype(ctx.input_dtype(i)))
      return ctx.error("input " + std::to_string(i) + " must be a float tensor; got " + dtype_name(ctx.input_dtype(i)));
    shapes.push_back(ctx.input_dims(i));
  }
  Dims out_dims;
  if (!broadcast_dims(shapes, &out_dims)) return ctx.error("inputs do not broadcast together");
  KILN_ASSIGN_OR_RETURN(DeviceTensor y, ctx.allocate_output(0, dt, out_dims));
  if (y.numel() == 0) return ok_status();
  FusedInputs in;
  in.count = static_cast<int>(k);
  std::vector<Dims> padded(kMaxFusedInputs, Dims{});
  for (size_t i = 0; i < k; ++i) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor x, ctx.input(i));
    in.ptr[i] = x.data;
    in.dtype[i] = x.dtype;
    padded[i] = x.dims;
  }
  // Unused input slots are scalars (stride 0 everywhere), so they never constrain dim merging.
  if (!make_broadcast<kMaxFusedInputs>(out_dims, padded, &in.desc))
    return ctx.unsupported("broadcast needs more than " + std::to_string(kMaxDims) + " dims after collapsing");
  in.all_contiguous = true;
  for (size_t i = 0; i < k; ++i)
    in.all_contiguous = in.all_contiguous && is_contiguous_input(in.desc, static_cast<int>(i));
  return launch_status(ctx, launch_fused_elementwise(prog, in, dt, y.data, y.numel(), ctx.stream()),
                       "FusedElementwise");
}

}  // namespace kiln::cuda
