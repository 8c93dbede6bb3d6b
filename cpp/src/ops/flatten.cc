// flatten: anything -> (n), a copy in row-major order. On time rows it collapses the
// window; the batched evaluator lets a dense layer after it read the rows in place.
#include <cstring>

#include "ops/op.h"

namespace kws {
namespace ops {

// The copy forms flatten and reshape share: the whole tensor, or each window's rows in
// order (rows of NumFloats(in_dims) / rows floats).
void CopyAll(const Op& op, const float* in, float* out) {
  std::memcpy(out, in, NumFloats(op.out_dims) * sizeof(float));
}
void CopyWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride) {
  const size_t row = NumFloats(op.in_dims) / static_cast<size_t>(in.rows);
  for (int w = 0; w < in.count; ++w)
    for (int t = 0; t < in.rows; ++t)
      std::memcpy(out + static_cast<size_t>(w) * out_stride + t * row,
                  in.in[0][static_cast<size_t>(w) * in.rows + t], row * sizeof(float));
}

namespace {

class Flatten : public OpKernel {
 public:
  const char* type() const override { return "flatten"; }
  OpSignature signature() const override { return {}; }

  void Parse(ParseContext&, Op& op) const override {
    op.type = OpType::kFlatten;
    op.out_dims = {static_cast<int>(NumFloats(op.in_dims))};
  }
  bool CollapsesRows(const Op& op) const override { return op.in_dims.size() >= 2; }
  void ComputeAll(const Op& op, const float* const* in, float* out, const Scratch&) const override {
    CopyAll(op, in[0], out);
  }
  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch&) const override {
    CopyWindows(op, in, out, out_stride);
  }
};

}  // namespace

const OpKernel& FlattenKernel() {
  static const Flatten k;
  return k;
}

}  // namespace ops
}  // namespace kws
