// FusedElementwise on the CPU: the step program runs block by block (256 elements) over broadcast float32
// inputs, each step one vectorized row op; operands that are constant across a block stay scalars.
#include <vector>

#include "backends/cpu/kernels/common.h"
#include "backends/cpu/kernels/eltwise.h"
#include "backends/cpu/kernels/eltwise_rows.h"
#include "ir/infer/fused_ops.h"

namespace kiln::cpu::kern {
namespace {

constexpr int64_t kBlock = 256;

// A compiled step: which row op, and where its operands come from.
struct CStep {
  bool unary = true;
  UOp u = UOp::kIdentity;
  BOp b = BOp::kAdd;
  fused::Operand a0, a1;
  float p0 = 0.f, p1 = 0.f;  // LeakyRelu alpha, Clip bounds (constants by the program contract)
};

struct Compiled {
  std::vector<CStep> steps;
};

Result<Compiled> compile(const CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const fused::Program prog, fused::parse_program(ctx.node()));
  Compiled c;
  for (const fused::Step& s : prog.steps) {
    CStep cs;
    cs.a0 = s.args[0];
    if (auto u = unary_of(s.op)) {
      cs.u = *u;
      if (s.op == fused::EwOp::kLeakyRelu) cs.p0 = s.args[1].value;
      if (s.op == fused::EwOp::kClip) {
        cs.p0 = s.args[1].value;
        cs.p1 = s.args[2].value;
      }
    } else if (auto b = binary_of(s.op)) {
      cs.unary = false;
      cs.b = *b;
      cs.a1 = s.args[1];
    } else {
      return ctx.unsupported(std::string("step op ") + fused::ew_op_name(s.op));
    }
    c.steps.push_back(cs);
  }
  if (c.steps.empty()) return ctx.error("empty program");
  return c;
}

// One value of a block: a pointer and a stride (0: the same value for every element).
struct Ref {
  const float* p = nullptr;
  int64_t s = 0;
};

// Runs the program over n <= kBlock elements; inputs[i] as refs; writes the last step into y.
void run_block(const Compiled& c, const std::vector<Ref>& in, float* scratch, float* y, int64_t n) {
  const size_t ns = c.steps.size();
  Ref vals[64];
  std::vector<Ref> big;
  Ref* v = ns <= 64 ? vals : (big.resize(ns), big.data());
  auto ref = [&](const fused::Operand& o, float* tmp) -> Ref {
    switch (o.kind) {
      case fused::Operand::Kind::kInput: return in[o.index];
      case fused::Operand::Kind::kStep: return v[o.index];
      case fused::Operand::Kind::kConst: *tmp = o.value; return Ref{tmp, 0};
    }
    return Ref{};
  };
  float c0, c1;
  for (size_t j = 0; j < ns; ++j) {
    const CStep& st = c.steps[j];
    float* out = j + 1 == ns ? y : scratch + j * kBlock;
    float* sc = scratch + j * kBlock;  // a scalar result still gets its own slot
    const Ref a = ref(st.a0, &c0);
    if (st.unary) {
      if (a.s == 0 && j + 1 != ns) {
        unary_row(st.u, a.p, sc, 1, st.p0, st.p1);
        v[j] = Ref{sc, 0};
        continue;
      }
      if (a.s == 0) {
        float r;
        unary_row(st.u, a.p, &r, 1, st.p0, st.p1);
        for (int64_t i = 0; i < n; ++i) out[i] = r;
      } else {
        unary_row(st.u, a.p, out, n, st.p0, st.p1);
      }
    } else {
      const Ref b = ref(st.a1, &c1);
      if (a.s == 0 && b.s == 0 && j + 1 != ns) {
        binary_row(st.b, a.p, 0, b.p, 0, sc, 1);
        v[j] = Ref{sc, 0};
        continue;
      }
      binary_row(st.b, a.p, a.s, b.p, b.s, out, n);
    }
    v[j] = Ref{out, 1};
  }
}

}  // namespace

NodeSupport fused_eltwise_supports(const Graph& g, const Node& n) {
  if (n.inputs.empty()) return NodeSupport::no("no inputs");
  std::vector<size_t> idx;
  for (size_t i = 0; i < n.inputs.size(); ++i) idx.push_back(i);
  NodeSupport s = require_dtypes(g, n, idx, {DType::kFloat32});
  if (!s.supported) return s;
  auto prog = fused::parse_program(n);
  if (!prog.ok()) return NodeSupport::no(prog.status().message());
  return NodeSupport::yes();
}

Status fused_eltwise_run(CpuKernelContext& ctx) {
  auto& state = ctx.node_state();
  if (!state) {
    KILN_ASSIGN_OR_RETURN(Compiled c, compile(ctx));
    state = std::make_shared<Compiled>(std::move(c));
  }
  const Compiled& c = *static_cast<const Compiled*>(state.get());
  const size_t k = ctx.num_inputs();
  std::vector<const Dims*> dims;
  for (size_t i = 0; i < k; ++i) {
    if (!ctx.has_input(i) || ctx.input(i).dtype() != DType::kFloat32)
      return ctx.error("input " + std::to_string(i) + " must be a float32 tensor");
    dims.push_back(&ctx.input(i).dims());
  }
  Bcast bc;
  if (!make_bcast(dims, &bc)) return ctx.error("inputs do not broadcast to one shape");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, bc.out));
  float* yp = y->data<float>();
  const int64_t steps = static_cast<int64_t>(c.steps.size());
  const int threads = threads_for(ctx, y->numel() * std::max<int64_t>(1, steps / 2));
  for_each_row_piece(bc, threads, [&](const int64_t* o, int64_t out, int64_t len) {
    thread_local std::vector<float> scratch;
    thread_local std::vector<Ref> in;
    if (scratch.size() < static_cast<size_t>(steps * kBlock)) scratch.resize(static_cast<size_t>(steps * kBlock));
    in.resize(k);
    for (int64_t s = 0; s < len; s += kBlock) {
      const int64_t n = std::min(kBlock, len - s);
      for (size_t i = 0; i < k; ++i) {
        const int64_t st = bc.stride[i].back();
        in[i] = Ref{ctx.input(i).data<float>() + o[i] + s * st, st};
      }
      run_block(c, in, scratch.data(), yp + out + s, n);
    }
  });
  return ok_status();
}

}  // namespace kiln::cpu::kern
