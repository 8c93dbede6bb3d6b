// The AVX-512 kernel set (x86-64; this file is compiled with
// -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma).
#if defined(__x86_64__) || defined(_M_X64)
#define KWS_KERNELS_AVX512 1
// GCC 12's _mm512_setzero_ps reads an "undefined" value it then flags (a false alarm).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// 6 rows x 64 columns: 24 accumulators of the 32 zmm registers (64 columns, four panels,
// cover the common 64-channel layers in one pass over each row).
#define KWS_GEMM_TILE_ROWS 6
#define KWS_GEMM_TILE_PANELS 4
#define KWS_GEMM_ROW_PANELS 8
// The MFCC frames: AVX2 is as wide as their four doubles.
#define KWS_MFCC_FRAMES &MfccFramesAvx2
#include "kernels_impl.h"

namespace kws {
namespace kernels {

const KernelSet* Avx512Set() {
  static const KernelSet set = KWS_KERNEL_TABLE("avx512");
  return &set;
}

}  // namespace kernels
}  // namespace kws
#endif
