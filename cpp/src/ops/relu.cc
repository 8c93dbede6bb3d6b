// relu: max(x, 0), element-wise. Becomes the activation of the op before it at load
// when that op takes one.
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Relu : public ElementwiseKernel<Relu> {
 public:
  const char* type() const override { return "relu"; }
  void Parse(ParseContext&, Op& op) const override { SameShape(op, OpType::kRelu); }
  static void Apply(const float* in, float* out, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
  }
};

}  // namespace

const OpKernel& ReluKernel() {
  static const Relu k;
  return k;
}

}  // namespace ops
}  // namespace kws
