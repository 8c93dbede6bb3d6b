// pad: zeros on both sides of the frequency (width) axis, (T, W, C) -> (T, l + W + r, C).
// Time is never padded (a padded row would depend on where the window starts), so each
// output row is its input row: row-structured.
#include <cstring>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Pad : public OpKernel {
 public:
  const char* type() const override { return "pad"; }
  OpSignature signature() const override { return {{"columns"}, {}, {}}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kPad;
    ctx.RequireRank(op, 3);
    const std::vector<int> cols = ctx.NonNegativeInts("columns", 2);
    op.pad_left = cols[0];
    op.pad_right = cols[1];
    op.out_dims = {op.in_dims[0], op.in_dims[1] + cols[0] + cols[1], op.in_dims[2]};
    op.row_structured = true;
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t C = static_cast<size_t>(op.in_dims[2]);
    const size_t in_row = static_cast<size_t>(op.in_dims[1]) * C;
    const size_t out_row = RowFloats(op.out_dims);
    const size_t left = static_cast<size_t>(op.pad_left) * C;
    const size_t right = static_cast<size_t>(op.pad_right) * C;
    for (int t = r0; t < r1; ++t) {
      float* o = out + static_cast<size_t>(t) * out_row;
      std::memset(o, 0, left * sizeof(float));
      std::memcpy(o + left, in[0] + static_cast<size_t>(t) * in_row, in_row * sizeof(float));
      std::memset(o + left + in_row, 0, right * sizeof(float));
    }
  }
};

}  // namespace

const OpKernel& PadKernel() {
  static const Pad k;
  return k;
}

}  // namespace ops
}  // namespace kws
