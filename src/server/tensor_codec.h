// Conversions between wire tensors (InferTensor raw bytes) and Kiln tensors: byte-size checks, batch concat, row
// slices.
#pragma once
#include <string>
#include <vector>

#include "kiln/tensor.h"
#include "server/inference_server.h"

namespace kiln::server {

// Checks that `t.bytes()` holds exactly the bytes its dtype and shape call for (for BYTES: well-formed
// length-prefixed elements, numel of them). Sets *numel. Never allocates.
ServerStatus check_tensor_bytes(const InferTensor& t, int64_t* numel);

// Concatenates the parts (already validated, equal non-batch dims) into one tensor of shape `dims`.
// zero_fill_tail: the parts may fill only a prefix of `dims` (batch padding); the rest is zeroed.
// reuse: when it has the same dtype and dims it is filled in place and returned (no allocation, no page faults:
// batch tensors of large models are tens of MiB), otherwise it is replaced by a fresh tensor.
// pinned: a newly allocated batch tensor lives in page-locked memory (allocate_host_buffer) so that a CUDA
// context's bind_inputs copies it to the device directly.
Result<Tensor> concat_tensors(const std::vector<const InferTensor*>& parts, DType dtype, const Dims& dims,
                              bool zero_fill_tail = false, Tensor* reuse = nullptr, bool pinned = false);

// Copies rows [begin, begin + rows) of `t` along dim 0 into `out` (shape and bytes); begin < 0 = all of t.
// shm with shm_dst set: the bytes go to that shared-memory target instead (out->data stays empty, out->parameters
// name the region); kInvalidArgument when they do not fit its shared_memory_byte_size. `out->name` must be set.
ServerStatus slice_rows(const Tensor& t, int64_t begin, int64_t rows, InferTensor* out,
                        const RequestedOutput* shm = nullptr);

}  // namespace kiln::server
