// Kernel sets: the innermost loops of the runtime (GEMM micro-kernel, depthwise
// convolution, SVDF time filter, partial-sum reduction), compiled once per instruction
// set and chosen once, when the library loads, from the CPU's features. Private to
// kws::core; the layers call them through the active set's table.
//
// Sets: "scalar" (portable C++, the reference), "avx2" (AVX2 + FMA), "avx512"
// (AVX-512 F/BW/DQ/VL + FMA) on x86-64, "neon" (Advanced SIMD) on aarch64,
// "wasm_simd128" (WebAssembly SIMD128) in a WebAssembly build. The
// environment variable KWS_ISA=<set> forces a set; when that set is not compiled in or
// this CPU cannot run it, the library says so once on stderr and uses the best set
// available (ActiveKernelSet() / kws.build_info() report what runs).
//
// Exactness: within one set every output element is computed by the same sequence of
// operations whatever the range of rows, the number of windows or the blocking, so
// whole clip, stream and batched evaluator agree bit for bit under one set. Different
// sets round differently (see simd.h) and agree to float precision.
#ifndef KWS_SRC_KERNELS_KERNELS_H_
#define KWS_SRC_KERNELS_KERNELS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "../layers.h"
#include "mfcc_frames.h"

namespace kws {
namespace kernels {

// A depthwise convolution's geometry and weights (NHWC without batch; weights
// kh x kw x (C * mult), output channel c reads input channel c / mult).
struct DepthwiseArgs {
  int H = 0, W = 0, C = 0, Wo = 0, mult = 1;
  int kh = 1, kw = 1, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
  const float* weights = nullptr;
  const float* bias = nullptr;  // C * mult floats, or null
  bool relu = false;
};

// Packed GEMM weights as the kernels read them (see layers::PackedMatrix): K rows by N
// columns in panels of 16 columns, panel p at data + p * k * 16.
struct PackedView {
  const float* data = nullptr;
  int k = 0, n = 0, panels = 0;
  int row_floats = 16;  // layers::PackedMatrix::row_floats
};

struct KernelSet {
  const char* name;
  // layers::GemmBlock (same contract).
  void (*gemm_block)(const float** a_ptrs, int rows, int segments, int seg_len, const PackedView& b,
                     const float* bias, layers::Activation act, float* c, int ldc, int panel_begin,
                     int panel_end, const float* zero_row, bool segment_sums);
  // Column panels the GEMM tile covers at once: callers that sweep panels in passes
  // should make a pass at least this wide.
  int gemm_panels;
  // layers::SumPartials (same contract).
  void (*sum_partials)(const float* const* parts, int num_parts, const float* bias, int channels,
                       layers::Activation act, float* out, size_t n);
  // Output rows [r0, r1) of a depthwise convolution: each element is the sum, from
  // zero, of its in-range taps in (dy, dx) order, then + bias, then the activation.
  void (*depthwise_rows)(const DepthwiseArgs& a, const float* in, float* out, int r0, int r1);
  // SVDF time filter of `count` windows: acc[w * F + f] = sum over k < M, in
  // increasing k from zero, of w_time[k * F + f] * rows[w * rows_per_window + k][f].
  void (*svdf_time)(const float* w_time, const float* const* rows, int rows_per_window, int count,
                    int M, int F, float* acc);
  // The same sums for 16 filters whose weights are tf16 (M rows of 16) and whose memory
  // rows for window w are strip + (first_row + w * hop + k) * width: writes 16 floats
  // per window to acc + w * 16.
  void (*svdf_strip)(const float* tf16, int M, const float* strip, int width, int first_row,
                     int hop, int count, float* acc);
  // Global pooling sums: out[c] = the sum, from zero in (row, pixel) order with plain
  // additions, of rows[r][p * C + c] over r < num_rows and p < pixels.
  void (*sum_pixels)(const float* const* rows, int num_rows, int pixels, int C, float* out);
  // The MFCC front end's frames (mfcc_frames.h): the same bits in every set.
  MfccFramesFn mfcc_frames;
};

// The set in use (chosen once; never null).
const KernelSet& Active();
// Names of the sets compiled into this build, and of those this CPU can run, in order
// of preference (best last).
std::vector<std::string> CompiledSets();
std::vector<std::string> SupportedSets();
// Switches to the named set when this CPU runs it (true), else changes nothing (false).
// For benchmarks and tests comparing sets in one process: a Stream or evaluation
// running across a switch mixes two sets' rounding.
bool UseSet(const std::string& name);
// The KWS_ISA value read at load ("" when unset).
std::string RequestedSet();

// The sets (each defined in its own translation unit; null when not compiled in).
const KernelSet* ScalarSet();
const KernelSet* Avx2Set();
const KernelSet* Avx512Set();
const KernelSet* NeonSet();
const KernelSet* WasmSimd128Set();

}  // namespace kernels
}  // namespace kws

#endif  // KWS_SRC_KERNELS_KERNELS_H_
