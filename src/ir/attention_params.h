// Attributes of ONNX Attention (opset 23/24) and Kiln's packed_qkv form parsed and checked once, with the shape rules
// every reader re-derived (heads of the 3-D form, the packed QKV split, Q/K/V agreement, the attn_mask broadcast, the
// default scale). Shared by shape inference, the passes and every backend. Errors are invalid_argument without a node
// prefix (callers add theirs) and name the attribute or input.
#pragma once
#include <cstdint>

#include "ir/graph.h"
#include "kiln/dtype.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// What qk_matmul_output (output 3) holds: the scaled Q.K^T, that plus the mask / causal bias, that after softcap, or
// the softmax weights (qk_matmul_output_mode 0..3).
enum class AttentionQkMode { kMatMul = 0, kWithBias = 1, kSoftcapped = 2, kSoftmax = 3 };

struct AttentionParams {
  // 0 when absent. A 3-D or packed input needs both positive; 4-D inputs carry their own head counts (the attributes
  // are then not read, but must still be consistent).
  int64_t q_num_heads = 0, kv_num_heads = 0;
  bool is_causal = false;  // key j > query i + past length is masked out (top-left aligned)
  bool has_scale = false;
  float scale = 0.f;    // the attribute when has_scale; see scale_for
  float softcap = 0.f;  // scores become softcap * tanh(scores / softcap) when > 0 (ONNX: otherwise left as they are)
  AttentionQkMode qk_mode = AttentionQkMode::kMatMul;
  bool has_softmax_precision = false;
  DType softmax_precision = DType::kUndefined;  // float16, float, double or bfloat16 when has_softmax_precision
  // Kiln's fuse_qkv_projection form (docs/fused-ops.md): input 0 is [B, S, (Hq + 2 Hkv) * D], inputs 1 and 2 empty.
  bool packed_qkv = false;

  bool has_softcap() const { return softcap > 0.f; }
  // The factor on Q.K^T for Q's `head_size`: the attribute, else 1 / sqrt(head_size).
  double scale_for(int64_t head_size) const;
};

// invalid_argument naming the attribute when q_num_heads or kv_num_heads is negative, q_num_heads is not a multiple
// of kv_num_heads (both set), is_causal or packed_qkv is not 0 or 1, packed_qkv = 1 lacks positive head counts,
// qk_matmul_output_mode is not 0..3, or softmax_precision is not a floating-point type.
Result<AttentionParams> attention_params(const Attrs& a);

// One of Q, K, V read as [batch, heads, seq, head_size]: a 4-D input as it is, a 3-D one [batch, seq, heads *
// head_size] (sequence positions `row` elements apart: heads * head_size, or the packed width).
struct AttentionHeads {
  bool three_d = false;
  int64_t batch = 0, heads = 0, seq = 0, head_size = 0;
  int64_t row = 0;  // 3-D only
};

// Q, K and V of one node, checked against each other. Packed: all three are views of input 0, starting at columns 0,
// k_col and v_col of each row.
struct AttentionShape {
  AttentionHeads q, k, v;
  bool packed = false;
  int64_t k_col = 0, v_col = 0;  // packed only

  int64_t group() const { return q.heads / k.heads; }  // query heads per KV head
  // Y: [B, Sq, Hq * Dv] for 3-D inputs, [B, Hq, Sq, Dv] for 4-D ones.
  Dims y_dims() const;
};

// From the dims of unpacked Q, K and V. invalid_argument when Q is not 3-D or 4-D, the ranks differ, a 3-D input lacks
// its positive head count (q_num_heads for Q, kv_num_heads for K and V) or its hidden size is not a multiple of it,
// the batches differ, K and V differ in heads or sequence length, K's head size is not Q's, or Q's heads are not a
// multiple of K's.
Result<AttentionShape> attention_shape(const AttentionParams& p, const Dims& q, const Dims& k, const Dims& v);
// packed_qkv = 1: from the dims of input 0. invalid_argument when it is not 3-D or its width is not a multiple of
// q_num_heads + 2 * kv_num_heads (both must be positive).
Result<AttentionShape> attention_packed_shape(const AttentionParams& p, const Dims& x);

// The attn_mask's dims left-padded with 1 to rank 4, checked to broadcast to `target` [B, Hq, Sq, total]: each leading
// dim 1 or the target's, the last at most total (keys past it are masked out). invalid_argument otherwise.
Result<Dims> attention_mask_dims(const Dims& mask, const Dims& target);

}  // namespace kiln
