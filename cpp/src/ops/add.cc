// add: two inputs of equal shape, element-wise, then the activation (a folded relu). Or
// (T, 1, C) with (T, W, C), in either order: the single column is added to every column
// (BC-ResNet's broadcast residual).
#include <algorithm>

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
    const std::vector<int>& a = op.in_dims;
    const std::vector<int>& b = ctx.InputDims(1);
    const bool broadcast = b != a && a.size() == 3 && b.size() == 3 && a[0] == b[0] &&
                           a[2] == b[2] && (a[1] == 1 || b[1] == 1);
    if (b != a && !broadcast)
      ctx.Fail(ctx.where() + " adds shapes " + DimsText(a) + " and " + DimsText(b) +
               " (equal shapes, or (T, 1, C) with (T, W, C))");
    op.out_dims = a;
    if (broadcast) op.out_dims[1] = std::max(a[1], b[1]);
    op.kw = broadcast ? b[1] : 0;  // columns of input 1 when broadcast (input 0's: in_dims[1])
    op.row_structured = op.in_dims.size() >= 2;
    op.flops = static_cast<int64_t>(NumFloats(op.out_dims));
  }

  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch&) const override {
    if (op.kw != 0) {
      Broadcast(op, in, out, r0, r1);
      return;
    }
    const size_t row = RowFloats(op.out_dims);
    Apply(op, in[0], in[1], out, r0 * row, r1 * row);
  }
  void ComputeAll(const Op& op, const float* const* in, float* out,
                  const Scratch& s) const override {
    if (op.kw != 0) {
      Broadcast(op, in, out, 0, op.out_rows());
      return;
    }
    Apply(op, in[0], in[1], out, 0, NumFloats(op.out_dims));
  }

  bool TakesActivation() const override { return true; }

 private:
  // out[t, w, c] = a[t, w or 0, c] + b[t, w or 0, c], then the activation.
  static void Broadcast(const Op& op, const float* const* in, float* out, int r0, int r1) {
    const int W = op.out_dims[1], C = op.out_dims[2];
    const int wa = op.in_dims[1], wb = op.kw;
    for (int t = r0; t < r1; ++t) {
      const float* a = in[0] + static_cast<size_t>(t) * wa * C;
      const float* b = in[1] + static_cast<size_t>(t) * wb * C;
      float* o = out + static_cast<size_t>(t) * W * C;
      for (int w = 0; w < W; ++w) {
        const float* aw = a + static_cast<size_t>(wa == 1 ? 0 : w) * C;
        const float* bw = b + static_cast<size_t>(wb == 1 ? 0 : w) * C;
        float* ow = o + static_cast<size_t>(w) * C;
        for (int c = 0; c < C; ++c) ow[c] = Activate(aw[c] + bw[c], op.activation);
      }
    }
  }
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
