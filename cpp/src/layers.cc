#include "layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernels.h"

namespace kws {
namespace layers {

size_t Op::out_size() const {
  size_t n = 1;
  for (int d : out_dims) n *= static_cast<size_t>(d);
  return n;
}

int WindowOutputSize(int in, int kernel, int stride, bool same) {
  if (same) return (in + stride - 1) / stride;
  return in >= kernel ? (in - kernel) / stride + 1 : 0;
}

int WindowPadBefore(int in, int kernel, int stride, bool same) {
  if (!same) return 0;
  int out = (in + stride - 1) / stride;
  int total = std::max((out - 1) * stride + kernel - in, 0);
  return total / 2;
}

int ConvPaddedWidth(const Op& op) {
  const int W = op.in_dims[1], Wo = op.out_dims[1];
  const int pad_right = std::max(0, (Wo - 1) * op.sw + op.kw - W - op.pad_left);
  return W + op.pad_left + pad_right;
}

size_t ConvPartialAuxFloats(const Op& op, int count) {
  return static_cast<size_t>(count) * ConvPaddedWidth(op) * op.in_dims[2];
}

PackedMatrix KernelRow(const Op& op, int dy) {
  const int seg = op.kw * op.in_dims[2], n = op.packed.n;
  std::vector<float> w(static_cast<size_t>(seg) * n);
  for (int r = 0; r < seg; ++r)
    for (int c = 0; c < n; ++c) w[static_cast<size_t>(r) * n + c] = op.packed.at(dy * seg + r, c);
  PackedMatrix m;
  m.Pack(w.data(), seg, n);
  return m;
}

void ConvRowPartials(const Op& op, const std::vector<PackedMatrix>& kernel_rows, int dy0, int dy1,
                     const float* const* in_rows, int count, float* out, size_t dy_stride,
                     const float** ptrs, float* padded) {
  const int W = op.in_dims[1], C = op.in_dims[2];
  const int Wo = op.out_dims[1], Co = op.out_dims[2];
  const int Wp = ConvPaddedWidth(op);
  const size_t row = static_cast<size_t>(Wp) * C;
  std::vector<const float*> rows_in(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    if (Wp == W) {
      rows_in[i] = in_rows[i];
      continue;
    }
    float* dst = padded + i * row;
    std::fill(dst, dst + static_cast<size_t>(op.pad_left) * C, 0.0f);
    std::memcpy(dst + static_cast<size_t>(op.pad_left) * C, in_rows[i],
                static_cast<size_t>(W) * C * sizeof(float));
    std::fill(dst + static_cast<size_t>(op.pad_left + W) * C, dst + row, 0.0f);
    rows_in[i] = dst;
  }
  const int seg_len = op.kw * C;
  const int64_t pixels = static_cast<int64_t>(count) * Wo;
  for (int dy = dy0; dy < dy1; ++dy) {
    const PackedMatrix& k = kernel_rows[dy];
    float* o = out + static_cast<size_t>(dy - dy0) * dy_stride;
    for (int64_t p0 = 0; p0 < pixels; p0 += kGemmRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kGemmRows, pixels - p0));
      for (int i = 0; i < rows; ++i) {
        const int64_t p = p0 + i;
        ptrs[i] = rows_in[p / Wo] + static_cast<size_t>(p % Wo) * op.sw * C;
      }
      GemmBlock(ptrs, rows, 1, seg_len, k, nullptr, Activation::kLinear,
                o + static_cast<size_t>(p0) * Co, Co, 0, k.panels);
    }
  }
}

void SumPartials(const float* const* parts, int num_parts, const float* bias, int channels,
                 Activation act, float* out, size_t n) {
  kernels::Active().sum_partials(parts, num_parts, bias, channels, act, out, n);
}

void DepthwiseRows(const Op& op, const float* in, float* out, int r0, int r1) {
  kernels::DepthwiseArgs a;
  a.H = op.in_dims[0];
  a.W = op.in_dims[1];
  a.C = op.in_dims[2];
  a.Wo = op.out_dims[1];
  a.mult = op.depth_multiplier;
  a.kh = op.kh;
  a.kw = op.kw;
  a.sh = op.sh;
  a.sw = op.sw;
  a.pad_top = op.pad_top;
  a.pad_left = op.pad_left;
  a.weights = op.weights.data();
  a.bias = op.bias.empty() ? nullptr : op.bias.data();
  a.relu = op.activation == Activation::kRelu;
  kernels::Active().depthwise_rows(a, in, out, r0, r1);
}

void TimeFilterRows(const float* tf, int memory, int filters, const float* const* rows,
                    int rows_per_window, int count, float* acc) {
  kernels::Active().svdf_time(tf, rows, rows_per_window, count, memory, filters, acc);
}

void TimeFilterStrip(const float* tf16, int memory, const float* strip, int width, int first_row,
                     int hop, int count, float* acc) {
  kernels::Active().svdf_strip(tf16, memory, strip, width, first_row, hop, count, acc);
}

void Softmax(float* x, int n) {
  if (n <= 0) return;
  float m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace layers
}  // namespace kws
