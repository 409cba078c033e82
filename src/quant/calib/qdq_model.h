// Q/DQ placement on an ONNX ModelProto: which tensors get activation scales, and the rewrite that inserts
// QuantizeLinear/DequantizeLinear pairs and per-channel int8 weights (the contract with passes/fold_qdq).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "onnx/onnx-ml.pb.h"
#include "quant/calib/calib_cache.h"

namespace kiln::calib {

// A Conv, MatMul or Gemm of the top-level graph whose weight (Conv W, MatMul B, Gemm B) is a float initializer.
struct QuantOp {
  int node = 0;         // index in graph.node
  std::string weight;   // the initializer's name (input 1)
  int axis = 0;         // per-channel axis of the weight: Conv 0, MatMul [K,N] 1, Gemm transB ? 0 : 1
  std::string layer;    // layer_names()[node]: how reports and keep-float sets name the op
  std::string op_type;  // Conv | MatMul | Gemm
};

struct QuantTargets {
  std::vector<QuantOp> ops;
  // Activation inputs X (input 0 of the ops): X -> Q -> DQ -> the op.
  std::vector<std::string> inputs;
  // Op outputs Y (or the output of a Relu that is Y's only consumer) that are not graph outputs: all their
  // consumers read the DQ.
  std::vector<std::string> outputs;
  // Residual Adds (graph.node indices) whose two inputs are quantized tensors and whose result (or its sole Relu's)
  // is read only by quantized ops and other such Adds: both inputs read their DQ and the result is in `outputs`, so
  // that fold_qdq_binary makes them QLinearAdd. An Add feeding float work (a LayerNorm, a pool) stays float.
  std::vector<int> adds;
  // Every tensor that needs a scale (inputs then outputs, each once), in that order.
  std::vector<std::string> tensors() const;
};

// Checks that the model can take Q/DQ nodes and normalizes it for placement: fails on a model that already has
// QuantizeLinear/DequantizeLinear nodes (build it as it is) or on an opset < 13 model holding an op whose meaning
// changed by opset 13 (convert it first); folds inference BatchNormalization nodes into the Conv before them
// (as ONNX Runtime's quantization pre-processing does), so that Q/DQ lands after the folded Conv.
// `base_dir`: where external data lives. Returns the number of folded BatchNormalization nodes.
Result<int> prepare_for_quantization(onnx::ModelProto& model, const std::string& base_dir);

// One name per node of `g`, unique: the node's name, or its first output's name when the node has no name or shares
// it with another node. The accuracy guard's layers (reports, keep-float sets, `kiln inspect`) go by these names.
std::vector<std::string> layer_names(const onnx::GraphProto& g);

// The ops and tensors of a prepared model that quantization touches (docs/int8.md, "Q/DQ placement"). Ops whose
// layer name is in `keep_float` stay float: no int8 weight, and their input and output get Q/DQ only where another
// quantized op needs it (the accuracy guard's mechanism; the scales of the tensors that remain are unchanged).
Result<QuantTargets> find_quant_targets(const onnx::ModelProto& model, const std::string& base_dir,
                                        const std::set<std::string>& keep_float = {});

// What insert_qdq writes: int8 (uint8/int8 activations with the cache's zero points, int8 per-channel weights), or
// float8 e4m3fn (the FP8 of --precision fp8: activation scale max(|min|, |max|) / 448 from the cache's range, weights
// per tensor with scale max|w| / 448, zero points 0; pass fp8_targets' subset).
enum class QdqFormat { kInt8, kFloat8E4M3FN };

// The part of `t` that FP8 quantizes (docs/int8.md, "FP8"): MatMul, and Gemm with transA 0, whose 2-D weight has
// both dims multiples of 16 (FP8 tensor-core GEMMs' alignment); their X inputs. No outputs and no Adds: an FP8
// product writes float (fold_qdq_fp8).
QuantTargets fp8_targets(const onnx::ModelProto& model, const QuantTargets& t);

// Inserts the Q/DQ pairs with the cache's scales (every target tensor must be in it), replaces each op's weight by
// an int8 per-channel initializer + DequantizeLinear (values within +-weight_qmax), and raises the ai.onnx opset to
// 13 (IR version >= 7) if lower. Activations are uint8 with the cache's zero point, or int8 with that zero point
// minus 128 when `signed_activations` (the same values after dequantization; CUDA builds, whose int8 GEMMs read
// and write signed bytes: docs/int8.md).
Status insert_qdq(onnx::ModelProto& model, const QuantTargets& targets, const CalibCache& cache,
                  const std::string& base_dir, int weight_qmax = 127, bool signed_activations = false,
                  QdqFormat format = QdqFormat::kInt8);

}  // namespace kiln::calib
