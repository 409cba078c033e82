// Reference kernels of the attention family: one line per kernel.
#include "backends/reference/attention/kernels.h"

namespace kiln {

void register_attention_kernels(KernelRegistry& r) {
  r.add(OpKind::kAttention, attention_kernel);
  r.add(OpKind::kRotaryEmbedding, rotary_embedding_kernel);
  r.add(OpKind::kRNN, rnn_kernel);
  r.add(OpKind::kGRU, gru_kernel);
  r.add(OpKind::kLSTM, lstm_kernel);
  r.add(OpKind::kMlLabelEncoder, ml_label_encoder_kernel);
  r.add(OpKind::kMlTreeEnsemble, ml_tree_ensemble_kernel);
  r.add(OpKind::kMlTreeEnsembleRegressor, ml_tree_ensemble_regressor_kernel);
  r.add(OpKind::kMlTreeEnsembleClassifier, ml_tree_ensemble_classifier_kernel);
  r.add(OpKind::kMlBinarizer, ml_binarizer_kernel);
  r.add(OpKind::kMlArrayFeatureExtractor, ml_array_feature_extractor_kernel);
  r.add(OpKind::kMlNormalizer, ml_normalizer_kernel);
  r.add(OpKind::kMlScaler, ml_scaler_kernel);
  r.add(OpKind::kMlLinearRegressor, ml_linear_regressor_kernel);
  r.add(OpKind::kMlLinearClassifier, ml_linear_classifier_kernel);
  r.add(OpKind::kTrainAdagrad, train_adagrad_kernel);
  r.add(OpKind::kTrainAdam, train_adam_kernel);
  r.add(OpKind::kTrainMomentum, train_momentum_kernel);
}

}  // namespace kiln
