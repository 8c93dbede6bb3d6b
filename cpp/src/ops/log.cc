// log: scale * ln(max(x, floor)) + shift, element-wise (a log-mel or log-power input
// compression; scale 10 / ln 10 gives decibels). NaN stays NaN.
#include <cmath>
#include <sstream>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Log : public ElementwiseKernel<Log> {
 public:
  const char* type() const override { return "log"; }
  OpSignature signature() const override { return {{"scale", "shift", "floor"}, {}, {}}; }
  void Parse(ParseContext& ctx, Op& op) const override {
    SameShape(op, OpType::kLog);
    op.log_scale = ctx.Float("scale");
    op.log_shift = ctx.Float("shift");
    op.value_floor = ctx.Float("floor");
    if (!(op.value_floor > 0.0f)) {
      std::ostringstream s;
      s << ctx.where() << " (log): floor must be > 0, got " << op.value_floor;
      ctx.Fail(s.str());
    }
    // max, log, multiply, add.
    op.flops = 4LL * static_cast<int64_t>(NumFloats(op.in_dims));
  }
  static void ApplyOp(const Op& op, const float* in, float* out, size_t begin, size_t end) {
    const float scale = op.log_scale, shift = op.log_shift, lo = op.value_floor;
    for (size_t i = begin; i < end; ++i) {
      const float x = in[i] < lo ? lo : in[i];
      out[i] = scale * std::log(x) + shift;
    }
  }
};

}  // namespace

const OpKernel& LogKernel() {
  static const Log k;
  return k;
}

}  // namespace ops
}  // namespace kws
