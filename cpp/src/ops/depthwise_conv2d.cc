// depthwise_conv2d: (T, W, C) -> (To, Wo, C * depth_multiplier), SAME or VALID.
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class DepthwiseConv2D : public OpKernel {
 public:
  const char* type() const override { return "depthwise_conv2d"; }
  OpSignature signature() const override {
    return {{"kernel_size", "strides", "padding", "depth_multiplier", "activation"},
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
    op.flops = 2LL * op.out_dims[0] * op.out_dims[1] * co * op.kh * op.kw;
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    if (r1 > r0) layers::DepthwiseRows(op, in[0], out, r0, r1);
  }

  bool TakesActivation() const override { return true; }
  bool FoldScaleShift(Op& self, const Op& ss) const override {
    const size_t channels = ss.scale.size();
    for (size_t i = 0; i < self.weights.size(); ++i) self.weights[i] *= ss.scale[i % channels];
    if (self.bias.empty()) self.bias.assign(channels, 0.0f);
    for (size_t c = 0; c < channels; ++c)
      self.bias[c] = self.bias[c] * ss.scale[c] + ss.shift[c];
    return true;
  }
};

}  // namespace

const OpKernel& DepthwiseConv2DKernel() {
  static const DepthwiseConv2D k;
  return k;
}

}  // namespace ops
}  // namespace kws
