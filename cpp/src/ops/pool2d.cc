// max_pool2d and avg_pool2d: (T, W, C) -> (To, Wo, C), SAME or VALID. SAME average
// pooling averages over the in-window elements only (as TensorFlow does).
#include <algorithm>
#include <limits>

#include "ops/op.h"

namespace kws {
namespace ops {
namespace {

class Pool2D : public OpKernel {
 public:
  explicit Pool2D(bool is_max) : is_max_(is_max) {}
  const char* type() const override { return is_max_ ? "max_pool2d" : "avg_pool2d"; }
  OpSignature signature() const override { return {{"pool_size", "strides", "padding"}, {}, {}}; }

  void Parse(ParseContext& ctx, Op& op) const override {
    op.type = is_max_ ? OpType::kMaxPool2D : OpType::kAvgPool2D;
    ParseWindow2D(ctx, op, "pool_size");
    op.flops =
        static_cast<int64_t>(op.out_dims[0]) * op.out_dims[1] * op.in_dims[2] * op.kh * op.kw;
  }

  void ComputeRows(const Op& op, const float* const* inputs, float* out, int r0, int r1,
                   const Scratch&) const override {
    const float* in = inputs[0];
    const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
    const int Wo = op.out_dims[1];
    for (int t = r0; t < r1; ++t) {
      for (int w = 0; w < Wo; ++w) {
        float* o = out + (static_cast<size_t>(t) * Wo + w) * C;
        const float init = is_max_ ? -std::numeric_limits<float>::infinity() : 0.0f;
        for (int c = 0; c < C; ++c) o[c] = init;
        int count = 0;
        const int y0 = t * op.sh - op.pad_top, x0 = w * op.sw - op.pad_left;
        for (int dy = 0; dy < op.kh; ++dy) {
          const int y = y0 + dy;
          if (y < 0 || y >= H) continue;
          for (int dx = 0; dx < op.kw; ++dx) {
            const int x = x0 + dx;
            if (x < 0 || x >= W) continue;
            const float* src = in + (static_cast<size_t>(y) * W + x) * C;
            ++count;
            if (is_max_) {
              for (int c = 0; c < C; ++c) o[c] = std::max(o[c], src[c]);
            } else {
              for (int c = 0; c < C; ++c) o[c] += src[c];
            }
          }
        }
        if (!is_max_) {
          const float inv = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
          for (int c = 0; c < C; ++c) o[c] *= inv;
        }
      }
    }
  }

 private:
  bool is_max_;
};

}  // namespace

const OpKernel& MaxPool2DKernel() {
  static const Pool2D k(true);
  return k;
}

const OpKernel& AvgPool2DKernel() {
  static const Pool2D k(false);
  return k;
}

}  // namespace ops
}  // namespace kws
