// The precision allow-list, written out in one table: ops that may compute in float16/bfloat16, per op which
// inputs and outputs are the float type T. Every other op (and every input not named here) stays as it is.
#include "quant/precision_ops.h"

#include <initializer_list>

namespace kiln {
namespace {

constexpr uint32_t bits(std::initializer_list<int> indices) {
  uint32_t m = 0;
  for (int i : indices) m |= 1u << i;
  return m;
}

constexpr uint32_t kOut0 = 1u;

// Shorthands for the table rows.
LowPrecisionOp math(OpKind op, uint32_t t_inputs) { return {op, t_inputs, false, 0, kOut0, false, 0, false}; }
LowPrecisionOp mover(OpKind op, uint32_t t_inputs) { return {op, t_inputs, false, 0, kOut0, false, 0, true}; }

std::vector<LowPrecisionOp> build_table() {
  using K = OpKind;
  const uint32_t x = bits({0});
  return {
      // Convolution and matrix products (accumulate in float32 in every backend).
      math(K::kConv, bits({0, 1, 2})),
      math(K::kConvTranspose, bits({0, 1, 2})),
      math(K::kFusedConv, bits({0, 1, 2, 3})),  // X, W, B, Z (residual)
      math(K::kMatMul, bits({0, 1})),
      math(K::kGemm, bits({0, 1, 2})),
      math(K::kFusedMatMul, bits({0, 1, 2, 3})),  // A, B, bias, Z
      // Attention: Q, K, V, attn_mask (T only when float; a bool mask is left alone), past_key, past_value
      // (they must match K/V's dtype). Input 6 (nonpad_kv_seqlen) is int64. Outputs Y, present_key,
      // present_value, qk_matmul_output are all T.
      {K::kAttention, bits({0, 1, 2, 3, 4, 5}), false, bits({3}), bits({0, 1, 2, 3}), false, 0, false},
      // Element-wise arithmetic. Pow: only the base; the exponent keeps its type.
      math(K::kAdd, bits({0, 1})),
      math(K::kSub, bits({0, 1})),
      math(K::kMul, bits({0, 1})),
      math(K::kDiv, bits({0, 1})),
      math(K::kPow, x),
      // Activations and unary math.
      math(K::kRelu, x),
      math(K::kLeakyRelu, x),
      math(K::kSigmoid, x),
      math(K::kTanh, x),
      math(K::kErf, x),
      math(K::kGelu, x),
      math(K::kElu, x),
      math(K::kSelu, x),
      math(K::kSoftplus, x),
      math(K::kHardSigmoid, x),
      math(K::kHardSwish, x),
      math(K::kMish, x),
      math(K::kExp, x),
      math(K::kLog, x),
      math(K::kSqrt, x),
      math(K::kReciprocal, x),
      math(K::kNeg, x),
      math(K::kAbs, x),
      math(K::kClip, bits({0, 1, 2})),  // x, min, max
      {K::kFusedElementwise, 0, true, 0, kOut0, false, 0, false},
      // Softmax family (kernels compute max-subtracted exponentials in float32).
      math(K::kSoftmax, x),
      math(K::kLogSoftmax, x),
      // Normalizations (statistics accumulate in float32 in the kernels). LayerNormalization's Mean and
      // InvStdDev outputs are in stash_type (float32) and stay so.
      {K::kLayerNormalization, bits({0, 1, 2}), false, 0, kOut0, false, bits({1, 2}), false},
      math(K::kFusedAddLayerNorm, bits({0, 1, 2, 3})),  // X, R, Scale, B; the sum and statistics in float32
      math(K::kRMSNormalization, bits({0, 1})),
      math(K::kBatchNormalization, bits({0, 1, 2, 3, 4})),
      math(K::kInstanceNormalization, bits({0, 1, 2})),
      math(K::kGroupNormalization, bits({0, 1, 2})),
      // Pooling and the reductions whose kernels accumulate in float32 (MaxPool's Indices output is int64).
      math(K::kMaxPool, x),
      math(K::kAveragePool, x),
      math(K::kGlobalAveragePool, x),
      math(K::kGlobalMaxPool, x),
      math(K::kReduceMean, x),
      math(K::kReduceMax, x),
      math(K::kReduceMin, x),
      // Quantize/dequantize between int8 ops and lowered float ones (--precision int8 on cuda): QuantizeLinear's x and
      // y_scale, once x arrives in the target type; DequantizeLinear's x_scale and output. A scale that the target
      // type cannot hold to full precision keeps the node in float32 (lower_precision's scale guard).
      {K::kQuantizeLinear, bits({0, 1}), false, 0, 0, false, 0, true},
      {K::kDequantizeLinear, bits({1}), false, 0, kOut0, false, 0, false},
      // Data movement: follows its input's type. Shapes, indices, starts, pads, scales stay as they are.
      mover(K::kReshape, x),
      mover(K::kTranspose, x),
      {K::kConcat, 0, true, 0, kOut0, false, 0, true},
      mover(K::kSlice, x),
      mover(K::kGather, x),
      mover(K::kSqueeze, x),
      mover(K::kUnsqueeze, x),
      mover(K::kFlatten, x),
      {K::kSplit, x, false, 0, 0, true, 0, true},
      mover(K::kExpand, x),
      mover(K::kIdentity, x),
      mover(K::kTile, x),
      mover(K::kResize, x),            // roi and scales (inputs 1, 2) stay float32
      mover(K::kPad, bits({0, 2})),    // data and constant_value
      mover(K::kWhere, bits({1, 2})),  // the condition is bool
      mover(K::kDepthToSpace, x),
      mover(K::kSpaceToDepth, x),
      // Deliberately absent (stay float32): ReduceSum, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum,
      // ReduceLogSumExp, ReduceProd and CumSum (sums of many terms overflow or lose precision in half types),
      // Range, random ops, If/Loop/Scan (their bodies are not rewritten), and every op not listed.
  };
}

}  // namespace

const std::vector<LowPrecisionOp>& low_precision_ops() {
  static const std::vector<LowPrecisionOp> table = build_table();
  return table;
}

const LowPrecisionOp* find_low_precision_op(OpKind op) {
  for (const LowPrecisionOp& e : low_precision_ops())
    if (e.op == op) return &e;
  return nullptr;
}

}  // namespace kiln
