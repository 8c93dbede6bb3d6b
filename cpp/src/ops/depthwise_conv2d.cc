// depthwise_conv2d: (T, W, C) -> (To, Wo, C * depth_multiplier), SAME or VALID.
// Optional "dilation_rate" [d, 1] (time only, strides 1): the kernel's kh rows are
// spread d rows apart. At load the weights become a (kh - 1) * d + 1 row kernel whose
// in-between rows are zero, so every mode runs the plain kernel (a zero tap adds +0.0 and
// leaves each sum's bits unchanged); FLOPs count the kh real rows.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class DepthwiseConv2D : public OpKernel {
 public:
  const char* type() const override { return "depthwise_conv2d"; }
  OpSignature signature() const override {
    return {
        {"kernel_size", "strides", "padding", "depth_multiplier", "activation", "dilation_rate"},
        {"kernel"},
        {"bias"}};
  }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kDepthwiseConv2D;
    ParseWindow2D(ctx, op, "kernel_size");
    op.depth_multiplier = ctx.Int("depth_multiplier", 1, 4096);
    op.activation = ctx.ParseActivation();
    const int c = op.in_dims[2], co = c * op.depth_multiplier;
    {
      const std::vector<float> w = ctx.Tensor("kernel", {op.kh, op.kw, c, op.depth_multiplier});
      op.weights.assign(w.begin(), w.end());
    }
    op.bias = ctx.Tensor("bias", {co}, false);
    op.out_dims[2] = co;
    if (ctx.Has("dilation_rate")) Dilate(ctx, op);
    const int real_rows = (op.kh - 1) / op.dilation + 1;
    op.flops = 2LL * op.out_dims[0] * op.out_dims[1] * co * real_rows * op.kw;
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    if (r1 > r0) layers::DepthwiseRows(op, in[0], out, r0, r1);
  }

  bool TakesActivation() const override { return true; }
  size_t Parameters(const Op& op) const override {
    const size_t row = op.weights.size() / static_cast<size_t>(op.kh);
    return static_cast<size_t>((op.kh - 1) / op.dilation + 1) * row + op.bias.size();
  }
  bool FoldScaleShift(Op& self, const Op& ss) const override {
    const size_t channels = ss.scale.size();
    for (size_t i = 0; i < self.weights.size(); ++i) self.weights[i] *= ss.scale[i % channels];
    if (self.bias.empty()) self.bias.assign(channels, 0.0f);
    for (size_t c = 0; c < channels; ++c) self.bias[c] = self.bias[c] * ss.scale[c] + ss.shift[c];
    return true;
  }

 private:
  // Spreads the kernel rows `d` apart with zero rows between them and redoes the time
  // geometry (out rows, SAME padding, row dependencies) for the spread kernel.
  static void Dilate(ParseContext& ctx, Op& op) {
    const std::pair<int, int> rate = ctx.Pair("dilation_rate");
    if (rate.second != 1 || op.sh != 1)
      ctx.Fail(ctx.where() + " is dilated in time only, with strides (1, 1): dilation_rate " +
               std::to_string(rate.first) + ", " + std::to_string(rate.second));
    const int d = rate.first;
    if (d == 1) return;
    const int kh = (op.kh - 1) * d + 1;
    const size_t row = op.weights.size() / op.kh;
    layers::AlignedFloats spread(static_cast<size_t>(kh) * row, 0.0f);
    for (int dy = 0; dy < op.kh; ++dy)
      std::copy(op.weights.begin() + dy * row, op.weights.begin() + (dy + 1) * row,
                spread.begin() + static_cast<size_t>(dy) * d * row);
    const bool same = ctx.SamePadding();
    const int H = op.in_dims[0];
    const int Ho = layers::WindowOutputSize(H, kh, 1, same);
    if (Ho <= 0)
      ctx.Fail(ctx.where() + ": dilated kernel of " + std::to_string(kh) +
               " rows is longer than its input " + DimsText(op.in_dims));
    op.weights = std::move(spread);
    op.kh = kh;
    op.dilation = d;
    op.pad_top = layers::WindowPadBefore(H, kh, 1, same);
    op.out_dims[0] = Ho;
    op.time_kernel = kh;
    op.time_pad = op.pad_top;
  }
};

}  // namespace

const OpKernel& DepthwiseConv2DKernel() {
  static const DepthwiseConv2D k;
  return k;
}

}  // namespace ops
}  // namespace kws
