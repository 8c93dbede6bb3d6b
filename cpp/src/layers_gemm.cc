// Packed GEMM weights, and the GEMM entry point: the micro-kernels themselves are in
// kernels/ (one per instruction set, chosen at run time).
#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"
#include "layers.h"

namespace kws {
namespace layers {

void PackedMatrix::Pack(const float* w, int k_rows, int n_cols) {
  k = k_rows;
  n = n_cols;
  panels = (n_cols + 15) / 16;
  // A narrow matrix too large for a core's L2 is read from memory on every use: it leaves
  // out its padding. A smaller one keeps whole aligned rows, faster to load from cache.
  const bool narrow =
      n_cols < 16 && static_cast<size_t>(k_rows) * 16 * sizeof(float) > kNarrowPackMinBytes;
  row_floats = narrow ? n_cols : 16;
  // 16 more floats: a 16-float load of the last row stays inside the buffer.
  data.assign(static_cast<size_t>(panels) * k * row_floats + 16, 0.0f);
  for (int p = 0; p < panels; ++p) {
    const int cols = std::min(16, n - p * 16);
    for (int r = 0; r < k; ++r)
      std::memcpy(&data[index(r, p * 16)], w + static_cast<size_t>(r) * n + p * 16,
                  cols * sizeof(float));
  }
}

void GemmBlock(const float** a_ptrs, int rows, int segments, int seg_len, const PackedMatrix& b,
               const float* bias, Activation act, float* c, int ldc, int panel_begin, int panel_end,
               const float* zero_row, bool segment_sums) {
  kernels::PackedView view;
  view.data = b.data.data();
  view.k = b.k;
  view.n = b.n;
  view.panels = b.panels;
  view.row_floats = b.row_floats;
  kernels::Active().gemm_block(a_ptrs, rows, segments, seg_len, view, bias, act, c, ldc,
                               panel_begin, panel_end, zero_row, segment_sums);
}

}  // namespace layers
}  // namespace kws
