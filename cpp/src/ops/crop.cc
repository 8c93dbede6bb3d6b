// crop: drops `rows` = [front, back] time rows, (T, W, C) -> (T - front - back, W, C).
// Output row t is input row t + front (time_pad = -front, kernel 1): aligns a residual
// with a time-VALID path so that both end at the same newest frame.
#include <cstring>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Crop : public OpKernel {
 public:
  const char* type() const override { return "crop"; }
  OpSignature signature() const override { return {{"rows"}, {}, {}}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kCrop;
    if (op.in_dims.size() < 2) ctx.RequireRank(op, 3);
    const std::vector<int> rows = ctx.NonNegativeInts("rows", 2);
    const int T = op.in_dims[0];
    if (rows[0] + rows[1] >= T)
      ctx.Fail(ctx.where() + " crops " + std::to_string(rows[0] + rows[1]) + " of its " +
               std::to_string(T) + " rows");
    op.out_dims = op.in_dims;
    op.out_dims[0] = T - rows[0] - rows[1];
    op.row_structured = true;
    op.time_kernel = 1;
    op.time_stride = 1;
    op.time_pad = -rows[0];
  }

  // Rows of the input that exist are copied; on a stream's timeline the last rows may
  // have no input row yet (their values are never read), and are zeroed.
  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    const size_t row = RowFloats(op.out_dims);
    const int H = op.in_dims[0];
    for (int t = r0; t < r1; ++t) {
      const int src = t - op.time_pad;
      float* o = out + static_cast<size_t>(t) * row;
      if (src >= 0 && src < H)
        std::memcpy(o, in[0] + static_cast<size_t>(src) * row, row * sizeof(float));
      else
        std::memset(o, 0, row * sizeof(float));
    }
  }
};

}  // namespace

const OpKernel& CropKernel() {
  static const Crop k;
  return k;
}

}  // namespace ops
}  // namespace kws
