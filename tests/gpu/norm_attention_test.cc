// GPU tests of ONNX Attention (cuDNN SDPA, flash and row kernels) against the reference backend.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

struct Case {
  DType dt = DType::kFloat16;
  int64_t batch = 2, q_heads = 4, kv_heads = 4, q_len = 7, kv_len = 7, head_dim = 64, v_head_dim = 0;
  bool three_d = false, causal = false;
  float scale = 0.f;  // 0: default 1/sqrt(D)
  int mask = 0;       // 0 none, 1 bool, 2 additive float32, 3 additive in Q's dtype
  Dims mask_dims;     // empty: [q_len, kv_len]
};

// Bool mask with key 0 always attended (no fully masked rows) and a pseudo-random pattern elsewhere.
Tensor bool_mask(const Dims& dims) {
  Tensor t(DType::kBool, dims);
  const int64_t last = dims.back();
  for (int64_t e = 0; e < t.numel(); ++e) {
    const int64_t j = e % last;
    t.data<uint8_t>()[e] = (j == 0 || (e * 2654435761u >> 7) % 3 != 0) ? 1 : 0;
  }
  return t;
}

Tolerance attention_tolerance(DType dt) {
  if (dt == DType::kFloat32) return Tolerance{1e-4, 1e-5};
  if (dt == DType::kFloat16) return Tolerance{2e-2, 4e-3};
  return Tolerance{5e-2, 2e-2};
}

void check(const Case& c, uint64_t seed) {
  const int64_t dv = c.v_head_dim ? c.v_head_dim : c.head_dim;
  Attrs a;
  if (c.causal) a.set("is_causal", int64_t{1});
  if (c.scale != 0.f) a.set("scale", c.scale);
  Dims qd{c.batch, c.q_heads, c.q_len, c.head_dim}, kd{c.batch, c.kv_heads, c.kv_len, c.head_dim},
      vd{c.batch, c.kv_heads, c.kv_len, dv};
  if (c.three_d) {
    a.set("q_num_heads", c.q_heads);
    a.set("kv_num_heads", c.kv_heads);
    qd = {c.batch, c.q_len, c.q_heads * c.head_dim};
    kd = {c.batch, c.kv_len, c.kv_heads * c.head_dim};
    vd = {c.batch, c.kv_len, c.kv_heads * dv};
  }
  Node n = make_test_node(OpKind::kAttention, c.mask ? 4 : 3, 1, a);
  n.opset = 23;
  std::vector<Tensor> in = {random_tensor(c.dt, qd, seed), random_tensor(c.dt, kd, seed + 1),
                            random_tensor(c.dt, vd, seed + 2)};
  const Dims md = c.mask_dims.empty() ? Dims{c.q_len, c.kv_len} : c.mask_dims;
  if (c.mask == 1) in.push_back(bool_mask(md));
  if (c.mask == 2) in.push_back(random_tensor(DType::kFloat32, md, seed + 3, -2.0, 2.0));
  if (c.mask == 3) in.push_back(random_tensor(c.dt, md, seed + 3, -2.0, 2.0));
  SCOPED_TRACE(std::string(dtype_name(c.dt)) + " B" + std::to_string(c.batch) + " Hq" + std::to_string(c.q_heads) +
               " Hkv" + std::to_string(c.kv_heads) + " Sq" + std::to_string(c.q_len) + " Skv" +
               std::to_string(c.kv_len) + " D" + std::to_string(c.head_dim) + " Dv" + std::to_string(dv) +
               (c.three_d ? " 3-D" : "") + (c.causal ? " causal" : "") + " mask" + std::to_string(c.mask) + " " +
               dims_to_string(md));
  const Tolerance tol = attention_tolerance(c.dt);
  expect_cuda_matches_reference(n, in, {}, &tol);
}

TEST(CudaNormAttention, SequenceLengthsHeadDimsDtypes) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat16, DType::kBFloat16, DType::kFloat32})
    for (int64_t d : {64, 128})
      for (int64_t s : {1, 7, 128, 200}) {
        Case c;
        c.dt = dt;
        c.head_dim = d;
        c.q_len = c.kv_len = s;
        check(c, 10 + s + d);
      }
}

TEST(CudaNormAttention, OtherHeadDims) {
  KILN_REQUIRE_GPU();
  for (int64_t d : {32, 80, 96, 40, 256}) {
    Case c;
    c.head_dim = d;
    c.q_len = 70;
    c.kv_len = 130;
    check(c, 100 + d);
  }
  Case c;  // V head size differs from Q/K's: row kernel
  c.head_dim = 64;
  c.v_head_dim = 32;
  check(c, 150);
}

TEST(CudaNormAttention, Masks) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat16, DType::kFloat32}) {
    const std::vector<std::pair<int, Dims>> masks = {
        {1, {}},                // bool [Sq, Skv]
        {2, {}},                // float32 additive [Sq, Skv]
        {3, {2, 1, 100, 150}},  // additive [B, 1, Sq, Skv]
        {2, {1, 4, 1, 150}},    // [1, H, 1, Skv]
        {1, {2, 4, 100, 150}},  // full bool
        {2, {100, 120}},        // last dim shorter than Skv: the rest is masked out
    };
    for (const auto& [kind, dims] : masks) {
      Case c;
      c.dt = dt;
      c.q_len = 100;
      c.kv_len = 150;
      c.mask = kind;
      c.mask_dims = dims;
      check(c, 200 + kind);
    }
  }
}

TEST(CudaNormAttention, CausalGqaThreeDScale) {
  KILN_REQUIRE_GPU();
  for (DType dt : {DType::kFloat16, DType::kBFloat16, DType::kFloat32}) {
    Case c;
    c.dt = dt;
    c.causal = true;
    for (int64_t s : {1, 7, 128, 200}) {
      c.q_len = c.kv_len = s;
      check(c, 300 + s);
    }
    c.q_len = 50;  // Sq < Skv: top-left aligned as in the reference
    c.kv_len = 130;
    check(c, 310);
    c.mask = 1;  // causal and a bool mask together
    check(c, 311);

    Case g;  // GQA
    g.dt = dt;
    g.q_heads = 8;
    g.kv_heads = 2;
    g.q_len = 65;
    g.kv_len = 129;
    check(g, 320);
    g.three_d = true;  // 3-D [B, S, H*D] with q_num_heads/kv_num_heads
    check(g, 321);
    g.scale = 0.05f;
    g.causal = true;
    check(g, 322);
  }
}

// Pins the Attention tactic for one scope (KILN_CUDA_ATTENTION_TACTIC, read by the CUDA kernel at build and run).
class TacticGuard {
 public:
  explicit TacticGuard(const char* tactic) { setenv("KILN_CUDA_ATTENTION_TACTIC", tactic, 1); }
  ~TacticGuard() { unsetenv("KILN_CUDA_ATTENTION_TACTIC"); }
};

// The fp16/bf16 cases both tactics must cover: BERT-like [B,1,1,S] additive masks, bool masks, causal, GQA, 3-D and
// 4-D layouts, sequence lengths 1/77/128/300 and head sizes 64/128.
std::vector<Case> tactic_cases() {
  std::vector<Case> out;
  for (DType dt : {DType::kFloat16, DType::kBFloat16})
    for (int64_t d : {64, 128})
      for (int64_t s : {1, 77, 128, 300}) {
        Case c;
        c.dt = dt;
        c.head_dim = d;
        c.q_len = c.kv_len = s;
        c.three_d = s != 128;
        out.push_back(c);  // no mask
        Case m = c;        // BERT: additive float32 [B, 1, 1, S]
        m.mask = 2;
        m.mask_dims = {c.batch, 1, 1, s};
        out.push_back(m);
        m.mask = 3;  // additive in the I/O dtype
        out.push_back(m);
        Case bm = c;  // bool [Sq, Skv]
        bm.mask = 1;
        out.push_back(bm);
        Case cc = c;  // causal
        cc.causal = true;
        out.push_back(cc);
        Case g = c;  // GQA 8 -> 2 heads
        g.q_heads = 8;
        g.kv_heads = 2;
        g.causal = s % 2 == 0;
        out.push_back(g);
      }
  Case x;  // Sq != Skv with a full [B, H, Sq, Skv] bool mask and an explicit scale
  x.q_len = 100;
  x.kv_len = 160;
  x.mask = 1;
  x.mask_dims = {2, 4, 100, 160};
  x.scale = 0.07f;
  out.push_back(x);
  x.mask = 2;  // float32 [Sq, Skv]
  x.mask_dims = {};
  out.push_back(x);
  return out;
}

TEST(CudaNormAttention, OwnKernelTactic) {
  KILN_REQUIRE_GPU();
  TacticGuard guard("own");
  uint64_t seed = 400;
  for (const Case& c : tactic_cases()) check(c, seed++);
}

// sdpa-only: a case cuDNN refuses fails with cuDNN's reason instead of silently running the own kernel.
TEST(CudaNormAttention, CudnnSdpaTactic) {
  KILN_REQUIRE_GPU();
  TacticGuard guard("sdpa-only");
  uint64_t seed = 500;
  for (const Case& c : tactic_cases()) check(c, seed++);
}

// Where SDPA cannot run (float32, head size 40) tactic 0 falls back to the own kernels; a mask shorter than the keys
// reaches SDPA padded with -inf.
TEST(CudaNormAttention, SdpaFallsBackToOwnKernels) {
  KILN_REQUIRE_GPU();
  TacticGuard guard("sdpa");
  Case f;
  f.dt = DType::kFloat32;
  check(f, 600);
  Case d;
  d.head_dim = 40;
  check(d, 601);
  Case m;
  m.q_len = 100;
  m.kv_len = 150;
  m.mask = 2;
  m.mask_dims = {100, 120};
  check(m, 602);
}

}  // namespace
}  // namespace kiln::testing
