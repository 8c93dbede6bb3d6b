// add: two inputs of equal shape, element-wise, then the activation (a folded relu).
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Add : public OpKernel {
 public:
  const char* type() const override { return "add"; }
  OpSignature signature() const override { return {}; }
  int num_inputs() const override { return 2; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kAdd;
    if (ctx.InputDims(1) != op.in_dims)
      ctx.Fail(ctx.where() + " adds shapes " + DimsText(op.in_dims) + " and " +
               DimsText(ctx.InputDims(1)));
    op.out_dims = op.in_dims;
    op.row_structured = op.in_dims.size() >= 2;
    op.flops = static_cast<int64_t>(NumFloats(op.in_dims));
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t row = RowFloats(op.out_dims);
    Apply(op, in[0], in[1], out, r0 * row, r1 * row);
  }
  void ComputeAll(const Op& op, const float* const* in, float* out,
                  const Scratch&) const override {
    Apply(op, in[0], in[1], out, 0, NumFloats(op.out_dims));
  }

  bool TakesActivation() const override { return true; }

 private:
  static void Apply(const Op& op, const float* a, const float* b, float* out, size_t begin,
                    size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = Activate(a[i] + b[i], op.activation);
  }
};

}  // namespace

const OpKernel& AddKernel() {
  static const Add k;
  return k;
}

}  // namespace ops
}  // namespace kws
