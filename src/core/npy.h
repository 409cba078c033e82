// .npy file reading and writing (format 1.0/2.0, C order, little-endian numeric and bool dtypes).
#pragma once
#include <string>

#include "kiln/tensor.h"

namespace kiln {

Result<Tensor> load_npy(const std::string& path);
Status save_npy(const std::string& path, const Tensor& t);

}  // namespace kiln
