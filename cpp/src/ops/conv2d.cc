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
  // copied into `aux`.
  void ComputeRows(const Op& op, const float* const* inputs, float* out, int r0, int r1,
                   const Scratch& s) const override {
    if (r1 <= r0) return;
    const float* in = inputs[0];
    const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
    const int Wo = op.out_dims[1], Co = op.out_dims[2];
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
    const int seg_len = op.kw * C;
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
        for (int i = 0; i < rows; ++i) {
          const int64_t p = p0 + i;
          const int t = static_cast<int>(p / Wo), w = static_cast<int>(p % Wo);
          const int y0 = t * op.sh - op.pad_top;
          const float* col = base + static_cast<size_t>(w) * op.sw * C;
          for (int dy = 0; dy < op.kh; ++dy) {
            const int y = y0 + dy;
            ptrs[dy * G + i] = (y >= 0 && y < H) ? col + y * row_stride : s.zeros;
          }
        }
        layers::GemmBlock(ptrs, rows, op.kh, seg_len, op.packed, bias, op.activation,
                          out + static_cast<size_t>(p0) * Co, Co, pb, pe, s.zeros, op.row_partials);
      }
    }
  }

  size_t ScratchPointers(const Op& op) const override {
    return static_cast<size_t>(op.kh) * layers::kGemmRows;
  }
  size_t ZeroFloats(const Op& op) const override {
    return static_cast<size_t>(op.kw) * op.in_dims[2];
  }
  size_t AuxFloats(const Op& op) const override {
    const int Wp = layers::ConvPaddedWidth(op);
    return Wp != op.in_dims[1] ? static_cast<size_t>(op.in_dims[0]) * Wp * op.in_dims[2] : 0;
  }

  bool TakesActivation() const override { return true; }
  bool FoldScaleShift(Op& self, const Op& ss) const override {
    FoldScaleShiftIntoPacked(self, ss);
    return true;
  }
};

}  // namespace

const OpKernel& Conv2DKernel() {
  static const Conv2D k;
  return k;
}

}  // namespace ops
}  // namespace kws
