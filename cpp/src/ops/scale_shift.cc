// scale_shift: folded batch normalisation, x * scale + shift on the last axis. Folded
// into the convolution or dense layer before it at load when it can be. With attribute
// "per_column": 1 on a (T, W, C) input, scale and shift are (W, C): one value per
// (column, channel), as a folded sub-spectral norm (never folded into weights).
#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class ScaleShift : public OpKernel {
 public:
  const char* type() const override { return "scale_shift"; }
  OpSignature signature() const override { return {{"per_column"}, {"scale", "shift"}, {}}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kScaleShift;
    const int c = op.in_dims.back();
    const bool per_column = ctx.Has("per_column") && ctx.Int("per_column", 0, 1) == 1;
    if (per_column) {
      ctx.RequireRank(op, 3);
      op.scale = ctx.Tensor("scale", {op.in_dims[1], c});
      op.shift = ctx.Tensor("shift", {op.in_dims[1], c});
    } else {
      op.scale = ctx.Tensor("scale", {c});
      op.shift = ctx.Tensor("shift", {c});
    }
    op.out_dims = op.in_dims;
    op.row_structured = op.in_dims.size() >= 2;
    op.flops = 2LL * static_cast<int64_t>(NumFloats(op.in_dims));
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t row = RowFloats(op.out_dims);
    Apply(op, in[0], out, r0 * row, r1 * row);
  }
  void ComputeAll(const Op& op, const float* const* in, float* out, const Scratch&) const override {
    Apply(op, in[0], out, 0, NumFloats(op.out_dims));
  }

 private:
  // `begin` is a multiple of the row length (whole rows), so a (W, C) scale restarts at
  // each row.
  static void Apply(const Op& op, const float* in, float* out, size_t begin, size_t end) {
    const size_t C = op.scale.size();
    for (size_t i = begin; i < end; i += C) {
      const float* s = in + i;
      float* o = out + i;
      for (size_t c = 0; c < C; ++c) o[c] = s[c] * op.scale[c] + op.shift[c];
    }
  }
};

}  // namespace

const OpKernel& ScaleShiftKernel() {
  static const ScaleShift k;
  return k;
}

}  // namespace ops
}  // namespace kws
