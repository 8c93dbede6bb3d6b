#include "layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

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

inline float Act(float v, Activation a) {
  return a == Activation::kRelu ? (v > 0.0f ? v : 0.0f) : v;
}


}  // namespace

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
  size_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 zero = _mm256_setzero_ps();
  if (channels % 8 == 0) {
    for (; j < n; j += 8) {
      __m256 s = zero;
      for (int p = 0; p < num_parts; ++p) s = _mm256_add_ps(s, _mm256_loadu_ps(parts[p] + j));
      s = _mm256_add_ps(s, bias ? _mm256_loadu_ps(bias + j % channels) : zero);
      if (act == Activation::kRelu) s = _mm256_max_ps(s, zero);
      _mm256_storeu_ps(out + j, s);
    }
  }
#endif
  for (; j < n; ++j) {
    float s = 0.0f;
    for (int p = 0; p < num_parts; ++p) s += parts[p][j];
    s += bias ? bias[j % channels] : 0.0f;
    out[j] = Act(s, act);
  }
}

namespace {

#if defined(__AVX2__) && defined(__FMA__)
// Up to G x 8 channels of one output pixel of a depthwise convolution with multiplier 1:
// G independent accumulators (so the FMA latency overlaps), each element's taps
// accumulated in (dy, dx) order from zero, then bias and activation.
template <int G>
// `in` and `kernel` point at the first in-range tap; ny x nx taps.
inline void DepthwisePixelAvx2(const float* in, size_t row_stride, size_t col_stride,
                               const float* kernel, size_t kernel_row, int ny, int nx,
                               const float* bias, bool relu, float* o) {
  __m256 acc[G];
  for (int g = 0; g < G; ++g) acc[g] = _mm256_setzero_ps();
  for (int dy = 0; dy < ny; ++dy) {
    const float* src = in + static_cast<size_t>(dy) * row_stride;
    const float* k = kernel + static_cast<size_t>(dy) * kernel_row;
    for (int dx = 0; dx < nx; ++dx) {
      const float* s = src + static_cast<size_t>(dx) * col_stride;
      const float* kk = k + static_cast<size_t>(dx) * col_stride;
      for (int g = 0; g < G; ++g)
        acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(s + 8 * g), _mm256_loadu_ps(kk + 8 * g), acc[g]);
    }
  }
  const __m256 zero = _mm256_setzero_ps();
  for (int g = 0; g < G; ++g) {
    __m256 v = acc[g];
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + 8 * g));
    if (relu) v = _mm256_max_ps(v, zero);
    _mm256_storeu_ps(o + 8 * g, v);
  }
}

// Depthwise with multiplier 1 and channels a multiple of 8: channels in blocks of up to
// 64 per pixel (8 registers), taps in (dy, dx) order.
void DepthwiseRowsAvx2(const Op& op, const float* in, float* out, int r0, int r1) {
  const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
  const int Wo = op.out_dims[1];
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
  const bool relu = op.activation == Activation::kRelu;
  const size_t row_stride = static_cast<size_t>(W) * C, kernel_row = static_cast<size_t>(op.kw) * C;
  for (int t = r0; t < r1; ++t) {
    const int y0 = t * op.sh - op.pad_top;
    const int dy_lo = std::max(0, -y0), dy_hi = std::min(op.kh, H - y0);
    for (int w = 0; w < Wo; ++w) {
      const int x0 = w * op.sw - op.pad_left;
      const int dx_lo = std::max(0, -x0), dx_hi = std::min(op.kw, W - x0);
      float* o = out + (static_cast<size_t>(t) * Wo + w) * C;
      const int ny = dy_hi - dy_lo, nx = dx_hi - dx_lo;
      const float* first_in =
          in + (static_cast<size_t>(y0 + dy_lo) * W + static_cast<size_t>(x0 + dx_lo)) * C;
      const float* first_k =
          op.weights.data() + (static_cast<size_t>(dy_lo) * op.kw + dx_lo) * C;
      for (int c = 0; c < C; c += 64) {
        const int groups = std::min(8, (C - c) / 8);
        const float* b = bias ? bias + c : nullptr;
        switch (groups) {
#define KWS_DW_CASE(G)                                                                      \
  case G:                                                                                   \
    DepthwisePixelAvx2<G>(first_in + c, row_stride, C, first_k + c, kernel_row, ny, nx, b,  \
                          relu, o + c);                                                     \
    break;
          KWS_DW_CASE(1) KWS_DW_CASE(2) KWS_DW_CASE(3) KWS_DW_CASE(4)
          KWS_DW_CASE(5) KWS_DW_CASE(6) KWS_DW_CASE(7) KWS_DW_CASE(8)
#undef KWS_DW_CASE
          default:
            break;
        }
      }
    }
  }
}
#endif

}  // namespace

void DepthwiseRows(const Op& op, const float* in, float* out, int r0, int r1) {
  const int H = op.in_dims[0], W = op.in_dims[1], C = op.in_dims[2];
  const int Wo = op.out_dims[1], Co = op.out_dims[2];
  const int mult = op.depth_multiplier;
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
#if defined(__AVX2__) && defined(__FMA__)
  if (mult == 1 && C % 8 == 0) {
    DepthwiseRowsAvx2(op, in, out, r0, r1);
    return;
  }
#endif
  for (int t = r0; t < r1; ++t) {
    for (int w = 0; w < Wo; ++w) {
      float* __restrict o = out + (static_cast<size_t>(t) * Wo + w) * Co;
      for (int c = 0; c < Co; ++c) o[c] = 0.0f;
      const int y0 = t * op.sh - op.pad_top, x0 = w * op.sw - op.pad_left;
      for (int dy = 0; dy < op.kh; ++dy) {
        const int y = y0 + dy;
        if (y < 0 || y >= H) continue;
        for (int dx = 0; dx < op.kw; ++dx) {
          const int x = x0 + dx;
          if (x < 0 || x >= W) continue;
          const float* __restrict src = in + (static_cast<size_t>(y) * W + x) * C;
          const float* __restrict k =
              op.weights.data() + static_cast<size_t>(dy * op.kw + dx) * Co;
          if (mult == 1) {
            for (int c = 0; c < Co; ++c) o[c] += src[c] * k[c];
          } else {
            for (int c = 0; c < Co; ++c) o[c] += src[c / mult] * k[c];
          }
        }
      }
      if (bias) {
        for (int c = 0; c < Co; ++c) o[c] += bias[c];
      }
      if (op.activation == Activation::kRelu) {
        for (int c = 0; c < Co; ++c) o[c] = o[c] > 0.0f ? o[c] : 0.0f;
      }
    }
  }
}

namespace {

// a * b + c with one rounding when the target has FMA (as the vector paths compute it).
inline float MulAdd(float a, float b, float c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// SVDF time filter sums of B blocks of 16 filters for N windows: acc[i * acc_stride + c]
// = sum over k < memory of tf[k * tf_stride + c] * row(i, k)[c] (c < 16 * B), one fused
// multiply-add per step, from zero.
template <int N, int B, typename RowFn>
inline void TimeFilterTile(const float* tf, size_t tf_stride, int memory, RowFn row,
                           float* acc, size_t acc_stride) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 a[N][2 * B];
#pragma GCC unroll 16
  for (int i = 0; i < N; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 2 * B; ++j) a[i][j] = _mm256_setzero_ps();
  for (int k = 0; k < memory; ++k) {
    const float* w = tf + static_cast<size_t>(k) * tf_stride;
    __m256 t[2 * B];
#pragma GCC unroll 16
    for (int j = 0; j < 2 * B; ++j) t[j] = _mm256_loadu_ps(w + 8 * j);
#pragma GCC unroll 16
    for (int i = 0; i < N; ++i) {
      const float* x = row(i, k);
#pragma GCC unroll 16
      for (int j = 0; j < 2 * B; ++j)
        a[i][j] = _mm256_fmadd_ps(t[j], _mm256_loadu_ps(x + 8 * j), a[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < N; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 2 * B; ++j) _mm256_storeu_ps(acc + i * acc_stride + 8 * j, a[i][j]);
#else
  for (int i = 0; i < N; ++i)
    for (int c = 0; c < 16 * B; ++c) {
      float s = 0.0f;
      for (int k = 0; k < memory; ++k)
        s = MulAdd(tf[static_cast<size_t>(k) * tf_stride + c], row(i, k)[c], s);
      acc[i * acc_stride + c] = s;
    }
#endif
}

// 16 filters of `count` windows, in tiles of up to 6 windows (the tile's accumulators
// stay in registers).
template <typename RowFn>
void TimeFilterTiles(const float* tf, size_t tf_stride, int memory, int count, RowFn row,
                     float* acc, size_t acc_stride) {
  for (int w0 = 0; w0 < count; w0 += 6) {
    const int n = std::min(6, count - w0);
    auto tile_row = [&](int i, int k) { return row(w0 + i, k); };
    float* a = acc + static_cast<size_t>(w0) * acc_stride;
    switch (n) {
      case 1: TimeFilterTile<1, 1>(tf, tf_stride, memory, tile_row, a, acc_stride); break;
      case 2: TimeFilterTile<2, 1>(tf, tf_stride, memory, tile_row, a, acc_stride); break;
      case 3: TimeFilterTile<3, 1>(tf, tf_stride, memory, tile_row, a, acc_stride); break;
      case 4: TimeFilterTile<4, 1>(tf, tf_stride, memory, tile_row, a, acc_stride); break;
      case 5: TimeFilterTile<5, 1>(tf, tf_stride, memory, tile_row, a, acc_stride); break;
      default: TimeFilterTile<6, 1>(tf, tf_stride, memory, tile_row, a, acc_stride); break;
    }
  }
}

}  // namespace

void TimeFilterRows(const float* tf, int memory, int filters, const float* const* rows,
                    int rows_per_window, int count, float* acc) {
  const size_t F = static_cast<size_t>(filters);
  int f0 = 0;
  auto row_of = [&](int w, int k) { return rows[static_cast<size_t>(w) * rows_per_window + k]; };
  if (count == 1) {  // one window (a live stream): 64 filters at a time
    for (; f0 + 64 <= filters; f0 += 64)
      TimeFilterTile<1, 4>(tf + f0, F, memory, [&](int, int k) { return row_of(0, k) + f0; },
                           acc + f0, F);
  }
  for (; f0 + 16 <= filters; f0 += 16)
    TimeFilterTiles(tf + f0, F, memory, count,
                    [&](int w, int k) { return row_of(w, k) + f0; }, acc + f0, F);
  for (; f0 < filters; ++f0)
    for (int w = 0; w < count; ++w) {
      float a = 0.0f;
      for (int k = 0; k < memory; ++k) a = MulAdd(tf[k * F + f0], row_of(w, k)[f0], a);
      acc[w * F + f0] = a;
    }
}

void TimeFilterStrip(const float* tf16, int memory, const float* strip, int width,
                     int first_row, int hop, int count, float* acc) {
  TimeFilterTiles(tf16, 16, memory, count,
                  [&](int w, int k) {
                    return strip + static_cast<size_t>(first_row + w * hop + k) * width;
                  },
                  acc, 16);
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
