// relu: max(x, 0), element-wise. Becomes the activation of the op before it at load
// when that op takes one.
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Relu : public OpKernel {
 public:
  const char* type() const override { return "relu"; }
  OpSignature signature() const override { return {}; }

  void Parse(ParseContext&, Op& op) const override {
    op.type = OpType::kRelu;
    op.out_dims = op.in_dims;
    op.row_structured = op.in_dims.size() >= 2;
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t row = RowFloats(op.out_dims);
    Apply(in[0], out, r0 * row, r1 * row);
  }
  void ComputeAll(const Op& op, const float* const* in, float* out, const Scratch&) const override {
    Apply(in[0], out, 0, NumFloats(op.out_dims));
  }
  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch&) const override {
    const size_t n = NumFloats(op.out_dims);
    for (int w = 0; w < in.count; ++w)
      Apply(in.in[0][w], out + static_cast<size_t>(w) * out_stride, 0, n);
  }

 private:
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
