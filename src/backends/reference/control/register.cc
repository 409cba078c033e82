// Reference kernels of the control family: one line per kernel.
#include "backends/reference/kernel.h"

namespace kiln {

Status if_kernel(KernelContext& ctx);
Status loop_kernel(KernelContext& ctx);
Status scan_kernel(KernelContext& ctx);
Status sequence_map_kernel(KernelContext& ctx);
Status sequence_construct_kernel(KernelContext& ctx);
Status sequence_empty_kernel(KernelContext& ctx);
Status sequence_at_kernel(KernelContext& ctx);
Status sequence_erase_kernel(KernelContext& ctx);
Status sequence_insert_kernel(KernelContext& ctx);
Status sequence_length_kernel(KernelContext& ctx);
Status split_to_sequence_kernel(KernelContext& ctx);
Status concat_from_sequence_kernel(KernelContext& ctx);
Status optional_kernel(KernelContext& ctx);
Status optional_get_element_kernel(KernelContext& ctx);
Status optional_has_element_kernel(KernelContext& ctx);
Status string_concat_kernel(KernelContext& ctx);
Status string_normalizer_kernel(KernelContext& ctx);
Status string_split_kernel(KernelContext& ctx);
Status regex_full_match_kernel(KernelContext& ctx);
Status tfidf_vectorizer_kernel(KernelContext& ctx);
Status random_normal_kernel(KernelContext& ctx);
Status random_uniform_kernel(KernelContext& ctx);
Status random_normal_like_kernel(KernelContext& ctx);
Status random_uniform_like_kernel(KernelContext& ctx);
Status bernoulli_kernel(KernelContext& ctx);
Status multinomial_kernel(KernelContext& ctx);
Status image_decoder_kernel(KernelContext& ctx);

void register_control_kernels(KernelRegistry& r) {
  r.add(OpKind::kIf, if_kernel);
  r.add(OpKind::kLoop, loop_kernel);
  r.add(OpKind::kScan, scan_kernel);
  r.add(OpKind::kSequenceMap, sequence_map_kernel);
  r.add(OpKind::kSequenceConstruct, sequence_construct_kernel);
  r.add(OpKind::kSequenceEmpty, sequence_empty_kernel);
  r.add(OpKind::kSequenceAt, sequence_at_kernel);
  r.add(OpKind::kSequenceErase, sequence_erase_kernel);
  r.add(OpKind::kSequenceInsert, sequence_insert_kernel);
  r.add(OpKind::kSequenceLength, sequence_length_kernel);
  r.add(OpKind::kSplitToSequence, split_to_sequence_kernel);
  r.add(OpKind::kConcatFromSequence, concat_from_sequence_kernel);
  r.add(OpKind::kOptional, optional_kernel);
  r.add(OpKind::kOptionalGetElement, optional_get_element_kernel);
  r.add(OpKind::kOptionalHasElement, optional_has_element_kernel);
  r.add(OpKind::kStringConcat, string_concat_kernel);
  r.add(OpKind::kStringNormalizer, string_normalizer_kernel);
  r.add(OpKind::kStringSplit, string_split_kernel);
  r.add(OpKind::kRegexFullMatch, regex_full_match_kernel);
  r.add(OpKind::kTfIdfVectorizer, tfidf_vectorizer_kernel);
  r.add(OpKind::kRandomNormal, random_normal_kernel);
  r.add(OpKind::kRandomUniform, random_uniform_kernel);
  r.add(OpKind::kRandomNormalLike, random_normal_like_kernel);
  r.add(OpKind::kRandomUniformLike, random_uniform_like_kernel);
  r.add(OpKind::kBernoulli, bernoulli_kernel);
  r.add(OpKind::kMultinomial, multinomial_kernel);
  r.add(OpKind::kImageDecoder, image_decoder_kernel);
}

}  // namespace kiln
