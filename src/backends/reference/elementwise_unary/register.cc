// Reference kernels of the elementwise_unary family: one line per kernel.
#include "backends/reference/kernel.h"

namespace kiln {

void register_elementwise_unary_kernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln
