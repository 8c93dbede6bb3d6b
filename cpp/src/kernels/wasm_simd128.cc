// The WebAssembly SIMD128 kernel set (wasm32 compiled with -msimd128).
#if defined(__wasm_simd128__)
#define KWS_KERNELS_WASM_SIMD128 1
// 2 rows x 16 columns: 8 accumulators, 4 vectors of B and the broadcast A value, 13 of the
// 16 vector registers engines have on x86-64 (3 or 4 rows spill: 4 rows measured 1.3x the
// time of 2 in bench/bench_wasm.py).
#define KWS_GEMM_TILE_ROWS 2
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
