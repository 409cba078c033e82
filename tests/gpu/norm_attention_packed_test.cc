// GPU tests of Attention with packed_qkv = 1 (fuse_qkv_projection's output) on both tactics, and of the flash
// kernel's block sizes (1/2/4/8 warps), against the reference backend.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/gpu/gpu_test_util.h"

namespace kiln::testing {
namespace {

struct Case {
  DType dt = DType::kFloat16;
  int64_t batch = 1, q_heads = 12, kv_heads = 12, seq = 128, head_dim = 64;
  bool packed = true, causal = false;
  int mask = 0;  // 0 none, 1 bool [S, S], 2 additive float32 [B, 1, 1, S] (BERT), 3 additive in dt [B, 1, S, S]
};

class EnvGuard {
 public:
  EnvGuard(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~EnvGuard() { unsetenv(name_); }

 private:
  const char* name_;
};

Tolerance tolerance(DType dt) {
  if (dt == DType::kFloat32) return Tolerance{1e-4, 1e-5};
  if (dt == DType::kFloat16) return Tolerance{2e-2, 4e-3};
  return Tolerance{5e-2, 2e-2};
}

void check(const Case& c, uint64_t seed) {
  Attrs a;
  a.set("q_num_heads", c.q_heads);
  a.set("kv_num_heads", c.kv_heads);
  if (c.causal) a.set("is_causal", int64_t{1});
  std::vector<Tensor> in;
  if (c.packed) {
    a.set("packed_qkv", int64_t{1});
    in = {random_tensor(c.dt, {c.batch, c.seq, (c.q_heads + 2 * c.kv_heads) * c.head_dim}, seed), Tensor(), Tensor()};
  } else {
    in = {random_tensor(c.dt, {c.batch, c.seq, c.q_heads * c.head_dim}, seed),
          random_tensor(c.dt, {c.batch, c.seq, c.kv_heads * c.head_dim}, seed + 1),
          random_tensor(c.dt, {c.batch, c.seq, c.kv_heads * c.head_dim}, seed + 2)};
  }
  if (c.mask == 1) {
    Tensor m(DType::kBool, {c.seq, c.seq});
    for (int64_t e = 0; e < m.numel(); ++e) m.data<uint8_t>()[e] = (e % c.seq == 0 || (e * 2654435761u >> 7) % 3 != 0);
    in.push_back(m);
  }
  if (c.mask == 2) in.push_back(random_tensor(DType::kFloat32, {c.batch, 1, 1, c.seq}, seed + 3, -2.0, 2.0));
  if (c.mask == 3) in.push_back(random_tensor(c.dt, {c.batch, 1, c.seq, c.seq}, seed + 3, -2.0, 2.0));
  Node n = make_test_node(OpKind::kAttention, in.size(), 1, a);
  SCOPED_TRACE(std::string(dtype_name(c.dt)) + " B" + std::to_string(c.batch) + " Hq" + std::to_string(c.q_heads) +
               " Hkv" + std::to_string(c.kv_heads) + " S" + std::to_string(c.seq) + " D" + std::to_string(c.head_dim) +
               (c.packed ? " packed" : " 3-D") + (c.causal ? " causal" : "") + " mask" + std::to_string(c.mask));
  const Tolerance tol = tolerance(c.dt);
  expect_cuda_matches_reference(n, in, {}, &tol);
}

// BERT-like packed cases: fp16/bf16, S 128 and 77, batch 1 and 4, no mask / bool / BERT additive / full additive,
// causal, GQA 8 -> 2 heads, head size 128.
std::vector<Case> packed_cases() {
  std::vector<Case> out;
  for (DType dt : {DType::kFloat16, DType::kBFloat16})
    for (int64_t s : {128, 77})
      for (int64_t b : {1, 4}) {
        Case c;
        c.dt = dt;
        c.seq = s;
        c.batch = b;
        for (int m : {0, 1, 2, 3}) {
          c.mask = m;
          out.push_back(c);
        }
        c.mask = 2;
        c.causal = true;
        out.push_back(c);
        Case g = c;
        g.q_heads = 8;
        g.kv_heads = 2;
        g.causal = false;
        out.push_back(g);
        Case d = c;
        d.head_dim = 128;
        d.q_heads = 4;
        d.kv_heads = 4;
        out.push_back(d);
      }
  return out;
}

TEST(CudaNormAttentionPacked, OwnKernelTactic) {
  KILN_REQUIRE_GPU();
  EnvGuard tactic("KILN_CUDA_ATTENTION_TACTIC", "own");
  uint64_t seed = 700;
  for (const Case& c : packed_cases()) check(c, seed++);
}

TEST(CudaNormAttentionPacked, CudnnSdpaTactic) {
  KILN_REQUIRE_GPU();
  EnvGuard tactic("KILN_CUDA_ATTENTION_TACTIC", "sdpa-only");
  uint64_t seed = 800;
  for (const Case& c : packed_cases()) check(c, seed++);
}

// The default (tactic chosen at build time) and the float32 row kernel read the packed input too.
TEST(CudaNormAttentionPacked, DefaultTacticAndFloat32) {
  KILN_REQUIRE_GPU();
  Case c;
  c.mask = 2;
  check(c, 900);
  c.dt = DType::kFloat32;
  c.seq = 77;
  check(c, 901);
}

// Every flash block size on the same shapes, packed and unpacked: rows not a multiple of the block, causal, masks,
// GQA, S = 1.
TEST(CudaNormAttentionPacked, FlashBlockSizes) {
  KILN_REQUIRE_GPU();
  EnvGuard tactic("KILN_CUDA_ATTENTION_TACTIC", "own");
  for (const char* warps : {"1", "2", "4", "8"}) {
    EnvGuard w("KILN_CUDA_FLASH_WARPS", warps);
    SCOPED_TRACE(std::string("warps ") + warps);
    uint64_t seed = 1000;
    for (int64_t s : {1, 77, 128, 200})
      for (bool packed : {true, false}) {
        Case c;
        c.seq = s;
        c.packed = packed;
        c.batch = 2;
        c.q_heads = 4;
        c.kv_heads = 4;
        c.mask = 2;
        check(c, seed++);
        c.mask = 1;
        c.causal = true;
        check(c, seed++);
        c.mask = 0;
        c.q_heads = 8;
        c.kv_heads = 2;
        c.dt = DType::kBFloat16;
        c.head_dim = 128;
        check(c, seed++);
      }
  }
}

}  // namespace
}  // namespace kiln::testing
