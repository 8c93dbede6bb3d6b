// silu: x * sigmoid(x) = x / (1 + exp(-x)), element-wise (BC-ResNet's temporal branch).
#include <cmath>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Silu : public ElementwiseKernel<Silu> {
 public:
  const char* type() const override { return "silu"; }
  void Parse(ParseContext&, Op& op) const override {
    SameShape(op, OpType::kSilu);
    op.flops = 4LL * static_cast<int64_t>(NumFloats(op.in_dims));
  }
  static void Apply(const float* in, float* out, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = in[i] / (1.0f + std::exp(-in[i]));
  }
};

}  // namespace

const OpKernel& SiluKernel() {
  static const Silu k;
  return k;
}

}  // namespace ops
}  // namespace kws
