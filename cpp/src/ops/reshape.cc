// reshape: to target_shape (rank 1 to 3, same size). Keeping the time axis keeps rows
// intact (row-major): a row-structured copy. Otherwise it collapses the window.
#include <cstring>

#include "ops/op.h"

namespace kws {
namespace ops {

void CopyAll(const Op& op, const float* in, float* out);  // flatten.cc
void CopyWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride);

namespace {

class Reshape : public OpKernel {
 public:
  const char* type() const override { return "reshape"; }
  OpSignature signature() const override { return {{"target_shape"}, {}, {}}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kReshape;
    op.out_dims = ctx.Dims("target_shape");
    if (op.out_dims.empty() || op.out_dims.size() > 3 ||
        NumFloats(op.out_dims) != NumFloats(op.in_dims))
      ctx.Fail(ctx.where() + " cannot reshape " + DimsText(op.in_dims) + " to " +
               DimsText(op.out_dims));
    op.row_structured =
        op.in_dims.size() >= 2 && op.out_dims.size() >= 2 && op.out_dims[0] == op.in_dims[0];
  }
  bool CollapsesRows(const Op& op) const override {
    return !op.row_structured && op.in_dims.size() >= 2;
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t row = RowFloats(op.out_dims);
    std::memcpy(out + r0 * row, in[0] + r0 * row, (r1 - r0) * row * sizeof(float));
  }
  void ComputeAll(const Op& op, const float* const* in, float* out, const Scratch&) const override {
    CopyAll(op, in[0], out);
  }
  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch&) const override {
    CopyWindows(op, in, out, out_stride);
  }
};

}  // namespace

const OpKernel& ReshapeKernel() {
  static const Reshape k;
  return k;
}

}  // namespace ops
}  // namespace kws
