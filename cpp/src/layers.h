// Layer kernels of the native runtime. Private to kws.
//
// Every activation is a row-major float tensor without batch dimension: rank 1 (n),
// rank 2 (time, width) or rank 3 (time, width, channels). Axis 0 of rank >= 2 tensors
// is time; a "row" is one time step (all the remaining axes). Row-structured layers
// (convolutions, pooling, per-row dense, element-wise ops) compute any range of output
// rows on their own, which is what cached-state streaming uses; collapsing layers
// (flatten, global pooling, the SVDF time filter, dense on a vector) use the whole window.
//
// Determinism: each output element is always accumulated in the same order whatever the
// range of rows being computed, so a row computed in streaming mode is bit-identical to
// the same row computed in whole-clip mode.
#ifndef KWS_SRC_LAYERS_H_
#define KWS_SRC_LAYERS_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace kws {
namespace ops {
class OpKernel;
}  // namespace ops
namespace layers {

enum class OpType {
  kConv2D,           // (T, W, Cin) -> (To, Wo, Cout)
  kDepthwiseConv2D,  // (T, W, C) -> (To, Wo, C * multiplier)
  kDense,            // last axis: (..., in) -> (..., out); rank 1 is a plain dense
  kScaleShift,       // folded batch normalisation: x * scale + shift on the last axis
  kRelu,
  kMaxPool2D,
  kAvgPool2D,        // SAME padding averages over the in-window elements only (as TF)
  kGlobalAvgPool2D,  // (T, W, C) -> (C)
  kFlatten,          // anything -> (n)
  kReshape,          // row-preserving when the time axis is kept, else collapsing
  kAdd,              // two inputs of equal shape, then the activation (a folded relu)
  kSvdfTime,         // SVDF time filter: (T, units*rank) -> (units)
  kSilu,             // x * sigmoid(x)
  kPad,              // zeros on both sides of the width axis
  kCrop,             // drops time rows at the front and the back
  kLog,              // scale * ln(max(x, floor)) + shift
  kLeakyRelu,        // x >= 0 ? x : alpha * x, then max(., floor)
};

enum class Activation { kLinear, kRelu };

// Allocator of 64-byte aligned storage: a vector load of the widest set never straddles
// two cache lines when the data starts a buffer (malloc gives 16 bytes, and a line split
// on every 64-byte load costs up to a third of a kernel's time).
template <typename T>
struct AlignedAllocator {
  typedef T value_type;
  static constexpr std::align_val_t kAlign{64};
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const {
    return false;
  }
};
// Floats whose first element is 64-byte aligned.
typedef std::vector<float, AlignedAllocator<float>> AlignedFloats;

// Padded size above which a matrix narrower than one panel is packed without padding.
constexpr size_t kNarrowPackMinBytes = size_t{1} << 20;

// Packed weights for the GEMM micro-kernel: K rows by N columns in panels of 16 columns
// (zero-padded), each panel K rows of row_floats contiguous.
struct PackedMatrix {
  int k = 0, n = 0, panels = 0;
  // Floats from one row of a panel to the next: 16, or n for a matrix narrower than one
  // panel whose padded size would pass kNarrowPackMinBytes, which then holds no padding
  // (its 16-float rows overlap the next row: kernels compute all 16 columns and store the
  // first n).
  int row_floats = 16;
  AlignedFloats data;
  void Pack(const float* w, int k_rows, int n_cols);  // w is K x N row-major
  // Where element (row r, column c) of the K x N matrix that was packed is in data.
  size_t index(int r, int c) const {
    return (static_cast<size_t>(c / 16) * k + r) * row_floats + c % 16;
  }
  float at(int r, int c) const { return data[index(r, c)]; }
};

// One op of a loaded model: its attributes and weights. What it does is its kernel's
// (cpp/src/ops/<op>.cc, one file per op type).
struct Op {
  const ops::OpKernel* kernel = nullptr;
  OpType type = OpType::kRelu;
  std::string name;          // for messages and Summary()
  std::string type_name;     // the op type as written in the file
  std::vector<int> inputs;   // value indices
  std::vector<int> in_dims;  // shape of inputs[0]
  std::vector<int> out_dims;
  Activation activation = Activation::kLinear;

  // Spatial attributes (conv, depthwise, pooling): kernel, strides, padding offsets.
  int kh = 1, kw = 1, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
  int pad_right = 0;  // pad
  int dilation = 1;   // depthwise_conv2d: time dilation (weights hold zero taps)
  int depth_multiplier = 1;
  // SVDF
  int rank = 1, memory_size = 1, units = 0;
  // Element-wise parameters (the file's attributes as float32): log's scale, shift and
  // floor (> 0); leaky_relu's alpha and floor (<= 0, or -infinity when the file has none).
  float log_scale = 1.0f, log_shift = 0.0f, alpha = 0.0f, value_floor = 0.0f;

  PackedMatrix packed;              // conv / dense weights
  AlignedFloats weights;            // depthwise kernel (kh*kw*C*mult), svdf time filter
  std::vector<float> bias;          // per output channel (may be empty: no bias)
  std::vector<float> scale, shift;  // kScaleShift

  int64_t flops = 0;  // multiply-adds x 2 for one whole window

  // Conv2D arithmetic: when set, each output element is the sum, in kernel-row order, of
  // one partial sum per kernel row (each accumulated from zero over the row's (dx, c) in
  // order), then the bias. Set at load for convolutions whose kernel rows are long
  // (kRowPartialsMinSegment floats or more), where it costs nothing measurable; it lets the
  // batched evaluator compute a window's edge rows from the kernel-row partial sums of
  // rows it shares with other windows (see batch_scorer.cc) with the same bits.
  bool row_partials = false;

  // Dense arithmetic on a vector: when > 1, each output is the sum, in order, of
  // sum_pieces partial sums over equal consecutive pieces of the input (each accumulated
  // from zero), then the bias. Set at load when the vector is the flatten of sum_pieces
  // time rows: one row's product then runs several independent multiply-add chains, and
  // the batched evaluator reads each window's rows in place with the same bits.
  int sum_pieces = 1;

  // Row structure (valid when row_structured): output row t reads input rows
  // [t * time_stride - time_pad, t * time_stride - time_pad + time_kernel).
  bool row_structured = false;
  int time_kernel = 1, time_stride = 1, time_pad = 0;

  size_t out_size() const;
  int out_rows() const { return out_dims.size() >= 2 ? out_dims[0] : 1; }
};

// Output size of a SAME/VALID window along one axis, and the leading padding.
int WindowOutputSize(int in, int kernel, int stride, bool same);
int WindowPadBefore(int in, int kernel, int stride, bool same);

// Rows per GEMM block: the kernel sets' register tiles cover 12 or 6 rows of it at once
// (see kernels/).
constexpr int kGemmRows = 12;

// Conv2D kernel rows of at least this many floats (kw x input channels) use row_partials.
constexpr int kRowPartialsMinSegment = 64;

// Kernel-row partial sums of a Conv2D with row_partials: for each input row i < count
// (W x C floats at in_rows[i]) and each kernel row dy in [dy0, dy1), writes the partial
// sums of the outputs at every width position (Wo x Co floats, as the convolution
// accumulates them) to out + (dy - dy0) * dy_stride + i * Wo * Co. `kernel_rows[dy]`
// holds kernel row dy packed (kw * C rows). `ptrs` holds kGemmRows pointers; `padded`
// holds count * PaddedWidth * C floats (see ConvPartialAuxFloats).
void ConvRowPartials(const Op& op, const std::vector<PackedMatrix>& kernel_rows, int dy0, int dy1,
                     const float* const* in_rows, int count, float* out, size_t dy_stride,
                     const float** ptrs, float* padded);
// Floats of `padded` ConvRowPartials needs for `count` rows.
size_t ConvPartialAuxFloats(const Op& op, int count);
// Width of the zero-padded input rows a Conv2D reads (W plus SAME padding).
int ConvPaddedWidth(const Op& op);
// Kernel row dy of a Conv2D's packed weights as its own packed matrix.
PackedMatrix KernelRow(const Op& op, int dy);
// out[j] = activation(sum over parts p, in order, of parts[p][j], then + bias[j % Co]):
// an output row of a row_partials convolution from its kernel rows' partial sums.
void SumPartials(const float* const* parts, int num_parts, const float* bias, int channels,
                 Activation act, float* out, size_t n);

// C[rows x n] = A * B (+ bias, activation) for one block of rows <= kGemmRows, where
// row i of A is the concatenation of `segments` pieces of `seg_len` floats starting at
// a_ptrs[s * kGemmRows + i] (an implicit im2col: no copy of the patches); entries for
// rows >= `rows` are overwritten. `ldc` is C's row stride. Every C element is
// accumulated over k in increasing order with fused multiply-adds, whatever the block
// size, so results do not depend on the blocking. Computes column panels
// [panel_begin, panel_end) of 16 columns. Segments whose rows all point at `zero_row` (the
// all-zero padding row, when given) are skipped: exact, they only add zeros.
// With `segment_sums`, each segment is instead accumulated on its own from zero (over k
// in increasing order) and the segments' partial sums are added in segment order: the
// arithmetic of a convolution with row_partials (see Op).
void GemmBlock(const float** a_ptrs, int rows, int segments, int seg_len, const PackedMatrix& b,
               const float* bias, Activation act, float* c, int ldc, int panel_begin, int panel_end,
               const float* zero_row = nullptr, bool segment_sums = false);

// Output rows [r0, r1) of a depthwise convolution (op: kDepthwiseConv2D) from its whole
// input: each element's taps accumulated from zero in (dy, dx) order, then the bias and
// the activation.
void DepthwiseRows(const Op& op, const float* in, float* out, int r0, int r1);

// SVDF time filter accumulators of `count` windows: acc[w * filters + f] is the sum over
// k < memory, in increasing k, of the kernel set's multiply-add tf[k * filters + f] * x[f] with
// x = rows[w * rows_per_window + k] (window w's memory rows).
void TimeFilterRows(const float* tf, int memory, int filters, const float* const* rows,
                    int rows_per_window, int count, float* acc);
// The same sums for 16 filters, window w's memory row k at strip + (first_row + w * hop +
// k) * width; tf16 holds the 16 filters' time filter (memory rows of 16); acc[w * 16 + c].
void TimeFilterStrip(const float* tf16, int memory, const float* strip, int width, int first_row,
                     int hop, int count, float* acc);

// Softmax in place (max-subtracted, float accumulation in double for the sum).
void Softmax(float* x, int n);

}  // namespace layers
}  // namespace kws

#endif  // KWS_SRC_LAYERS_H_
