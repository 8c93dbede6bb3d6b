// The WebAssembly SIMD128 kernel set (wasm32 compiled with -msimd128).
#if defined(__wasm_simd128__)
#define KWS_KERNELS_WASM_SIMD128 1
// 4 rows x 16 columns: 16 accumulators, what the engines keep in the 16 xmm registers of
// x86-64 (arm64 has 32).
#define KWS_GEMM_TILE_ROWS 4
#define KWS_GEMM_TILE_PANELS 1
#define KWS_GEMM_ROW_PANELS 2
#include "kernels_impl.h"

namespace kws {
namespace kernels {

const KernelSet* WasmSimd128Set() {
  static const KernelSet set = KWS_KERNEL_TABLE("wasm_simd128");
  return &set;
}

}  // namespace kernels
}  // namespace kws
#endif
