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

namespace {

size_t RowSize(const std::vector<int>& dims) {
  size_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= static_cast<size_t>(dims[i]);
  return n;
}

inline float Act(float v, Activation a) {
  return a == Activation::kRelu ? (v > 0.0f ? v : 0.0f) : v;
}

// Width of the zero-padded input rows a convolution reads (W plus SAME padding).
int PaddedWidth(const Op& op) {
  const int W = op.in_dims[1], Wo = op.out_dims[1];
  const int pad_right = std::max(0, (Wo - 1) * op.sw + op.kw - W - op.pad_left);
  return W + op.pad_left + pad_right;
}

// Convolution as an implicit GEMM: blocks of kGemmRows output pixels; for each kernel
// row dy, a pixel's patch row is kw * C contiguous floats of the width-padded input, so
// the pointer table holds (dy, pixel) -> patch row (or the zero row for time padding).
// When the width needs padding, the input rows used are first copied into `padded`.
void Conv2DRows(const Op& op, const float* in, float* out, int r0, int r1,
                const float* zeros, const float** ptrs, float* padded) {
  const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
  const int Wo = op.out_dims[1], Co = op.out_dims[2];
  const int Wp = PaddedWidth(op);
  const float* base = in;
  if (Wp != W) {
    const int y_lo = std::max(0, r0 * op.sh - op.pad_top);
    const int y_hi = std::min(H, (r1 - 1) * op.sh - op.pad_top + op.kh);
    const size_t row = static_cast<size_t>(Wp) * C;
    for (int y = y_lo; y < y_hi; ++y) {
      float* dst = padded + y * row;
      std::fill(dst, dst + static_cast<size_t>(op.pad_left) * C, 0.0f);
      std::memcpy(dst + static_cast<size_t>(op.pad_left) * C, in + static_cast<size_t>(y) * W * C,
                  static_cast<size_t>(W) * C * sizeof(float));
      std::fill(dst + static_cast<size_t>(op.pad_left + W) * C, dst + row, 0.0f);
    }
    base = padded;
  }
  const size_t row_stride = static_cast<size_t>(Wp) * C;
  const int seg_len = op.kw * C;
  const int64_t first = static_cast<int64_t>(r0) * Wo, last = static_cast<int64_t>(r1) * Wo;
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
  // Panels of weights outermost (a few at a time) so they stay in cache while every
  // block of pixels streams past them.
  const int panels_per_pass = std::max(kernels::Active().gemm_panels,
                                       static_cast<int>((96 << 10) / (op.packed.k * 64)));
  for (int pb = 0; pb < op.packed.panels; pb += panels_per_pass) {
    const int pe = std::min(op.packed.panels, pb + panels_per_pass);
    for (int64_t p0 = first; p0 < last; p0 += kGemmRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kGemmRows, last - p0));
      for (int i = 0; i < rows; ++i) {
        const int64_t p = p0 + i;
        const int t = static_cast<int>(p / Wo), w = static_cast<int>(p % Wo);
        const int y0 = t * op.sh - op.pad_top;
        const float* col = base + static_cast<size_t>(w) * op.sw * C;
        for (int dy = 0; dy < op.kh; ++dy) {
          const int y = y0 + dy;
          ptrs[dy * kGemmRows + i] = (y >= 0 && y < H) ? col + y * row_stride : zeros;
        }
      }
      GemmBlock(ptrs, rows, op.kh, seg_len, op.packed, bias, op.activation,
                out + static_cast<size_t>(p0) * Co, Co, pb, pe, zeros, op.row_partials);
    }
  }
}

}  // namespace

size_t ConvPartialAuxFloats(const Op& op, int count) {
  return static_cast<size_t>(count) * PaddedWidth(op) * op.in_dims[2];
}

PackedMatrix KernelRow(const Op& op, int dy) {
  const int seg = op.kw * op.in_dims[2], n = op.packed.n;
  std::vector<float> w(static_cast<size_t>(seg) * n);
  for (int r = 0; r < seg; ++r)
    for (int c = 0; c < n; ++c)
      w[static_cast<size_t>(r) * n + c] = op.packed.at(dy * seg + r, c);
  PackedMatrix m;
  m.Pack(w.data(), seg, n);
  return m;
}

void ConvRowPartials(const Op& op, const std::vector<PackedMatrix>& kernel_rows, int dy0,
                     int dy1, const float* const* in_rows, int count, float* out,
                     size_t dy_stride, const float** ptrs, float* padded) {
  const int W = op.in_dims[1], C = op.in_dims[2];
  const int Wo = op.out_dims[1], Co = op.out_dims[2];
  const int Wp = PaddedWidth(op);
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

namespace {

// Dense on the last axis of each row element: pixels are independent vectors.
void DenseRows(const Op& op, const float* in, float* out, int64_t first, int64_t last,
               const float** ptrs) {
  const int K = op.packed.k, N = op.packed.n;
  for (int64_t p0 = first; p0 < last; p0 += kGemmRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kGemmRows, last - p0));
    for (int i = 0; i < rows; ++i) ptrs[i] = in + static_cast<size_t>(p0 + i) * K;
    GemmBlock(ptrs, rows, 1, K, op.packed, op.bias.empty() ? nullptr : op.bias.data(),
              op.activation, out + static_cast<size_t>(p0) * N, N, 0, op.packed.panels);
  }
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

void PoolRows(const Op& op, const float* in, float* out, int r0, int r1) {
  const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
  const int Wo = op.out_dims[1];
  const bool is_max = op.type == OpType::kMaxPool2D;
  for (int t = r0; t < r1; ++t) {
    for (int w = 0; w < Wo; ++w) {
      float* o = out + (static_cast<size_t>(t) * Wo + w) * C;
      const float init = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
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
          if (is_max) {
            for (int c = 0; c < C; ++c) o[c] = std::max(o[c], src[c]);
          } else {
            for (int c = 0; c < C; ++c) o[c] += src[c];
          }
        }
      }
      if (!is_max) {
        const float inv = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
        for (int c = 0; c < C; ++c) o[c] *= inv;
      }
    }
  }
}

}  // namespace

size_t ScratchPointers(const Op& op) {
  if (op.type == OpType::kConv2D) return static_cast<size_t>(op.kh) * kGemmRows;
  if (op.type == OpType::kDense) return kGemmRows;
  if (op.type == OpType::kSvdfTime) return static_cast<size_t>(op.memory_size);
  return 0;
}

size_t ZeroFloats(const Op& op) {
  if (op.type == OpType::kConv2D) return static_cast<size_t>(op.kw) * op.in_dims[2];
  return 0;
}

void ComputeRows(const Op& op, const std::vector<const float*>& inputs, float* out, int r0,
                 int r1, const float* zeros, const float** scratch, float* aux) {
  if (r1 <= r0) return;
  const float* in = inputs[0];
  const size_t out_row = RowSize(op.out_dims);
  const size_t in_row = RowSize(op.in_dims);
  switch (op.type) {
    case OpType::kConv2D:
      Conv2DRows(op, in, out, r0, r1, zeros, scratch, aux);
      return;
    case OpType::kDepthwiseConv2D:
      DepthwiseRows(op, in, out, r0, r1);
      return;
    case OpType::kMaxPool2D:
    case OpType::kAvgPool2D:
      PoolRows(op, in, out, r0, r1);
      return;
    case OpType::kDense: {
      const int64_t per_row = static_cast<int64_t>(in_row / op.packed.k);
      DenseRows(op, in, out, r0 * per_row, r1 * per_row, scratch);
      return;
    }
    case OpType::kScaleShift: {
      const size_t C = op.scale.size();
      for (size_t i = r0 * out_row; i < r1 * out_row; i += C) {
        const float* s = in + i;
        float* o = out + i;
        for (size_t c = 0; c < C; ++c) o[c] = s[c] * op.scale[c] + op.shift[c];
      }
      return;
    }
    case OpType::kRelu:
      for (size_t i = r0 * out_row; i < r1 * out_row; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
      return;
    case OpType::kAdd: {
      const float* b = inputs[1];
      for (size_t i = r0 * out_row; i < r1 * out_row; ++i) out[i] = Act(in[i] + b[i], op.activation);
      return;
    }
    case OpType::kReshape:
      std::memcpy(out + r0 * out_row, in + r0 * out_row, (r1 - r0) * out_row * sizeof(float));
      return;
    default:
      return;  // collapsing ops never reach here (checked at load)
  }
}

size_t AuxFloats(const Op& op) {
  if (op.type == OpType::kSvdfTime) return static_cast<size_t>(op.in_dims[1]);
  if (op.type == OpType::kConv2D && PaddedWidth(op) != op.in_dims[1])
    return static_cast<size_t>(op.in_dims[0]) * PaddedWidth(op) * op.in_dims[2];
  return 0;
}

void ComputeAll(const Op& op, const std::vector<const float*>& inputs, float* out,
                const float* zeros, const float** scratch, float* aux) {
  if (op.row_structured) {
    ComputeRows(op, inputs, out, 0, op.out_rows(), zeros, scratch, aux);
    return;
  }
  const float* in = inputs[0];
  switch (op.type) {
    case OpType::kDense:  // rank-1 input
      DenseRows(op, in, out, 0, 1, scratch);
      return;
    case OpType::kScaleShift:
      for (size_t c = 0; c < op.scale.size(); ++c) out[c] = in[c] * op.scale[c] + op.shift[c];
      return;
    case OpType::kRelu:
      for (size_t i = 0; i < op.out_size(); ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
      return;
    case OpType::kAdd:
      for (size_t i = 0; i < op.out_size(); ++i)
        out[i] = Act(in[i] + inputs[1][i], op.activation);
      return;
    case OpType::kFlatten:
    case OpType::kReshape:
      std::memcpy(out, in, op.out_size() * sizeof(float));
      return;
    case OpType::kGlobalAvgPool2D: {
      const int T = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
      for (int c = 0; c < C; ++c) out[c] = 0.0f;
      for (size_t p = 0; p < static_cast<size_t>(T) * W; ++p)
        for (int c = 0; c < C; ++c) out[c] += in[p * C + c];
      const float inv = 1.0f / static_cast<float>(static_cast<size_t>(T) * W);
      for (int c = 0; c < C; ++c) out[c] *= inv;
      return;
    }
    case OpType::kSvdfTime: {
      const int T = op.in_dims[0], F = op.in_dims[1];
      const int M = op.memory_size;
      // Accumulate every filter over its memory in time order, then sum each unit's
      // `rank` filters in order.
      for (int k = 0; k < M; ++k) scratch[k] = in + static_cast<size_t>(T - M + k) * F;
      kernels::Active().svdf_time(op.weights.data(), scratch, 1, M, F, aux);
      for (int u = 0; u < op.units; ++u) {
        float sum = 0.0f;
        for (int r = 0; r < op.rank; ++r) sum += aux[u * op.rank + r];
        out[u] = Act(op.bias.empty() ? sum : sum + op.bias[u], op.activation);
      }
      return;
    }
    default:
      return;
  }
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
