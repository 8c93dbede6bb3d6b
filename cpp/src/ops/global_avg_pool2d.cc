// global_avg_pool2d: (T, W, C) -> (C), the mean over time and width. Collapses a window's
// rows; its whole form is its windows form on one window.
#include "kernels/kernels.h"
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class GlobalAvgPool2D : public OpKernel {
 public:
  const char* type() const override { return "global_avg_pool2d"; }
  OpSignature signature() const override { return {}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kGlobalAvgPool2D;
    ctx.RequireRank(op, 3);
    op.out_dims = {op.in_dims[2]};
    op.flops = static_cast<int64_t>(NumFloats(op.in_dims));
  }

  bool CollapsesRows(const Op&) const override { return true; }

  // Sums in (row, width, channel) order, then one multiply by 1 / (T * W).
  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch&) const override {
    const int W = op.in_dims[1], C = op.in_dims[2];
    const float inv = 1.0f / static_cast<float>(static_cast<size_t>(in.rows) * W);
    for (int w = 0; w < in.count; ++w) {
      float* dst = out + static_cast<size_t>(w) * out_stride;
      kernels::Active().sum_pixels(in.in[0] + static_cast<size_t>(w) * in.rows, in.rows, W, C, dst);
      for (int c = 0; c < C; ++c) dst[c] *= inv;
    }
  }

  size_t ScratchPointers(const Op& op) const override { return op.in_dims[0]; }
};

}  // namespace

const OpKernel& GlobalAvgPool2DKernel() {
  static const GlobalAvgPool2D k;
  return k;
}

}  // namespace ops
}  // namespace kws
