// The GEMM micro-kernel behind convolutions and dense layers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "layers.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KWS_GEMM_AVX2 1
#endif

namespace kws {
namespace layers {

void PackedMatrix::Pack(const float* w, int k_rows, int n_cols) {
  k = k_rows;
  n = n_cols;
  panels = (n_cols + 15) / 16;
  data.assign(static_cast<size_t>(panels) * k * 16, 0.0f);
  for (int p = 0; p < panels; ++p) {
    float* dst = data.data() + static_cast<size_t>(p) * k * 16;
    int cols = std::min(16, n - p * 16);
    for (int r = 0; r < k; ++r)
      std::memcpy(dst + static_cast<size_t>(r) * 16, w + static_cast<size_t>(r) * n + p * 16,
                  cols * sizeof(float));
  }
}

namespace {

inline float Activate(float v, Activation act) {
  return act == Activation::kRelu ? (v > 0.0f ? v : 0.0f) : v;
}

// Writes a kGemmRows x 16 accumulator tile (rows x cols valid) to C, adding the bias and
// applying the activation (vectorised for full 16-column tiles).
inline void StoreTile(const float* acc, int rows, int cols, const float* bias, int col0,
                      Activation act, float* c, int ldc) {
#ifdef KWS_GEMM_AVX2
  if (cols == 16) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 b0 = bias ? _mm256_loadu_ps(bias + col0) : zero;
    const __m256 b1 = bias ? _mm256_loadu_ps(bias + col0 + 8) : zero;
    for (int i = 0; i < rows; ++i) {
      __m256 v0 = _mm256_add_ps(_mm256_loadu_ps(acc + i * 16), b0);
      __m256 v1 = _mm256_add_ps(_mm256_loadu_ps(acc + i * 16 + 8), b1);
      if (act == Activation::kRelu) {
        v0 = _mm256_max_ps(v0, zero);
        v1 = _mm256_max_ps(v1, zero);
      }
      float* dst = c + static_cast<size_t>(i) * ldc + col0;
      _mm256_storeu_ps(dst, v0);
      _mm256_storeu_ps(dst + 8, v1);
    }
    return;
  }
#endif
  for (int i = 0; i < rows; ++i) {
    float* dst = c + static_cast<size_t>(i) * ldc + col0;
    for (int j = 0; j < cols; ++j) {
      float v = acc[i * 16 + j];
      if (bias) v += bias[col0 + j];
      dst[j] = Activate(v, act);
    }
  }
}

// True when every row of a segment is the all-zero padding row: its products add exact
// zeros (an accumulator started at +0 never becomes -0), so the segment can be skipped
// without changing a single bit of the result.
inline bool AllZeroRows(const float* const* row, const float* zero_row) {
  if (zero_row == nullptr) return false;
  for (int i = 0; i < kGemmRows; ++i)
    if (row[i] != zero_row) return false;
  return true;
}

// The 6 x 16 register tile: every row of the block is computed (rows past `rows` repeat
// row 0 and are not stored), so each element sees the same instruction sequence whatever
// the block size. Accumulators are named variables so they stay in registers.
#ifdef KWS_GEMM_AVX2
// kSums: each segment is accumulated on its own from zero, and the segments' partial sums
// are added in segment order into `acc` (GemmBlock's segment_sums).
template <bool kSums>
void Tile(const float* const* a_ptrs, int segments, int seg_len, const float* panel,
          const float* zero_row, float* acc) {
  if (kSums) std::memset(acc, 0, sizeof(float) * kGemmRows * 16);
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float* bp = panel;
  for (int s = 0; s < segments; ++s) {
    const float* const* row = a_ptrs + s * kGemmRows;
    if (AllZeroRows(row, zero_row)) {
      bp += static_cast<size_t>(seg_len) * 16;
      continue;
    }
    const float* a0 = row[0];
    const float* a1 = row[1];
    const float* a2 = row[2];
    const float* a3 = row[3];
    const float* a4 = row[4];
    const float* a5 = row[5];
    for (int k = 0; k < seg_len; ++k) {
      const __m256 b0 = _mm256_loadu_ps(bp);
      const __m256 b1 = _mm256_loadu_ps(bp + 8);
      bp += 16;
      __m256 av = _mm256_broadcast_ss(a0 + k);
      c00 = _mm256_fmadd_ps(av, b0, c00);
      c01 = _mm256_fmadd_ps(av, b1, c01);
      av = _mm256_broadcast_ss(a1 + k);
      c10 = _mm256_fmadd_ps(av, b0, c10);
      c11 = _mm256_fmadd_ps(av, b1, c11);
      av = _mm256_broadcast_ss(a2 + k);
      c20 = _mm256_fmadd_ps(av, b0, c20);
      c21 = _mm256_fmadd_ps(av, b1, c21);
      av = _mm256_broadcast_ss(a3 + k);
      c30 = _mm256_fmadd_ps(av, b0, c30);
      c31 = _mm256_fmadd_ps(av, b1, c31);
      av = _mm256_broadcast_ss(a4 + k);
      c40 = _mm256_fmadd_ps(av, b0, c40);
      c41 = _mm256_fmadd_ps(av, b1, c41);
      av = _mm256_broadcast_ss(a5 + k);
      c50 = _mm256_fmadd_ps(av, b0, c50);
      c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    if (kSums) {
#define KWS_ADD_PARTIAL(reg, j)                                                       \
  _mm256_storeu_ps(acc + 8 * (j), _mm256_add_ps(_mm256_loadu_ps(acc + 8 * (j)), reg)); \
  reg = _mm256_setzero_ps();
      KWS_ADD_PARTIAL(c00, 0) KWS_ADD_PARTIAL(c01, 1) KWS_ADD_PARTIAL(c10, 2)
      KWS_ADD_PARTIAL(c11, 3) KWS_ADD_PARTIAL(c20, 4) KWS_ADD_PARTIAL(c21, 5)
      KWS_ADD_PARTIAL(c30, 6) KWS_ADD_PARTIAL(c31, 7) KWS_ADD_PARTIAL(c40, 8)
      KWS_ADD_PARTIAL(c41, 9) KWS_ADD_PARTIAL(c50, 10) KWS_ADD_PARTIAL(c51, 11)
#undef KWS_ADD_PARTIAL
    }
  }
  if (kSums) return;
  _mm256_storeu_ps(acc + 0, c00);
  _mm256_storeu_ps(acc + 8, c01);
  _mm256_storeu_ps(acc + 16, c10);
  _mm256_storeu_ps(acc + 24, c11);
  _mm256_storeu_ps(acc + 32, c20);
  _mm256_storeu_ps(acc + 40, c21);
  _mm256_storeu_ps(acc + 48, c30);
  _mm256_storeu_ps(acc + 56, c31);
  _mm256_storeu_ps(acc + 64, c40);
  _mm256_storeu_ps(acc + 72, c41);
  _mm256_storeu_ps(acc + 80, c50);
  _mm256_storeu_ps(acc + 88, c51);
}

// One row only (matrix-vector products): four independent accumulator pairs over
// interleaved k would change the summation order, so keep one pair (exactness first).
void TileOneRow(const float* const* a_ptrs, int segments, int seg_len, const float* panel,
                const float* zero_row, float* acc) {
  __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
  const float* bp = panel;
  for (int s = 0; s < segments; ++s) {
    const float* a0 = a_ptrs[s * kGemmRows];
    if (a0 == zero_row) {
      bp += static_cast<size_t>(seg_len) * 16;
      continue;
    }
    for (int k = 0; k < seg_len; ++k) {
      const __m256 av = _mm256_broadcast_ss(a0 + k);
      c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp), c0);
      c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 8), c1);
      bp += 16;
    }
  }
  _mm256_storeu_ps(acc, c0);
  _mm256_storeu_ps(acc + 8, c1);
}

// One row against kPanels consecutive panels at once: 2 x kPanels independent
// accumulators hide the FMA latency of a matrix-vector product, while each column is
// still accumulated over k in increasing order (the same bits as TileOneRow).
constexpr int kPanelsAtOnce = 4;
void TileOneRowPanels(const float* const* a_ptrs, int segments, int seg_len,
                      const float* panel0, size_t panel_stride, const float* zero_row,
                      float* acc) {
  __m256 c[kPanelsAtOnce][2];
  for (int q = 0; q < kPanelsAtOnce; ++q) c[q][0] = c[q][1] = _mm256_setzero_ps();
  size_t offset = 0;
  for (int s = 0; s < segments; ++s) {
    const float* a0 = a_ptrs[s * kGemmRows];
    if (a0 == zero_row) {
      offset += static_cast<size_t>(seg_len) * 16;
      continue;
    }
    for (int k = 0; k < seg_len; ++k, offset += 16) {
      const __m256 av = _mm256_broadcast_ss(a0 + k);
      for (int q = 0; q < kPanelsAtOnce; ++q) {
        const float* bp = panel0 + q * panel_stride + offset;
        c[q][0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp), c[q][0]);
        c[q][1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(bp + 8), c[q][1]);
      }
    }
  }
  for (int q = 0; q < kPanelsAtOnce; ++q) {
    _mm256_storeu_ps(acc + q * 16, c[q][0]);
    _mm256_storeu_ps(acc + q * 16 + 8, c[q][1]);
  }
}
#else
constexpr int kPanelsAtOnce = 1;  // no multi-panel kernel without AVX2
void TileOneRowPanels(const float* const*, int, int, const float*, size_t, const float*,
                      float*) {}
template <bool kSums>
void Tile(const float* const* a_ptrs, int segments, int seg_len, const float* panel,
          const float* zero_row, float* acc) {
  float c[kGemmRows][16] = {};
  if (kSums) std::memset(acc, 0, sizeof(float) * kGemmRows * 16);
  const float* bp = panel;
  for (int s = 0; s < segments; ++s) {
    const float* const* row = a_ptrs + s * kGemmRows;
    if (AllZeroRows(row, zero_row)) {
      bp += static_cast<size_t>(seg_len) * 16;
      continue;
    }
    for (int k = 0; k < seg_len; ++k) {
      for (int i = 0; i < kGemmRows; ++i) {
        const float av = row[i][k];
        for (int j = 0; j < 16; ++j) c[i][j] = std::fma(av, bp[j], c[i][j]);
      }
      bp += 16;
    }
    if (kSums) {
      for (int i = 0; i < kGemmRows; ++i)
        for (int j = 0; j < 16; ++j) {
          acc[i * 16 + j] += c[i][j];
          c[i][j] = 0.0f;
        }
    }
  }
  if (kSums) return;
  for (int i = 0; i < kGemmRows; ++i)
    for (int j = 0; j < 16; ++j) acc[i * 16 + j] = c[i][j];
}

void TileOneRow(const float* const* a_ptrs, int segments, int seg_len, const float* panel,
                const float* zero_row, float* acc) {
  float c[16] = {};
  const float* bp = panel;
  for (int s = 0; s < segments; ++s) {
    const float* a0 = a_ptrs[s * kGemmRows];
    if (a0 == zero_row) {
      bp += static_cast<size_t>(seg_len) * 16;
      continue;
    }
    for (int k = 0; k < seg_len; ++k) {
      for (int j = 0; j < 16; ++j) c[j] = std::fma(a0[k], bp[j], c[j]);
      bp += 16;
    }
  }
  for (int j = 0; j < 16; ++j) acc[j] = c[j];
}
#endif

}  // namespace

void GemmBlock(const float** a_ptrs, int rows, int segments, int seg_len,
               const PackedMatrix& b, const float* bias, Activation act, float* c, int ldc,
               int panel_begin, int panel_end, const float* zero_row, bool segment_sums) {
  alignas(32) float acc[kGemmRows * 16];
  // Rows past `rows` repeat row 0 (computed, not stored).
  for (int s = 0; s < segments; ++s)
    for (int i = rows; i < kGemmRows; ++i) a_ptrs[s * kGemmRows + i] = a_ptrs[s * kGemmRows];
  int p = panel_begin;
  if (segment_sums && segments > 1) {
    // Every element is computed independently in Tile, so one row gets the same bits.
    for (; p < panel_end; ++p) {
      Tile<true>(a_ptrs, segments, seg_len, b.panel(p), zero_row, acc);
      StoreTile(acc, rows, std::min(16, b.n - p * 16), bias, p * 16, act, c, ldc);
    }
    return;
  }
  if (rows == 1 && kPanelsAtOnce > 1) {
    alignas(32) float wide[kPanelsAtOnce * 16];
    for (; p + kPanelsAtOnce <= panel_end; p += kPanelsAtOnce) {
      TileOneRowPanels(a_ptrs, segments, seg_len, b.panel(p),
                       static_cast<size_t>(b.k) * 16, zero_row, wide);
      for (int q = 0; q < kPanelsAtOnce; ++q)
        StoreTile(wide + q * 16, 1, std::min(16, b.n - (p + q) * 16), bias, (p + q) * 16, act,
                  c, ldc);
    }
  }
  for (; p < panel_end; ++p) {
    if (rows == 1)
      TileOneRow(a_ptrs, segments, seg_len, b.panel(p), zero_row, acc);
    else
      Tile<false>(a_ptrs, segments, seg_len, b.panel(p), zero_row, acc);
    StoreTile(acc, rows, std::min(16, b.n - p * 16), bias, p * 16, act, c, ldc);
  }
}

}  // namespace layers
}  // namespace kws
