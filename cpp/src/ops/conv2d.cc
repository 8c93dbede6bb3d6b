// conv2d: (T, W, Cin) -> (To, Wo, filters), SAME or VALID, as an implicit GEMM.
#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Conv2D : public OpKernel {
 public:
  const char* type() const override { return "conv2d"; }
  OpSignature signature() const override {
    return {{"filters", "kernel_size", "strides", "padding", "activation"}, {"kernel"}, {"bias"}};
  }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kConv2D;
    ParseWindow2D(ctx, op, "kernel_size");
    const int filters = ctx.Int("filters", 1, kMaxDim);
    op.activation = ctx.ParseActivation();
    const int cin = op.in_dims[2];
    auto kernel = ctx.Tensor("kernel", {op.kh, op.kw, cin, filters});
    op.packed.Pack(kernel.data(), op.kh * op.kw * cin, filters);
    op.row_partials = op.kh > 1 && op.kw * cin >= layers::kRowPartialsMinSegment;
    op.bias = ctx.Tensor("bias", {filters}, false);
    op.out_dims[2] = filters;
    op.flops = 2LL * op.out_dims[0] * op.out_dims[1] * filters * op.kh * op.kw * cin;
  }

  // For each kernel row dy, a pixel's patch row is kw * C contiguous floats of the
  // width-padded input, so the pointer table holds (dy, pixel) -> patch row (or the zero
  // row for time padding). When the width needs padding, the input rows used are first
  // copied into `aux`. Short kernel rows (see UsesStrips) are first copied into strips, one
  // per output column, where a pixel's whole patch is contiguous.
  void ComputeRows(const Op& op, const float* const* inputs, float* out, int r0, int r1,
                   const Scratch& s) const override {
    if (r1 <= r0) return;
    if (UsesStrips(op)) return ComputeRowsFromStrips(op, inputs[0], out, r0, r1, s);
    const float* in = inputs[0];
    const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
    const int Wp = layers::ConvPaddedWidth(op);
    const float* base = in;
    if (Wp != W) {
      const int y_lo = std::max(0, r0 * op.sh - op.pad_top);
      const int y_hi = std::min(H, (r1 - 1) * op.sh - op.pad_top + op.kh);
      const size_t row = static_cast<size_t>(Wp) * C;
      for (int y = y_lo; y < y_hi; ++y) {
        float* dst = s.aux + y * row;
        std::fill(dst, dst + static_cast<size_t>(op.pad_left) * C, 0.0f);
        std::memcpy(dst + static_cast<size_t>(op.pad_left) * C, in + static_cast<size_t>(y) * W * C,
                    static_cast<size_t>(W) * C * sizeof(float));
        std::fill(dst + static_cast<size_t>(op.pad_left + W) * C, dst + row, 0.0f);
      }
      base = s.aux;
    }
    const size_t row_stride = static_cast<size_t>(Wp) * C;
    RunBlocks(op, out, r0, r1, op.kh, op.kw * C, s, [&](int t, int w, int dy) -> const float* {
      const int y = t * op.sh - op.pad_top + dy;
      return (y >= 0 && y < H) ? base + static_cast<size_t>(w) * op.sw * C + y * row_stride
                               : s.zeros;
    });
  }

  size_t ScratchPointers(const Op& op) const override {
    return static_cast<size_t>(op.kh) * layers::kGemmRows;
  }
  size_t ZeroFloats(const Op& op) const override {
    return static_cast<size_t>(op.kw) * op.in_dims[2];
  }
  size_t AuxFloats(const Op& op) const override {
    if (UsesStrips(op))
      return static_cast<size_t>(op.out_dims[1]) * StripRows(op, 0, op.out_dims[0]) * op.kw *
             op.in_dims[2];
    const int Wp = layers::ConvPaddedWidth(op);
    return Wp != op.in_dims[1] ? static_cast<size_t>(op.in_dims[0]) * Wp * op.in_dims[2] : 0;
  }

  bool TakesActivation() const override { return true; }
  bool FoldScaleShift(Op& self, const Op& ss) const override {
    FoldScaleShiftIntoPacked(self, ss);
    return true;
  }

 private:
  // Kernel rows shorter than kRowPartialsMinSegment floats (kw x C) make a patch many short
  // segments, each a few multiply-adds between pointer loads: such convolutions copy their
  // input into strips first (each input float about kw / sw times).
  static bool UsesStrips(const Op& op) {
    return op.kh > 1 && !op.row_partials && op.kw * op.in_dims[2] < layers::kRowPartialsMinSegment;
  }
  // Input rows (padding included) that output rows [r0, r1) read.
  static int StripRows(const Op& op, int r0, int r1) { return (r1 - 1 - r0) * op.sh + op.kh; }

  // Strip w holds, for each input row y read by output rows [r0, r1) (time padding
  // included), the kw * C floats of that row under the kernel at output column w (zeros
  // outside the input): pixel (t, w)'s patch is kh consecutive strip rows, in the packed
  // weights' (dy, dx, c) order. The products and their order are those of the kernel-row
  // segments; the padding's extra products add exact zeros.
  void ComputeRowsFromStrips(const Op& op, const float* in, float* out, int r0, int r1,
                             const Scratch& s) const {
    const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
    const int Wo = op.out_dims[1];
    const int seg = op.kw * C;
    const int y_first = r0 * op.sh - op.pad_top;
    const int L = StripRows(op, r0, r1);
    const size_t strip = static_cast<size_t>(L) * seg;
    for (int w = 0; w < Wo; ++w) {
      const int x0 = w * op.sw - op.pad_left;
      const int lo = std::max(0, -x0) * C, hi = std::max(0, std::min(op.kw, W - x0)) * C;
      float* dst = s.aux + w * strip;
      for (int i = 0; i < L; ++i, dst += seg) {
        const int y = y_first + i;
        if (y < 0 || y >= H || hi <= lo) {
          std::fill(dst, dst + seg, 0.0f);
          continue;
        }
        // The row's first input column under the kernel (x0 + lo / C >= 0).
        const float* src = in + (static_cast<size_t>(y) * W + (x0 + lo / C)) * C;
        if (lo == 0 && hi == seg) {
          std::memcpy(dst, src, sizeof(float) * seg);
          continue;
        }
        for (int j = 0; j < lo; ++j) dst[j] = 0.0f;
        for (int j = lo; j < hi; ++j) dst[j] = src[j - lo];
        for (int j = hi; j < seg; ++j) dst[j] = 0.0f;
      }
    }
    RunBlocks(op, out, r0, r1, 1, op.kh * seg, s, [&](int t, int w, int) -> const float* {
      return s.aux + w * strip + static_cast<size_t>(t - r0) * op.sh * seg;
    });
  }

  // The GEMM over output rows [r0, r1) in blocks of pixels, where patch(t, w, segment)
  // gives the start of each of pixel (t, w)'s `segments` pieces of seg_len floats.
  template <typename Patch>
  static void RunBlocks(const Op& op, float* out, int r0, int r1, int segments, int seg_len,
                        const Scratch& s, Patch patch) {
    const int Wo = op.out_dims[1], Co = op.out_dims[2];
    const int64_t first = static_cast<int64_t>(r0) * Wo, last = static_cast<int64_t>(r1) * Wo;
    const float* bias = op.bias.empty() ? nullptr : op.bias.data();
    const float** ptrs = s.pointers;
    constexpr int G = layers::kGemmRows;
    // Panels of weights outermost (a few at a time) so they stay in cache while every
    // block of pixels streams past them.
    const int panels_per_pass =
        std::max(kernels::Active().gemm_panels, static_cast<int>((96 << 10) / (op.packed.k * 64)));
    for (int pb = 0; pb < op.packed.panels; pb += panels_per_pass) {
      const int pe = std::min(op.packed.panels, pb + panels_per_pass);
      for (int64_t p0 = first; p0 < last; p0 += G) {
        const int rows = static_cast<int>(std::min<int64_t>(G, last - p0));
        int t = static_cast<int>(p0 / Wo), w = static_cast<int>(p0 % Wo);
        for (int i = 0; i < rows; ++i) {
          for (int dy = 0; dy < segments; ++dy) ptrs[dy * G + i] = patch(t, w, dy);
          if (++w == Wo) w = 0, ++t;
        }
        layers::GemmBlock(ptrs, rows, segments, seg_len, op.packed, bias, op.activation,
                          out + static_cast<size_t>(p0) * Co, Co, pb, pe, s.zeros, op.row_partials);
      }
    }
  }
};

}  // namespace

const OpKernel& Conv2DKernel() {
  static const Conv2D k;
  return k;
}

}  // namespace ops
}  // namespace kws
