// The AVX2 + FMA kernel set (x86-64; this file is compiled with -mavx2 -mfma).
#if defined(__x86_64__) || defined(_M_X64)
#define KWS_KERNELS_AVX2 1
// 6 rows x 16 columns: 12 accumulators of the 16 ymm registers.
#define KWS_GEMM_TILE_ROWS 6
#define KWS_GEMM_TILE_PANELS 1
#define KWS_GEMM_ROW_PANELS 4
// A last half panel (8 columns): 12 rows x 1 vector, 12 accumulators.
#define KWS_GEMM_HALF_TILE_ROWS 12
// The MFCC frames: AVX2 is as wide as their four doubles.
#define KWS_MFCC_FRAMES &MfccFramesAvx2
#include "kernels_impl.h"

namespace kws {
namespace kernels {

const KernelSet* Avx2Set() {
  static const KernelSet set = KWS_KERNEL_TABLE("avx2");
  return &set;
}

}  // namespace kernels
}  // namespace kws
#endif
