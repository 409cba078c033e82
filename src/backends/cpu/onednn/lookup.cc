// LookupTable (Y = Table[X], docs/fused-ops.md) on 8-bit tensors in the layout a oneDNN producer hands over: a
// dense (unpadded) layout such as the NHWC of the int8 convolutions is looked up as it is and handed on to the
// readers when they all take hand-offs, so the int8 convolutions around a table (SiLU, HardSwish... in Q/DQ
// models, fold_qdq_lookup) skip the two reorders to plain NCHW and back. Otherwise the plain kernel runs
// (kernels/quantize.cc). The handed-on bytes live in a per-node buffer, like the int8 convolution's own output.
#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/quantize.h"
#include "backends/cpu/onednn/common.h"
#include "backends/cpu/onednn/kernels.h"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

struct LookupState {
  memory out;  // the looked-up bytes in the input's layout
  std::shared_ptr<OnednnHandoff> handoff;
};

bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }
memory::data_type dt_of(DType t) { return t == DType::kInt8 ? memory::data_type::s8 : memory::data_type::u8; }

Status run_lookup(CpuKernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& table = ctx.input(1);
  OnednnHandoff* h = onednn_handoff(ctx, 0);
  if (!h || !ctx.private_output(0) || !is_q8(x.dtype()) || !is_q8(table.dtype()) || table.numel() != 256 ||
      h->mem.get_desc().get_size() != static_cast<size_t>(x.numel()))
  {
    KILN_RETURN_IF_ERROR(materialize_inputs(ctx));  // (takes_handoffs: the plain kernel reads plain bytes)
    return kern::lookup_table_run(ctx);
  }
  try {
    memory::desc md = h->mem.get_desc();
    md.data.data_type = static_cast<dnnl_data_type_t>(dt_of(table.dtype()));
    auto& slot = ctx.node_state();
    if (!slot) slot = std::make_shared<LookupState>();
    auto& s = *static_cast<LookupState*>(slot.get());
    if (!s.out || s.out.get_desc() != md) s.out = memory(md, engine());
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, table.dtype(), x.dims()));
    const auto* src = static_cast<const uint8_t*>(h->mem.get_data_handle());
    auto* dst = static_cast<uint8_t*>(s.out.get_data_handle());
    const uint8_t flip = x.dtype() == DType::kInt8 ? 0x80 : 0;
    kern::parallel_range(kern::threads_for(ctx, x.numel()), x.numel(), [&](int64_t b, int64_t e) {
      kern::lookup_bytes(src + b, table.data<uint8_t>(), flip, dst + b, e - b);
    });
    publish_blocked_output(ctx, s.out, memory(plain_md(x.dims(), dt_of(table.dtype())), engine(), y->raw()),
                           &s.handoff);
  } catch (const dnnl::error& e) {
    return dnnl_failure(ctx, e);
  }
  return ok_status();
}

}  // namespace

void register_onednn_lookup(CpuKernelRegistry& r) {
  r.add(OpKind::kLookupTable, {"lookup_table", kern::lookup_table_supports, run_lookup, /*takes_handoffs=*/true});
}

}  // namespace kiln::cpu::onednn
