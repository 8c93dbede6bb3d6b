// The NEON (Advanced SIMD) kernel set: baseline on aarch64.
#if defined(__aarch64__)
#define KWS_KERNELS_NEON 1
// 6 rows x 16 columns: 24 accumulators of the 32 q registers.
#define KWS_GEMM_TILE_ROWS 6
#define KWS_GEMM_TILE_PANELS 1
#define KWS_GEMM_ROW_PANELS 4
#include "kernels_impl.h"

namespace kws {
namespace kernels {

const KernelSet* NeonSet() {
  static const KernelSet set = KWS_KERNEL_TABLE("neon");
  return &set;
}

}  // namespace kernels
}  // namespace kws
#endif
