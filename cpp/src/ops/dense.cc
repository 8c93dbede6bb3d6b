// dense: on the last axis, (..., in) -> (..., units). On a vector it is a plain dense
// layer; on time rows, every pixel of every row is an independent vector (row-structured).
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Dense : public OpKernel {
 public:
  const char* type() const override { return "dense"; }
  OpSignature signature() const override { return {{"units", "activation"}, {"kernel"}, {"bias"}}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = OpType::kDense;
    const int units = ctx.Int("units", 1, kMaxDim);
    op.activation = ctx.ParseActivation();
    const int k = op.in_dims.back();
    auto kernel = ctx.Tensor("kernel", {k, units});
    op.packed.Pack(kernel.data(), k, units);
    op.bias = ctx.Tensor("bias", {units}, false);
    op.out_dims = op.in_dims;
    op.out_dims.back() = units;
    op.row_structured = op.in_dims.size() >= 2;
    op.flops = 2LL * static_cast<int64_t>(NumFloats(op.in_dims) / k) * k * units;
  }

  // Pixels of rows [r0, r1), kGemmRows at a time.
  void ComputeRows(const Op& op, const float* const* in, float* out, int r0, int r1,
                   const Scratch& s) const override {
    const int K = op.packed.k, N = op.packed.n;
    const int64_t per_row = static_cast<int64_t>(RowFloats(op.in_dims) / K);
    const int64_t first = r0 * per_row, last = r1 * per_row;
    for (int64_t p0 = first; p0 < last; p0 += layers::kGemmRows) {
      const int rows = static_cast<int>(std::min<int64_t>(layers::kGemmRows, last - p0));
      for (int i = 0; i < rows; ++i) s.pointers[i] = in[0] + static_cast<size_t>(p0 + i) * K;
      layers::GemmBlock(s.pointers, rows, 1, K, op.packed,
                        op.bias.empty() ? nullptr : op.bias.data(), op.activation,
                        out + static_cast<size_t>(p0) * N, N, 0, op.packed.panels);
    }
  }

  // Windows as the rows of one matrix product. A window's vector may be given as
  // in.rows pieces (the rows of a flatten it reads in place), or whole; with sum_pieces,
  // each of its pieces is one GEMM segment, summed on its own.
  // Weight panels outermost so a few stay in cache while every window streams past.
  void ComputeWindows(const Op& op, const WindowInputs& in, float* out, size_t out_stride,
                      const Scratch& s) const override {
    const int K = op.packed.k, P = op.sum_pieces;
    if (P > 1 && in.rows != 1 && in.rows != P)
      throw std::logic_error("dense '" + op.name + "': " + std::to_string(in.rows) +
                             " input rows for " + std::to_string(P) + " pieces");
    // Segments per window: the pieces when summed apart, else the rows given.
    const int R = P > 1 ? P : in.rows;
    const int piece = K / R;
    constexpr int G = layers::kGemmRows;
    const float* bias = op.bias.empty() ? nullptr : op.bias.data();
    const int per_pass = std::max(1, static_cast<int>((256 << 10) / (static_cast<size_t>(K) * 64)));
    for (int pb = 0; pb < op.packed.panels; pb += per_pass) {
      const int pe = std::min(op.packed.panels, pb + per_pass);
      for (int w0 = 0; w0 < in.count; w0 += G) {
        const int rows = std::min(G, in.count - w0);
        for (int i = 0; i < rows; ++i)
          for (int t = 0; t < R; ++t)
            s.pointers[t * G + i] = in.rows == R
                                        ? in.in[0][static_cast<size_t>(w0 + i) * R + t]
                                        : in.in[0][w0 + i] + static_cast<size_t>(t) * piece;
        layers::GemmBlock(s.pointers, rows, R, piece, op.packed, bias, op.activation,
                          out + static_cast<size_t>(w0) * out_stride, static_cast<int>(out_stride),
                          pb, pe, nullptr, P > 1);
      }
    }
  }

  size_t ScratchPointers(const Op& op) const override {
    return static_cast<size_t>(layers::kGemmRows) * op.sum_pieces + (op.row_structured ? 0 : 1);
  }

  bool TakesActivation() const override { return true; }
  bool FoldScaleShift(Op& self, const Op& ss) const override {
    FoldScaleShiftIntoPacked(self, ss);
    return true;
  }

  // Two dense layers on a vector with no activation between them, as one:
  // W2 (W1 x + b1) + b2 = (W1 W2)' x + (W2 b1 + b2), products summed in double and
  // rounded once. The function is the same; the rounding differs from running both
  // (about 1e-7 relative), and every mode runs the merged layer, so they still agree.
  bool MergeNext(Op& first, const Op& second) const override {
    if (second.type != OpType::kDense || first.row_structured || second.row_structured ||
        first.activation != Activation::kLinear)
      return false;
    const layers::PackedMatrix& a = first.packed;   // K x N1
    const layers::PackedMatrix& b = second.packed;  // N1 x N2
    const int K = a.k, N1 = a.n, N2 = b.n;
    std::vector<float> w(static_cast<size_t>(K) * N2);
    std::vector<double> row(N2);
    for (int r = 0; r < K; ++r) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int j = 0; j < N1; ++j) {
        const double x = a.at(r, j);
        if (x == 0.0) continue;
        for (int c = 0; c < N2; ++c) row[c] += x * static_cast<double>(b.at(j, c));
      }
      for (int c = 0; c < N2; ++c) w[static_cast<size_t>(r) * N2 + c] = static_cast<float>(row[c]);
    }
    std::vector<float> bias;
    if (!first.bias.empty() || !second.bias.empty()) {
      bias.assign(N2, 0.0f);
      for (int c = 0; c < N2; ++c) {
        double v = second.bias.empty() ? 0.0 : second.bias[c];
        if (!first.bias.empty())
          for (int j = 0; j < N1; ++j) v += static_cast<double>(first.bias[j]) * b.at(j, c);
        bias[c] = static_cast<float>(v);
      }
    }
    first.packed.Pack(w.data(), K, N2);
    first.bias = std::move(bias);
    first.activation = second.activation;
    first.out_dims = second.out_dims;
    return true;
  }
};

}  // namespace

const OpKernel& DenseKernel() {
  static const Dense k;
  return k;
}

}  // namespace ops
}  // namespace kws
