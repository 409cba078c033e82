// Kiln DType <-> DLPack element types (numpy, PyTorch and CuPy all describe their element type this way).
#pragma once
#include <string>

#include <nanobind/ndarray.h>

#include "kiln/dtype.h"

namespace kiln::py {

// The Kiln type of a DLPack element type; false when Kiln has none (e.g. float6, lanes > 1).
bool dtype_from_dlpack(nanobind::dlpack::dtype d, DType* out);
// The DLPack type an output of `t` is handed out as. numpy has no bfloat16/float8/float4: those come back as
// float32 (*widen = true: converted, a copy). int4/uint4/int2/uint2 are held one element per byte: int8/uint8 views.
// False for kString and kUndefined.
bool dtype_to_dlpack(DType t, nanobind::dlpack::dtype* out, bool* widen);
// "float64", "complex64", "bfloat16", ... for error messages.
std::string dlpack_dtype_name(nanobind::dlpack::dtype d);

}  // namespace kiln::py
