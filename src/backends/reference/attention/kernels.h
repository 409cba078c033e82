// Declarations of the attention family's reference kernels (attention, RNNs, ai.onnx.ml, training ops).
#pragma once
#include "backends/reference/kernel.h"

namespace kiln {

// Attention and positional encodings.
Status attention_kernel(KernelContext& ctx);
Status rotary_embedding_kernel(KernelContext& ctx);

// Recurrent networks.
Status rnn_kernel(KernelContext& ctx);
Status gru_kernel(KernelContext& ctx);
Status lstm_kernel(KernelContext& ctx);

// ai.onnx.ml
Status ml_label_encoder_kernel(KernelContext& ctx);
Status ml_tree_ensemble_kernel(KernelContext& ctx);
Status ml_tree_ensemble_regressor_kernel(KernelContext& ctx);
Status ml_tree_ensemble_classifier_kernel(KernelContext& ctx);
Status ml_binarizer_kernel(KernelContext& ctx);
Status ml_array_feature_extractor_kernel(KernelContext& ctx);
Status ml_normalizer_kernel(KernelContext& ctx);
Status ml_scaler_kernel(KernelContext& ctx);
Status ml_linear_regressor_kernel(KernelContext& ctx);
Status ml_linear_classifier_kernel(KernelContext& ctx);

// ai.onnx.preview.training
Status train_adagrad_kernel(KernelContext& ctx);
Status train_adam_kernel(KernelContext& ctx);
Status train_momentum_kernel(KernelContext& ctx);

}  // namespace kiln
