// leaky_relu: x >= 0 ? x : alpha * x, element-wise (alpha in [0, 1]); with the optional
// floor (<= 0), max(that, floor). NaN stays NaN.
#include <limits>
#include <sstream>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class LeakyRelu : public ElementwiseKernel<LeakyRelu> {
 public:
  const char* type() const override { return "leaky_relu"; }
  OpSignature signature() const override { return {{"alpha", "floor"}, {}, {}}; }
  void Parse(ParseContext& ctx, Op& op) const override {
    SameShape(op, OpType::kLeakyRelu);
    op.alpha = ctx.Float("alpha");
    if (!(op.alpha >= 0.0f && op.alpha <= 1.0f)) {
      std::ostringstream s;
      s << ctx.where() << " (leaky_relu): alpha must be in [0, 1], got " << op.alpha;
      ctx.Fail(s.str());
    }
    op.value_floor = -std::numeric_limits<float>::infinity();
    if (ctx.Has("floor")) {
      op.value_floor = ctx.Float("floor");
      if (!(op.value_floor <= 0.0f)) {
        std::ostringstream s;
        s << ctx.where() << " (leaky_relu): floor must be <= 0, got " << op.value_floor;
        ctx.Fail(s.str());
      }
    }
    // compare, multiply (and the floor's compare).
    op.flops = 2LL * static_cast<int64_t>(NumFloats(op.in_dims));
  }
  static void ApplyOp(const Op& op, const float* in, float* out, size_t begin, size_t end) {
    const float alpha = op.alpha, lo = op.value_floor;
    for (size_t i = begin; i < end; ++i) {
      const float y = in[i] >= 0.0f ? in[i] : alpha * in[i];
      out[i] = y < lo ? lo : y;
    }
  }
};

}  // namespace

const OpKernel& LeakyReluKernel() {
  static const LeakyRelu k;
  return k;
}

}  // namespace ops
}  // namespace kws
