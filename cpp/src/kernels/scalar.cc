// The scalar kernel set: portable C++, the reference the SIMD sets are checked against.
#define KWS_KERNELS_SCALAR 1
#define KWS_GEMM_TILE_ROWS 6
#define KWS_GEMM_TILE_PANELS 1
#define KWS_GEMM_ROW_PANELS 1
#include "kernels_impl.h"

namespace kws {
namespace kernels {

const KernelSet* ScalarSet() {
  static const KernelSet set = KWS_KERNEL_TABLE("scalar");
  return &set;
}

}  // namespace kernels
}  // namespace kws
