// Conversions between wire tensors (InferTensor raw bytes) and Kiln tensors: byte-size checks, batch concat, row
// slices.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "kiln/engine.h"  // DeviceTensorView
#include "kiln/tensor.h"
#include "server/inference_server.h"

namespace kiln::server {

// Checks that `t.bytes()` holds exactly the bytes its dtype and shape call for (for BYTES: well-formed
// length-prefixed elements, numel of them). Sets *numel. Never allocates.
ServerStatus check_tensor_bytes(const InferTensor& t, int64_t* numel);

// Host memory a worker keeps between batches for one input: batch tensors are views of it. Allocating a fresh batch
// tensor costs a page fault per 4 KiB page (and for pinned memory a cudaHostAlloc that pins every page): at image
// sizes that is milliseconds per batch, more than the copy itself.
struct BatchBuffer {
  std::shared_ptr<void> memory;
  size_t capacity = 0;     // bytes
  bool pinned = false;     // asked for pinned memory (allocate_host_buffer may have fallen back to pageable)
  size_t initialized = 0;  // leading bytes that hold zeros or an earlier batch's inputs (never uninitialized memory)
};

// Concatenates the parts (already validated, equal non-batch dims) into one tensor of shape `dims`.
// zero_fill_tail: the parts may fill only a prefix of `dims` (batch padding). The rest is zeroed, except for
// floating-point inputs with `reuse`, where only the part no earlier batch wrote is: padding rows then hold zeros or
// earlier requests' inputs, whose results are dropped (rows of a batched model are independent), and padding a
// 40-image batch to 64 costs no 14 MB memset.
// reuse: the batch tensor is a view of reuse->memory when it holds at least `dims`' bytes (and was allocated with
// the same `pinned`); otherwise reuse->memory is replaced by a new buffer of max(needed, reserve_bytes) bytes.
// Without reuse (and for BYTES) a fresh tensor is allocated. pinned: new buffers are page-locked
// (allocate_host_buffer) so that a CUDA context's bind_inputs copies them to the device directly.
// failed_part: set to the index of the part whose bytes could not be read (a shared-memory region its client
// truncated after validation) when that is why the concat failed; left alone otherwise.
Result<Tensor> concat_tensors(const std::vector<const InferTensor*>& parts, DType dtype, const Dims& dims,
                              bool zero_fill_tail = false, BatchBuffer* reuse = nullptr, bool pinned = false,
                              size_t reserve_bytes = 0, size_t* failed_part = nullptr);

// Copies rows [begin, begin + rows) of `t` along dim 0 into `out` (shape and bytes); begin < 0 = all of t.
// shm with shm_dst set: the bytes go to that shared-memory target instead (out->data stays empty, out->parameters
// name the region); kInvalidArgument when they do not fit its shared_memory_byte_size. `out->name` must be set.
ServerStatus slice_rows(const Tensor& t, int64_t begin, int64_t rows, InferTensor* out,
                        const RequestedOutput* shm = nullptr);
// slice_rows for an output that stays on the GPU (ExecutionContext::device_output) into a CUDA shared-memory target:
// the rows are copied device-to-device into the region; `out` names it as slice_rows does.
ServerStatus slice_device_rows(const DeviceTensorView& t, int64_t begin, int64_t rows, InferTensor* out,
                               const RequestedOutput& shm);

}  // namespace kiln::server
