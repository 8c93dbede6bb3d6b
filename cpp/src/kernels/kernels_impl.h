// The kernels of one set, written once over simd.h's Vec and compiled by each set's
// translation unit (scalar.cc, avx2.cc, avx512.cc, neon.cc, wasm_simd128.cc) with its own
// flags. Include after defining the set's macro, KWS_GEMM_TILE_ROWS (rows of the GEMM
// register tile, a divisor of kGemmRows), KWS_GEMM_TILE_PANELS and KWS_GEMM_ROW_PANELS
// (the column panels of 16 it covers for a block and for a single row). Everything is in an
// anonymous namespace: internal linkage per set.
#ifndef KWS_SRC_KERNELS_KERNELS_IMPL_H_
#define KWS_SRC_KERNELS_KERNELS_IMPL_H_

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels.h"
#include "simd.h"

#ifndef KWS_GEMM_TILE_ROWS
#error "define KWS_GEMM_TILE_ROWS"
#endif
#ifndef KWS_GEMM_TILE_PANELS
#error "define KWS_GEMM_TILE_PANELS"
#endif
#ifndef KWS_GEMM_ROW_PANELS
#error "define KWS_GEMM_ROW_PANELS"
#endif

// Register tiles: fully unrolled so the accumulators live in registers. The scalar set
// leaves its 16-float rows to the compiler's vectoriser (baseline SSE2/NEON/...).
#if defined(KWS_KERNELS_SCALAR)
#define KWS_UNROLL
#else
#define KWS_UNROLL _Pragma("GCC unroll 64")
#endif

// The register tiles are laid out by hand (one unrolled loop nest per line pair).
// clang-format off
namespace kws {
namespace kernels {
namespace {

using layers::Activation;

constexpr int kRows = layers::kGemmRows;
constexpr int kTileRows = KWS_GEMM_TILE_ROWS;
static_assert(kRows % kTileRows == 0, "a block is a whole number of tiles");
// Windows of the SVDF time filter processed together.
constexpr int kWindows = 6;
constexpr int kVecPerPanel = 16 / kWidth;
constexpr int kTilePanels = KWS_GEMM_TILE_PANELS;
constexpr int kRowPanels = KWS_GEMM_ROW_PANELS;
constexpr int kMaxPanels = kTilePanels > kRowPanels ? kTilePanels : kRowPanels;
// Rows of the tile over a last half panel (WholePanelsEnd): its accumulators are half as
// many per row, so a set may give it more rows to keep enough multiply-add chains going.
#ifdef KWS_GEMM_HALF_TILE_ROWS
constexpr int kHalfTileRows = KWS_GEMM_HALF_TILE_ROWS;
#else
constexpr int kHalfTileRows = kTileRows;
#endif
static_assert(kRows % kHalfTileRows == 0, "a block is a whole number of half-panel tiles");
// Half panels are for the SIMD sets: the scalar set's compiler-vectorised 16-float rows
// measured slower at 8.
constexpr bool kHalfPanels = kWidth > 1 && kVecPerPanel % 2 == 0;
// The accumulator tile GemmBlockImpl keeps in memory: the largest of its tiles.
constexpr int kAccFloats = (kTileRows * kMaxPanels > kHalfTileRows ? kTileRows * kMaxPanels
                                                                   : kHalfTileRows) * 16;
static_assert(16 % kWidth == 0, "a panel is a whole number of vectors");

static inline float Relu(float v) { return v > 0.0f ? v : 0.0f; }

// True when every row of a segment is the all-zero padding row: its products add exact
// zeros (an accumulator started at +0 never becomes -0), so the segment can be skipped
// without changing a single bit of the result.
template <int RR>
static inline bool AllZeroRows(const float* const* row, const float* zero_row) {
  if (zero_row == nullptr) return false;
  for (int i = 0; i < RR; ++i)
    if (row[i] != zero_row) return false;
  return true;
}

// RR rows x NP panels register tile. Every element is accumulated over k in increasing
// order from zero (kSums: each segment from zero, the segments' sums then added in
// order into acc), so the tile shape never changes the bits. acc is RR x (NP * 16).
// kHalf (one panel whose columns past 8 are padding): only the panel's first 8 columns
// are computed, with half the loads and multiply-adds; acc's columns 8..15 are left as
// they were.
// Where a tile of whole panels is written straight to C (c at its first column; rows
// below `rows` stored): each sum + bias, then the activation, as StoreTile does.
struct Epilogue {
  float* c = nullptr;
  int ldc = 0, rows = 0;
  const float* bias = nullptr;
  bool relu = false;
};

template <int RR, int NP, bool kSums, bool kHalf = false>
static inline void Tile(const float* const* a_ptrs, int segments, int seg_len,
                        const float* panel0, size_t panel_stride, size_t ks,
                        const float* zero_row, float* acc, const Epilogue& e) {
  static_assert(!kHalf || (NP == 1 && kHalfPanels), "a half panel is whole vectors");
  constexpr int kPanelVecs = kHalf ? kVecPerPanel / 2 : kVecPerPanel;  // loaded per panel
  constexpr int V = NP * kPanelVecs;
  constexpr int ld = NP * 16;
  Vec c[RR][V];
  KWS_UNROLL for (int i = 0; i < RR; ++i)
    KWS_UNROLL for (int j = 0; j < V; ++j) c[i][j] = Zero();
  if (kSums) std::memset(acc, 0, sizeof(float) * RR * ld);
  size_t off = 0;
  for (int s = 0; s < segments; ++s) {
    const float* const* row = a_ptrs + s * kRows;
    if (AllZeroRows<RR>(row, zero_row)) {
      off += static_cast<size_t>(seg_len) * ks;
      continue;
    }
    const float* a[RR];
    KWS_UNROLL for (int i = 0; i < RR; ++i) a[i] = row[i];
    for (int k = 0; k < seg_len; ++k, off += ks) {
      Vec b[V];
      KWS_UNROLL for (int q = 0; q < NP; ++q)
        KWS_UNROLL for (int v = 0; v < kPanelVecs; ++v)
          b[q * kPanelVecs + v] = Load(panel0 + q * panel_stride + off + v * kWidth);
      KWS_UNROLL for (int i = 0; i < RR; ++i) {
        const Vec av = Splat(a[i][k]);
        KWS_UNROLL for (int j = 0; j < V; ++j) c[i][j] = MulAdd(av, b[j], c[i][j]);
      }
    }
    if (kSums) {
      KWS_UNROLL for (int i = 0; i < RR; ++i)
        KWS_UNROLL for (int j = 0; j < V; ++j) {
          float* d = acc + i * ld + j * kWidth;
          Store(d, Add(Load(d), c[i][j]));
          c[i][j] = Zero();
        }
    }
  }
  if (kSums) return;
  if (e.c != nullptr) {
    const Vec zero = Zero();
    Vec bv[V];
    KWS_UNROLL for (int j = 0; j < V; ++j) bv[j] = e.bias ? Load(e.bias + j * kWidth) : zero;
    KWS_UNROLL for (int i = 0; i < RR; ++i) {
      if (i >= e.rows) break;
      float* dst = e.c + static_cast<size_t>(i) * e.ldc;
      KWS_UNROLL for (int j = 0; j < V; ++j) {
        Vec x = c[i][j];
        if (e.bias) x = Add(x, bv[j]);
        if (e.relu) x = Max(x, zero);
        Store(dst + j * kWidth, x);
      }
    }
    return;
  }
  KWS_UNROLL for (int i = 0; i < RR; ++i)
    KWS_UNROLL for (int j = 0; j < V; ++j) Store(acc + i * ld + j * kWidth, c[i][j]);
}

// Writes `rows` rows of an accumulator tile of NP panels (acc row stride NP * 16) to C,
// panel p0 first: adds the bias, applies the activation.
template <int NP>
static inline void StoreTile(const float* acc, int rows, const PackedView& b, int p0,
                             const float* bias, Activation act, float* c, int ldc) {
  const bool relu = act == Activation::kRelu;
  const Vec zero = Zero();
  for (int q = 0; q < NP; ++q) {
    const int col0 = (p0 + q) * 16;
    const int cols = MinInt(16, b.n - col0);
    for (int i = 0; i < rows; ++i) {
      const float* src = acc + i * NP * 16 + q * 16;
      float* dst = c + static_cast<size_t>(i) * ldc + col0;
      if (cols == 16) {
        KWS_UNROLL for (int v = 0; v < kVecPerPanel; ++v) {
          Vec x = Load(src + v * kWidth);
          if (bias) x = Add(x, Load(bias + col0 + v * kWidth));
          if (relu) x = Max(x, zero);
          Store(dst + v * kWidth, x);
        }
      } else {
        for (int j = 0; j < cols; ++j) {
          float x = src[j];
          if (bias) x += bias[col0 + j];
          dst[j] = relu ? Relu(x) : x;
        }
      }
    }
  }
}

template <int RR, int NP, bool kSums, bool kHalf = false>
static inline void TileAndStore(const float** a_ptrs, int rows, int segments, int seg_len,
                                const PackedView& b, int p, const float* bias,
                                Activation act, float* c, int ldc, const float* zero_row,
                                float* acc) {
  const size_t panel_stride = static_cast<size_t>(b.k) * b.row_floats;
  Epilogue e;
  // Whole panels of plain sums go straight from the registers to C.
  if (!kSums && (p + NP) * 16 <= b.n) {
    e.c = c + p * 16;
    e.ldc = ldc;
    e.rows = rows;
    e.bias = bias ? bias + p * 16 : nullptr;
    e.relu = act == Activation::kRelu;
  }
  Tile<RR, NP, kSums, kHalf>(a_ptrs, segments, seg_len, b.data + p * panel_stride,
                             panel_stride, b.row_floats, zero_row, acc, e);
  if (e.c == nullptr) StoreTile<NP>(acc, rows, b, p, bias, act, c, ldc);
}

// Where the panels [p, panel_end) stop being whole: panel_end - 1 when it is B's last
// panel, holds at most 8 columns and half a panel is whole vectors (the tiles then compute
// only its first 8 columns: Tile's kHalf), else panel_end.
static inline int WholePanelsEnd(const PackedView& b, int p, int panel_end) {
  const bool half = kHalfPanels && p < panel_end && panel_end == b.panels &&
                    b.n - (panel_end - 1) * 16 <= 8;
  return half ? panel_end - 1 : panel_end;
}

// Rows [r0, r0 + kTileRows) of a block, panels [p, panel_end).
template <bool kSums>
static inline void TileRows(const float** a_ptrs, int rows, int segments, int seg_len,
                            const PackedView& b, int p, int panel_end, const float* bias,
                            Activation act, float* c, int ldc, const float* zero_row,
                            float* acc) {
  for (; p + kTilePanels <= panel_end; p += kTilePanels)
    TileAndStore<kTileRows, kTilePanels, kSums>(a_ptrs, rows, segments, seg_len, b, p, bias,
                                                act, c, ldc, zero_row, acc);
  if (kTilePanels > 2 && p + 2 <= panel_end) {
    TileAndStore<kTileRows, 2, kSums>(a_ptrs, rows, segments, seg_len, b, p, bias, act, c,
                                      ldc, zero_row, acc);
    p += 2;
  }
  for (; p < panel_end; ++p)
    TileAndStore<kTileRows, 1, kSums>(a_ptrs, rows, segments, seg_len, b, p, bias, act, c,
                                      ldc, zero_row, acc);
}

// S segments of one row over NP panels, from segment s: each accumulated from zero in its
// own registers, then those that are not the all-zero row added to `sum` in order.
template <int NP, int S>
static inline void RowSegmentGroup(const float* const* a_ptrs, int s, int seg_len,
                                   const float* panel0, size_t panel_stride, size_t ks,
                                   const float* zero_row, Vec (&sum)[NP * kVecPerPanel]) {
  constexpr int V = NP * kVecPerPanel;
  const size_t seg_floats = static_cast<size_t>(seg_len) * ks;
  Vec c[S][V];
  const float* a[S];
  KWS_UNROLL for (int u = 0; u < S; ++u) {
    a[u] = a_ptrs[(s + u) * kRows];
    KWS_UNROLL for (int j = 0; j < V; ++j) c[u][j] = Zero();
  }
  const float* pb = panel0 + s * seg_floats;
  for (int k = 0; k < seg_len; ++k, pb += ks) {
    KWS_UNROLL for (int u = 0; u < S; ++u) {
      const Vec av = Splat(a[u][k]);
      KWS_UNROLL for (int q = 0; q < NP; ++q)
        KWS_UNROLL for (int v = 0; v < kVecPerPanel; ++v)
          c[u][q * kVecPerPanel + v] = MulAdd(av, Load(pb + q * panel_stride + u * seg_floats + v * kWidth), c[u][q * kVecPerPanel + v]);
    }
  }
  KWS_UNROLL for (int u = 0; u < S; ++u)
    if (a[u] != zero_row)
      KWS_UNROLL for (int j = 0; j < V; ++j) sum[j] = Add(sum[j], c[u][j]);
}

// One row's segment sums over NP panels: several segments at a time (independent
// multiply-add chains, so a row of few panels is not bound by one chain's latency), each
// added to the running sum in segment order: the same sums as Tile with kSums, and the same
// skip of all-zero segments (which adds nothing: a sum started at +0 is never -0). Writes
// NP * 16 floats to acc.
template <int NP>
static inline void RowSegmentSums(const float* const* a_ptrs, int segments, int seg_len,
                                  const float* panel0, size_t panel_stride, size_t ks,
                                  const float* zero_row, float* acc) {
  constexpr int V = NP * kVecPerPanel;
  constexpr int S = V <= 2 ? 4 : (V <= 4 ? 2 : 1);
  Vec sum[V];
  KWS_UNROLL for (int j = 0; j < V; ++j) sum[j] = Zero();
  int s = 0;
  for (; s + S <= segments; s += S)
    RowSegmentGroup<NP, S>(a_ptrs, s, seg_len, panel0, panel_stride, ks, zero_row, sum);
  for (; s < segments; ++s)
    RowSegmentGroup<NP, 1>(a_ptrs, s, seg_len, panel0, panel_stride, ks, zero_row, sum);
  KWS_UNROLL for (int j = 0; j < V; ++j) Store(acc + j * kWidth, sum[j]);
}

void GemmBlockImpl(const float** a_ptrs, int rows, int segments, int seg_len,
                   const PackedView& b, const float* bias, Activation act, float* c, int ldc,
                   int panel_begin, int panel_end, const float* zero_row, bool segment_sums) {
  alignas(64) float acc[kAccFloats];
  // Rows past `rows` repeat row 0 (computed, not stored).
  for (int s = 0; s < segments; ++s)
    for (int i = rows; i < kRows; ++i) a_ptrs[s * kRows + i] = a_ptrs[s * kRows];
  if (rows == 1 && segment_sums && segments > 1) {
    // One row of segment sums: two panels at a time, then one.
    const size_t panel_stride = static_cast<size_t>(b.k) * b.row_floats;
    int p = panel_begin;
    for (; p + 2 <= panel_end; p += 2) {
      RowSegmentSums<2>(a_ptrs, segments, seg_len, b.data + p * panel_stride, panel_stride,
                        b.row_floats, zero_row, acc);
      StoreTile<2>(acc, 1, b, p, bias, act, c, ldc);
    }
    if (p < panel_end) {
      RowSegmentSums<1>(a_ptrs, segments, seg_len, b.data + p * panel_stride, panel_stride,
                        b.row_floats, zero_row, acc);
      StoreTile<1>(acc, 1, b, p, bias, act, c, ldc);
    }
    return;
  }
  if (rows == 1) {
    int p = panel_begin;
    const int whole_end = WholePanelsEnd(b, p, panel_end);
    for (; p + kRowPanels <= whole_end; p += kRowPanels)
      TileAndStore<1, kRowPanels, false>(a_ptrs, rows, segments, seg_len, b, p, bias, act, c,
                                         ldc, zero_row, acc);
    for (; p < whole_end; ++p)
      TileAndStore<1, 1, false>(a_ptrs, rows, segments, seg_len, b, p, bias, act, c, ldc,
                                zero_row, acc);
    if constexpr (kHalfPanels) {
      if (whole_end < panel_end)
        TileAndStore<1, 1, false, true>(a_ptrs, rows, segments, seg_len, b, whole_end, bias,
                                        act, c, ldc, zero_row, acc);
    }
    return;
  }
  // Tiles of kTileRows rows; a tile whose rows are all past `rows` is not computed.
  const int whole_end = WholePanelsEnd(b, panel_begin, panel_end);
  const bool sums = segment_sums && segments > 1;
  for (int r0 = 0; r0 < rows; r0 += kTileRows) {
    const int n = MinInt(kTileRows, rows - r0);
    float* cr = c + static_cast<size_t>(r0) * ldc;
    if (sums)
      TileRows<true>(a_ptrs + r0, n, segments, seg_len, b, panel_begin, whole_end, bias, act,
                     cr, ldc, zero_row, acc);
    else
      TileRows<false>(a_ptrs + r0, n, segments, seg_len, b, panel_begin, whole_end, bias, act,
                      cr, ldc, zero_row, acc);
  }
  // A last half panel: tiles of kHalfTileRows rows.
  if constexpr (kHalfPanels) {
    if (whole_end == panel_end) return;
    for (int r0 = 0; r0 < rows; r0 += kHalfTileRows) {
      const int n = MinInt(kHalfTileRows, rows - r0);
      float* cr = c + static_cast<size_t>(r0) * ldc;
      if (sums)
        TileAndStore<kHalfTileRows, 1, true, true>(a_ptrs + r0, n, segments, seg_len, b,
                                                   whole_end, bias, act, cr, ldc, zero_row, acc);
      else
        TileAndStore<kHalfTileRows, 1, false, true>(a_ptrs + r0, n, segments, seg_len, b,
                                                    whole_end, bias, act, cr, ldc, zero_row, acc);
    }
  }
}

void SumPartialsImpl(const float* const* parts, int num_parts, const float* bias,
                     int channels, Activation act, float* out, size_t n) {
  const bool relu = act == Activation::kRelu;
  size_t j = 0;
  if (channels % kWidth == 0) {
    const Vec zero = Zero();
    for (; j + kWidth <= n; j += kWidth) {
      Vec s = zero;
      for (int p = 0; p < num_parts; ++p) s = Add(s, Load(parts[p] + j));
      s = Add(s, bias ? Load(bias + j % channels) : zero);
      if (relu) s = Max(s, zero);
      Store(out + j, s);
    }
  }
  for (; j < n; ++j) {
    float s = 0.0f;
    for (int p = 0; p < num_parts; ++p) s += parts[p][j];
    s += bias ? bias[j % channels] : 0.0f;
    out[j] = relu ? Relu(s) : s;
  }
}

// Output pixels computed together by the depthwise kernel (they share each tap's kernel
// vectors): as many as the registers hold next to 4 vectors of channels per pixel.
#if defined(KWS_KERNELS_AVX512) || defined(KWS_KERNELS_NEON)
constexpr int kDwPixels = 4;
#elif defined(KWS_KERNELS_AVX2) || defined(KWS_KERNELS_WASM_SIMD128)
constexpr int kDwPixels = 2;
#else
constexpr int kDwPixels = 1;
#endif

// Writes a depthwise tile of P output pixels (`out_step` floats apart) by G vectors of
// channels: each sum + bias, then the activation.
template <int P, int G>
static inline void DepthwiseStoreTile(const Vec (&acc)[P][G], const float* bias, bool relu,
                                      float* o, size_t out_step) {
  const Vec zero = Zero();
  KWS_UNROLL for (int p = 0; p < P; ++p)
    KWS_UNROLL for (int g = 0; g < G; ++g) {
      Vec v = acc[p][g];
      if (bias) v = Add(v, Load(bias + kWidth * g));
      if (relu) v = Max(v, zero);
      Store(o + p * out_step + kWidth * g, v);
    }
}

// G vectors of channels of P depthwise output pixels (multiplier 1), `pixel_step` floats
// apart in the input. `in` and `kernel` point at pixel 0's first in-range tap; ny x nx
// taps, each accumulated in (dy, dx) order from zero; then bias, then activation.
template <int P, int G>
static inline void DepthwisePixels(const float* in, size_t pixel_step, size_t row_stride,
                                   size_t col_stride, const float* kernel, size_t kernel_row,
                                   int ny, int nx, const float* bias, bool relu, float* o,
                                   size_t out_step) {
  Vec acc[P][G];
  KWS_UNROLL for (int p = 0; p < P; ++p)
    KWS_UNROLL for (int g = 0; g < G; ++g) acc[p][g] = Zero();
  for (int dy = 0; dy < ny; ++dy) {
    const float* src = in + static_cast<size_t>(dy) * row_stride;
    const float* k = kernel + static_cast<size_t>(dy) * kernel_row;
    for (int dx = 0; dx < nx; ++dx) {
      const float* s = src + static_cast<size_t>(dx) * col_stride;
      const float* kk = k + static_cast<size_t>(dx) * col_stride;
      Vec kv[G];
      KWS_UNROLL for (int g = 0; g < G; ++g) kv[g] = Load(kk + kWidth * g);
      KWS_UNROLL for (int p = 0; p < P; ++p)
        KWS_UNROLL for (int g = 0; g < G; ++g)
          acc[p][g] = MulAdd(Load(s + p * pixel_step + kWidth * g), kv[g], acc[p][g]);
    }
  }
  DepthwiseStoreTile<P, G>(acc, bias, relu, o, out_step);
}

// Output channels [c, Co) of one pixel, one at a time: the same sums as DepthwisePixels.
static inline void DepthwiseChannels(const float* in, size_t row_stride, int C,
                                     const float* kernel, size_t kernel_row, int Co, int mult,
                                     int ny, int nx, const float* bias, bool relu, float* o,
                                     int c) {
  for (; c < Co; ++c) {
    float acc = 0.0f;
    for (int dy = 0; dy < ny; ++dy)
      for (int dx = 0; dx < nx; ++dx)
        acc = MulAddScalar(in[static_cast<size_t>(dy) * row_stride +
                              static_cast<size_t>(dx) * C + c / mult],
                           kernel[static_cast<size_t>(dy) * kernel_row +
                                  static_cast<size_t>(dx) * Co + c],
                           acc);
    if (bias) acc += bias[c];
    o[c] = relu ? Relu(acc) : acc;
  }
}

// P pixels (multiplier 1), every channel.
template <int P>
static inline void DepthwiseRun(const float* in, size_t pixel_step, size_t row_stride, int C,
                                const float* kernel, size_t kernel_row, int ny, int nx,
                                const float* bias, bool relu, float* o) {
  int c = 0;
  for (; c + 4 * kWidth <= C; c += 4 * kWidth)
    DepthwisePixels<P, 4>(in + c, pixel_step, row_stride, C, kernel + c, kernel_row, ny, nx,
                          bias ? bias + c : nullptr, relu, o + c, C);
  for (; c + kWidth <= C; c += kWidth)
    DepthwisePixels<P, 1>(in + c, pixel_step, row_stride, C, kernel + c, kernel_row, ny, nx,
                          bias ? bias + c : nullptr, relu, o + c, C);
  if (c < C)
    for (int p = 0; p < P; ++p)
      DepthwiseChannels(in + p * pixel_step, row_stride, C, kernel, kernel_row, C, 1, ny, nx,
                        bias, relu, o + static_cast<size_t>(p) * C, c);
}

// Width-sliding depthwise tiles (width stride 1, multiplier 1): P output pixels side by
// side and G vectors of channels, KW taps per kernel row. Each input pixel of a kernel row
// is loaded once and multiplied by the KW kernel vectors of the outputs it reaches, so the
// loads per multiply-add fall to about (P + KW - 1) / (P * KW). Per set: as many pixels
// and channel vectors as the registers hold (accumulators, one kernel row, one input pixel);
// more channels per tile beat more pixels (fewer tiles, each loading fewer edge pixels).
// The scalar set keeps DepthwiseRun.
#if defined(KWS_KERNELS_NEON) || defined(KWS_KERNELS_AVX512)
constexpr int kSlidePixels = 8, kSlideGroups = 2;
#elif defined(KWS_KERNELS_AVX2) || defined(KWS_KERNELS_WASM_SIMD128)
constexpr int kSlidePixels = 4, kSlideGroups = 2;
#else
constexpr int kSlidePixels = 0, kSlideGroups = 1;
#endif

// Output pixels [w, w + P) of one row, channels [c, c + G * kWidth): `in` and `kernel`
// point at channel c of input row y (the first in-range kernel row, dy_lo) and of kernel
// row dy_lo; ny kernel rows. Output p's tap dx reads input column x0 + p + dx; with kEdge
// a tap whose column lies outside [0, W) is skipped, as the padding demands (without it,
// every column read lies inside). For each output the taps are accumulated from zero in
// (dy, dx) order, then bias, then activation: the same sums as DepthwisePixels and
// DepthwiseChannels.
template <int P, int G, int KW, bool kEdge>
static inline void DepthwiseSlide(const float* in, size_t row_stride, int C, int W, int x0,
                                  const float* kernel, size_t kernel_row, int ny,
                                  const float* bias, bool relu, float* o) {
  Vec acc[P][G];
  KWS_UNROLL for (int p = 0; p < P; ++p)
    KWS_UNROLL for (int g = 0; g < G; ++g) acc[p][g] = Zero();
  const float* src = in + static_cast<ptrdiff_t>(x0) * C;
  const float* k = kernel;
  for (int dy = 0; dy < ny; ++dy, src += row_stride, k += kernel_row) {
    Vec kv[KW][G];
    KWS_UNROLL for (int dx = 0; dx < KW; ++dx)
      KWS_UNROLL for (int g = 0; g < G; ++g) kv[dx][g] = Load(k + static_cast<size_t>(dx) * C + kWidth * g);
    const float* s = src;
    KWS_UNROLL for (int x = 0; x < P + KW - 1; ++x, s += C) {
      if (kEdge && (x0 + x < 0 || x0 + x >= W)) continue;
      Vec v[G];
      KWS_UNROLL for (int g = 0; g < G; ++g) v[g] = LoadOnce(s + kWidth * g);
      KWS_UNROLL for (int dx = 0; dx < KW; ++dx) {
        const int p = x - dx;
        if (p < 0 || p >= P) continue;
        KWS_UNROLL for (int g = 0; g < G; ++g) acc[p][g] = MulAdd(v[g], kv[dx][g], acc[p][g]);
      }
    }
  }
  DepthwiseStoreTile<P, G>(acc, bias, relu, o, static_cast<size_t>(C));
}

// P pixels from output column w: the edge form only when a tap falls outside the width.
template <int P, int G, int KW>
static inline void DepthwiseSlideBlock(const float* in, size_t row_stride, int C, int W, int x0,
                                       const float* kernel, size_t kernel_row, int ny,
                                       const float* bias, bool relu, float* o) {
  if (x0 >= 0 && x0 + P + KW - 1 <= W)
    DepthwiseSlide<P, G, KW, false>(in, row_stride, C, W, x0, kernel, kernel_row, ny, bias, relu, o);
  else
    DepthwiseSlide<P, G, KW, true>(in, row_stride, C, W, x0, kernel, kernel_row, ny, bias, relu, o);
}

// One output row by sliding tiles: channel groups of G vectors, then single vectors, for
// blocks of P, 4 and 1 pixels (C a multiple of kWidth).
template <int KW>
static inline void DepthwiseSlideRow(const DepthwiseArgs& a, const float* in_row,
                                     const float* row_k, int ny, float* out_row) {
  constexpr int P = kSlidePixels > 0 ? kSlidePixels : 1;
  const int C = a.C, W = a.W, Wo = a.Wo;
  const size_t row_stride = static_cast<size_t>(W) * C;
  const size_t kernel_row = static_cast<size_t>(KW) * C;
  auto run = [&](auto groups, int c0) {
    constexpr int G = decltype(groups)::value;
    const float* bias = a.bias ? a.bias + c0 : nullptr;
    int w = 0;
    for (; w + P <= Wo; w += P)
      DepthwiseSlideBlock<P, G, KW>(in_row + c0, row_stride, C, W, w - a.pad_left, row_k + c0,
                                    kernel_row, ny, bias, a.relu, out_row + static_cast<size_t>(w) * C + c0);
    if (P > 4 && w + 4 <= Wo) {
      DepthwiseSlideBlock<4, G, KW>(in_row + c0, row_stride, C, W, w - a.pad_left, row_k + c0,
                                    kernel_row, ny, bias, a.relu, out_row + static_cast<size_t>(w) * C + c0);
      w += 4;
    }
    for (; w < Wo; ++w)
      DepthwiseSlideBlock<1, G, KW>(in_row + c0, row_stride, C, W, w - a.pad_left, row_k + c0,
                                    kernel_row, ny, bias, a.relu, out_row + static_cast<size_t>(w) * C + c0);
  };
  int c = 0;
  for (; c + kSlideGroups * kWidth <= C; c += kSlideGroups * kWidth)
    run(std::integral_constant<int, kSlideGroups>(), c);
  for (; c < C; c += kWidth) run(std::integral_constant<int, 1>(), c);
}

void DepthwiseRowsImpl(const DepthwiseArgs& a, const float* in, float* out, int r0, int r1) {
  const int H = a.H, W = a.W, C = a.C, Wo = a.Wo, mult = a.mult, Co = C * mult;
  const size_t row_stride = static_cast<size_t>(W) * C;
  const size_t kernel_row = static_cast<size_t>(a.kw) * Co;
  const size_t pixel_step = static_cast<size_t>(a.sw) * C;
  const bool slide = kSlidePixels > 0 && mult == 1 && a.sw == 1 && (a.kw == 1 || a.kw == 3) &&
                     C % kWidth == 0;
  for (int t = r0; t < r1; ++t) {
    const int y0 = t * a.sh - a.pad_top;
    const int dy_lo = MaxInt(0, -y0), dy_hi = MinInt(a.kh, H - y0);
    const int ny = MaxInt(0, dy_hi - dy_lo);
    const float* row_k = a.weights + static_cast<size_t>(dy_lo) * kernel_row;
    if (slide) {
      const float* in_row = in + static_cast<size_t>(MaxInt(0, y0 + dy_lo)) * row_stride;
      float* out_row = out + static_cast<size_t>(t) * Wo * Co;
      if (a.kw == 3)
        DepthwiseSlideRow<3>(a, in_row, row_k, ny, out_row);
      else
        DepthwiseSlideRow<1>(a, in_row, row_k, ny, out_row);
      continue;
    }
    for (int w = 0; w < Wo;) {
      const int x0 = w * a.sw - a.pad_left;
      float* o = out + (static_cast<size_t>(t) * Wo + w) * Co;
      // kDwPixels pixels whose taps all lie inside the width.
      if (kDwPixels > 1 && mult == 1 && w + kDwPixels <= Wo && x0 >= 0 &&
          (w + kDwPixels - 1) * a.sw - a.pad_left + a.kw <= W) {
        const float* first_in =
            in + (static_cast<ptrdiff_t>(y0 + dy_lo) * W + x0) * static_cast<ptrdiff_t>(C);
        DepthwiseRun<kDwPixels>(first_in, pixel_step, row_stride, C, row_k, kernel_row, ny,
                                a.kw, a.bias, a.relu, o);
        w += kDwPixels;
        continue;
      }
      const int dx_lo = MaxInt(0, -x0), dx_hi = MinInt(a.kw, W - x0);
      const int nx = MaxInt(0, dx_hi - dx_lo);
      const float* first_in =
          in + (static_cast<ptrdiff_t>(y0 + dy_lo) * W + (x0 + dx_lo)) * static_cast<ptrdiff_t>(C);
      const float* first_k = row_k + static_cast<size_t>(dx_lo) * Co;
      if (mult == 1)
        DepthwiseRun<1>(first_in, pixel_step, row_stride, C, first_k, kernel_row, ny, nx,
                        a.bias, a.relu, o);
      else
        DepthwiseChannels(first_in, row_stride, C, first_k, kernel_row, Co, mult, ny, nx,
                          a.bias, a.relu, o, 0);
      ++w;
    }
  }
}

void SvdfTimeImpl(const float* w_time, const float* const* rows, int rows_per_window,
                  int count, int M, int F, float* acc) {
  int f0 = 0;
  for (; f0 + 2 * kWidth <= F; f0 += 2 * kWidth) {
    for (int w0 = 0; w0 < count; w0 += kWindows) {
      const int n = MinInt(kWindows, count - w0);
      const float* const* r[kWindows];
      KWS_UNROLL for (int i = 0; i < kWindows; ++i)
        r[i] = rows + static_cast<size_t>(w0 + MinInt(i, n - 1)) * rows_per_window;
      Vec a[kWindows][2];
      KWS_UNROLL for (int i = 0; i < kWindows; ++i) a[i][0] = a[i][1] = Zero();
      for (int k = 0; k < M; ++k) {
        const float* wk = w_time + static_cast<size_t>(k) * F + f0;
        const Vec t0 = Load(wk), t1 = Load(wk + kWidth);
        KWS_UNROLL for (int i = 0; i < kWindows; ++i) {
          const float* x = r[i][k] + f0;
          a[i][0] = MulAdd(t0, Load(x), a[i][0]);
          a[i][1] = MulAdd(t1, Load(x + kWidth), a[i][1]);
        }
      }
      for (int i = 0; i < n; ++i) {
        float* dst = acc + static_cast<size_t>(w0 + i) * F + f0;
        Store(dst, a[i][0]);
        Store(dst + kWidth, a[i][1]);
      }
    }
  }
  for (; f0 < F; ++f0) {
    for (int w = 0; w < count; ++w) {
      const float* const* r = rows + static_cast<size_t>(w) * rows_per_window;
      float s = 0.0f;
      for (int k = 0; k < M; ++k) s = MulAddScalar(w_time[static_cast<size_t>(k) * F + f0], r[k][f0], s);
      acc[static_cast<size_t>(w) * F + f0] = s;
    }
  }
}

void SvdfStripImpl(const float* tf16, int M, const float* strip, int width, int first_row,
                   int hop, int count, float* acc) {
  for (int w0 = 0; w0 < count; w0 += kWindows) {
    const int n = MinInt(kWindows, count - w0);
    const float* r[kWindows];
    KWS_UNROLL for (int i = 0; i < kWindows; ++i)
      r[i] = strip + static_cast<size_t>(first_row + (w0 + MinInt(i, n - 1)) * hop) * width;
    Vec a[kWindows][kVecPerPanel];
    KWS_UNROLL for (int i = 0; i < kWindows; ++i)
      KWS_UNROLL for (int v = 0; v < kVecPerPanel; ++v) a[i][v] = Zero();
    for (int k = 0; k < M; ++k) {
      Vec t[kVecPerPanel];
      KWS_UNROLL for (int v = 0; v < kVecPerPanel; ++v) t[v] = Load(tf16 + k * 16 + v * kWidth);
      const size_t off = static_cast<size_t>(k) * width;
      KWS_UNROLL for (int i = 0; i < kWindows; ++i)
        KWS_UNROLL for (int v = 0; v < kVecPerPanel; ++v)
          a[i][v] = MulAdd(t[v], Load(r[i] + off + v * kWidth), a[i][v]);
    }
    for (int i = 0; i < n; ++i)
      KWS_UNROLL for (int v = 0; v < kVecPerPanel; ++v)
        Store(acc + static_cast<size_t>(w0 + i) * 16 + v * kWidth, a[i][v]);
  }
}

// G vectors of channels [c, c + G * kWidth).
template <int G>
static inline void SumPixelsBlock(const float* const* rows, int num_rows, int pixels, int C,
                                  int c, float* out) {
  Vec acc[G];
  KWS_UNROLL for (int g = 0; g < G; ++g) acc[g] = Zero();
  for (int r = 0; r < num_rows; ++r) {
    const float* src = rows[r] + c;
    for (int p = 0; p < pixels; ++p, src += C)
      KWS_UNROLL for (int g = 0; g < G; ++g) acc[g] = Add(acc[g], Load(src + g * kWidth));
  }
  KWS_UNROLL for (int g = 0; g < G; ++g) Store(out + c + g * kWidth, acc[g]);
}

void SumPixelsImpl(const float* const* rows, int num_rows, int pixels, int C, float* out) {
  int c = 0;
  for (; c + 4 * kWidth <= C; c += 4 * kWidth)
    SumPixelsBlock<4>(rows, num_rows, pixels, C, c, out);
  for (; c + kWidth <= C; c += kWidth) SumPixelsBlock<1>(rows, num_rows, pixels, C, c, out);
  for (; c < C; ++c) {
    float acc = 0.0f;
    for (int r = 0; r < num_rows; ++r)
      for (int p = 0; p < pixels; ++p) acc += rows[r][static_cast<size_t>(p) * C + c];
    out[c] = acc;
  }
}

}  // namespace

// The set's MFCC frames: the baseline build unless the set names another.
#ifndef KWS_MFCC_FRAMES
#define KWS_MFCC_FRAMES &MfccFramesBaseline
#endif
#define KWS_KERNEL_TABLE(set_name)                                                     \
  {set_name, &GemmBlockImpl, kTilePanels, &SumPartialsImpl, &DepthwiseRowsImpl,         \
   &SvdfTimeImpl, &SvdfStripImpl, &SumPixelsImpl, KWS_MFCC_FRAMES}

}  // namespace kernels
}  // namespace kws

// clang-format on
#endif  // KWS_SRC_KERNELS_KERNELS_IMPL_H_
