// Batched window scoring (see batch_scorer.h).
//
// Terms. A row value is a tensor whose axis 0 is time (a "row" per time step); its
// stride S is the number of feature frames between consecutive rows. Within a window
// starting at feature frame F, row t of a row value sits at frame F + t * S. A timeline
// of a row value holds its rows for every position of one phase p of a chunk of windows:
// timeline row j sits at frame p + j * S (relative to the chunk's first frame), so a
// window at frame F reads its rows from phase F mod S, starting at row F div S.
//
// A window's row t is "clean" when everything it depends on lies inside the window and
// away from its SAME padding; clean rows are the same in every window that contains them,
// so they are read from the timelines. The other ("edge") rows are recomputed per window
// from the window's own rows, by the same kernels the Stream uses. Only the timeline
// rows some window actually reads are computed.
#include "batch_scorer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

#include "kernels/kernels.h"
#include "kws/error.h"
#include "model_impl.h"

namespace kws {
namespace batch_internal {

using layers::Op;
using layers::OpType;

// Windows whose edge rows are kept at the same time (one GEMM block of windows).
constexpr int kGroup = layers::kGemmRows;
// Feature frames per chunk of windows: at least kChunkFrames, more (up to
// kMaxChunkFrames) while the timelines and per-window vectors stay within kTimelineBytes.
constexpr int kChunkFrames = 1024;
constexpr int kMaxChunkFrames = 8192;
constexpr double kTimelineBytes = 8e6;

// Calls fn(begin, end) for each maximal run of nonzero entries of mask[0, n).
template <typename Fn>
void ForEachRun(const std::vector<char>& mask, int n, Fn fn) {
  for (int b = 0; b < n;) {
    if (!mask[b]) {
      ++b;
      continue;
    }
    int e = b;
    while (e < n && mask[e]) ++e;
    fn(b, e);
    b = e;
  }
}

// The first 64-byte aligned float of `v` (which holds 16 spare floats for this).
inline float* Aligned64(std::vector<float>& v) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((p + 63) & ~uintptr_t{63});
}
inline const float* Aligned64(const std::vector<float>& v) {
  return Aligned64(const_cast<std::vector<float>&>(v));
}

int FloorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int CeilDiv(int a, int b) { return -FloorDiv(-a, b); }

enum class OpKind { kRows, kCollapse, kVector };

struct ValuePlan {
  bool rows = false;           // a row value (else a vector, one per window)
  int stride = 1;              // feature frames per row
  int window_rows = 1;         // rows in one window
  size_t row_floats = 0;       // floats per row (vectors: floats per window)
  int clean_begin = 0, clean_end = 0;  // window rows read from the timelines
  std::vector<char> copy_in;   // clean rows that edge-row computations read
  std::vector<char> read_by_collapse;  // clean rows a collapsing op reads
  bool has_edges = false;      // some rows are recomputed per window
  bool window_buffer = false;  // needs a per-window tensor (edges or copied-in rows)
  bool in_strips = false;      // an SVDF feature filter's output: no timeline kept
  int timeline_rows = 0;       // rows per phase timeline
  std::vector<int> phases;     // phases some window of a chunk uses
  bool matrix = false;         // vector value stored for every window of a chunk
};

struct OpPlan {
  OpKind kind = OpKind::kRows;
  std::vector<Op> timeline_ops;  // row ops: variant for input offset q in [0, time_stride)
  int fused_dense = -1;          // flatten: the dense op computed straight from its rows
  bool fused = false;            // dense computed by its flatten
  bool all_clean = false;        // collapsing op that reads only clean rows
  // SVDF fusion: the time filter (svdf_feature >= 0) reads its feature filter's outputs
  // from a strip computed a few channel panels at a time (feeds_svdf: no timeline).
  int svdf_feature = -1;
  bool feeds_svdf = false;
  std::vector<float> tf16;       // time filter by 16-channel block: [block][k][16],
                                 // from its first 64-byte aligned float
  // Row-partials convolution with edge rows: a timeline of kernel-row partial sums per
  // input row ([dy][row][output row floats]), from which clean rows and the shared part
  // of edge rows are summed; partials of a window's own input rows are computed fresh
  // (fresh_runs[dy]: runs [r0, r1) of window input rows some edge row reads with dy).
  bool partials = false;
  std::vector<layers::PackedMatrix> kernel_rows;
  std::vector<std::vector<std::pair<int, int>>> fresh_runs;
};

struct Scratch {
  std::vector<std::vector<std::vector<float>>> timelines;  // [value][phase]
  std::vector<std::vector<std::vector<char>>> needed;      // [value][phase]
  std::vector<std::vector<std::vector<float>>> windows;    // [slot][value]
  std::vector<std::vector<float>> matrices;                // [value] chunk x floats
  std::vector<const float*> pointers;
  std::vector<const float*> inputs;
  std::vector<float> aux;
  std::vector<float> svdf_acc;
  std::vector<const float*> svdf_rows;
  std::vector<float> strip;
  std::vector<std::vector<std::vector<float>>> partials;   // [value][phase]
  std::vector<float> fresh;                                // [dy][window row][floats]
  std::vector<float> padded;
  std::vector<const float*> row_ptrs;
  std::vector<const float*> parts;
};

// Input rows per ConvRowPartials call on a timeline.
constexpr int kPartialRowsBlock = 32;

// Channel panels (16 channels each) of an SVDF feature filter computed per strip.
constexpr int kSvdfPanels = 2;

void SvdfUnits(const Op& op, const float* acc_all, int count, float* out, size_t out_stride);

// Writes out[c] for each channel block: the SVDF time filter of `count` windows whose M
// memory rows are `rows[w * M + k]`, accumulated over k in increasing order with fused
// multiply-adds, as layers::ComputeAll does for one window; then sums each unit's rank
// filters, adds the bias and applies the activation.
void SvdfTimeWindows(const Op& op, const float* const* rows, int count, float* acc,
                     float* out, size_t out_stride) {
  kernels::Active().svdf_time(op.weights.data(), rows, count, op.memory_size, op.in_dims[1],
                              acc);
  SvdfUnits(op, acc, count, out, out_stride);
}

// The SVDF time filter of 16 channels for `count` windows whose memory rows are rows
// first_row + w * hop + k (k < M) of `strip` (row stride `width` floats): the same sums
// as SvdfTimeWindows, from a contiguous strip of feature-filter outputs. `tf16` holds
// the 16 channels' time filter, M rows of 16. The 16 channels are units unit0 ... of
// rank op.rank (16 % rank == 0): writes those units of window w to out + w * out_stride.
void SvdfStripWindows(const float* tf16, int M, const float* strip, int width, int first_row,
                      int hop, int count, const Op& op, int unit0, float* out,
                      size_t out_stride) {
  const int units = 16 / op.rank;
  // One window's 16 accumulators -> its units unit0 .. unit0 + units (as SvdfUnits).
  auto finish = [&](const float* a, float* o) {
    for (int j = 0; j < units; ++j) {
      float sum = 0.0f;
      for (int r = 0; r < op.rank; ++r) sum += a[j * op.rank + r];
      const float v = op.bias.empty() ? sum : sum + op.bias[unit0 + j];
      o[unit0 + j] = op.activation == layers::Activation::kRelu ? (v > 0.0f ? v : 0.0f) : v;
    }
  };
  float tile[kGroup * 16];
  for (int w0 = 0; w0 < count; w0 += kGroup) {
    const int n = std::min(kGroup, count - w0);
    kernels::Active().svdf_strip(tf16, M, strip, width, first_row + w0 * hop, hop, n, tile);
    for (int k = 0; k < n; ++k) finish(tile + k * 16, out + static_cast<size_t>(w0 + k) * out_stride);
  }
}

// Sums each unit's rank filters of `count` windows' accumulators (F floats each), adds
// the bias and applies the activation, as layers::ComputeAll does.
void SvdfUnits(const Op& op, const float* acc_all, int count, float* out, size_t out_stride) {
  const int F = op.in_dims[1];
  for (int w = 0; w < count; ++w) {
    const float* a = acc_all + static_cast<size_t>(w) * F;
    float* o = out + static_cast<size_t>(w) * out_stride;
    for (int u = 0; u < op.units; ++u) {
      float sum = 0.0f;
      for (int r = 0; r < op.rank; ++r) sum += a[u * op.rank + r];
      const float v = op.bias.empty() ? sum : sum + op.bias[u];
      o[u] = op.activation == layers::Activation::kRelu ? (v > 0.0f ? v : 0.0f) : v;
    }
  }
}

// A dense layer on `count` vectors (rows of `in`, K floats each) into rows of `out`:
// weight panels outermost so a few stay in cache while every window streams past.
void DenseWindows(const Op& op, const float* in, int count, float* out, const float** ptrs) {
  const int K = op.packed.k, N = op.packed.n;
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
  const int per_pass = std::max(1, static_cast<int>((256 << 10) / (static_cast<size_t>(K) * 64)));
  for (int pb = 0; pb < op.packed.panels; pb += per_pass) {
    const int pe = std::min(op.packed.panels, pb + per_pass);
    for (int r0 = 0; r0 < count; r0 += layers::kGemmRows) {
      const int rows = std::min(layers::kGemmRows, count - r0);
      for (int i = 0; i < rows; ++i) ptrs[i] = in + static_cast<size_t>(r0 + i) * K;
      layers::GemmBlock(ptrs, rows, 1, K, op.packed, bias, op.activation,
                        out + static_cast<size_t>(r0) * N, N, pb, pe);
    }
  }
}

}  // namespace batch_internal

using namespace batch_internal;  // NOLINT: this file's own helpers

struct BatchScorer::Plan {
  std::shared_ptr<const Model> model;
  const Model::Impl* m = nullptr;
  int hop_frames = 1;
  int chunk_windows = 1;
  int chunk_frames = 0;  // feature frames of a full chunk
  std::vector<ValuePlan> values;
  std::vector<OpPlan> ops;
  size_t max_pointers = 1, max_aux = 1;
  std::string description;

  // Builds the plan; returns an empty string, or why the model cannot be batched.
  std::string Build();
  void ScoreChunk(const float* samples, size_t n, size_t first_window, int count,
                  float* scores, Scratch& s) const;
  void SvdfFused(size_t i, int count, Scratch& s) const;
  void PartialTimelines(size_t i, Scratch& s) const;
  void PartialEdgeRows(size_t i, int slot, int frame, Scratch& s) const;
  const float* Row(const Scratch& s, int v, int slot, int frame, int t) const {
    const ValuePlan& vp = values[v];
    if (t >= vp.clean_begin && t < vp.clean_end) {
      const int phase = frame % vp.stride, base = frame / vp.stride;
      return s.timelines[v][phase].data() + static_cast<size_t>(base + t) * vp.row_floats;
    }
    return s.windows[slot][v].data() + static_cast<size_t>(t) * vp.row_floats;
  }
};

std::string BatchScorer::Plan::Build() {
  const Model::Impl& mi = *m;
  const size_t num_values = mi.value_sizes.size();
  values.assign(num_values, ValuePlan());
  ops.assign(mi.ops.size(), OpPlan());
  const int T = mi.num_frames;
  {
    ValuePlan& v0 = values[0];
    v0.rows = true;
    v0.window_rows = T;
    v0.row_floats = static_cast<size_t>(mi.num_coefficients);
    v0.clean_begin = 0;
    v0.clean_end = T;
  }
  std::vector<int> consumers(num_values, 0);
  for (const Op& op : mi.ops)
    for (int v : op.inputs) ++consumers[v];

  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    const int out = static_cast<int>(i) + 1;
    ValuePlan& o = values[out];
    const std::string where = "layer '" + op.name + "' (" + op.type_name + ")";
    bool rows_in = true, vectors_in = true;
    for (int v : op.inputs) (values[v].rows ? vectors_in : rows_in) = false;
    if (!rows_in && !vectors_in) return where + " mixes time rows and vectors";
    if (op.row_structured) {
      if (!rows_in) return where + " has time rows after a collapsing layer";
      const int stride_in = values[op.inputs[0]].stride;
      int clean_begin = values[op.inputs[0]].clean_begin;
      int clean_end = values[op.inputs[0]].clean_end;
      for (int v : op.inputs) {
        if (values[v].stride != stride_in) return where + " adds rows of different strides";
        clean_begin = std::max(clean_begin, values[v].clean_begin);
        clean_end = std::min(clean_end, values[v].clean_end);
      }
      o.rows = true;
      o.stride = stride_in * op.time_stride;
      o.window_rows = op.out_rows();
      o.row_floats = mi.value_sizes[out] / o.window_rows;
      if (clean_end > clean_begin) {
        o.clean_begin = std::max(0, CeilDiv(clean_begin + op.time_pad, op.time_stride));
        o.clean_end = std::min(o.window_rows, FloorDiv(clean_end + op.time_pad - op.time_kernel,
                                                       op.time_stride) + 1);
      }
      if (o.clean_end <= o.clean_begin) o.clean_begin = o.clean_end = 0;
      o.has_edges = o.clean_begin > 0 || o.clean_end < o.window_rows;
      // The rows that edge-row computations read from each input.
      for (int t = 0; t < o.window_rows; ++t) {
        if (t >= o.clean_begin && t < o.clean_end) continue;
        for (int dy = 0; dy < op.time_kernel; ++dy) {
          const int r = t * op.time_stride - op.time_pad + dy;
          for (int v : op.inputs) {
            ValuePlan& in = values[v];
            if (r < in.clean_begin || r >= in.clean_end) continue;
            if (in.copy_in.empty()) in.copy_in.assign(in.window_rows, 0);
            in.copy_in[r] = 1;
          }
        }
      }
      ops[i].kind = OpKind::kRows;
      continue;
    }
    if (rows_in) {
      ValuePlan& in = values[op.inputs[0]];
      if (op.out_dims.size() != 1) return where + " reshapes time rows into another time axis";
      int r0 = 0, r1 = in.window_rows;
      switch (op.type) {
        case OpType::kFlatten:
        case OpType::kReshape:
        case OpType::kGlobalAvgPool2D:
          break;
        case OpType::kSvdfTime:
          r0 = in.window_rows - op.memory_size;
          break;
        default:
          return where + " collapses time rows in a way this planner does not know";
      }
      ops[i].kind = OpKind::kCollapse;
      ops[i].all_clean = r0 >= in.clean_begin && r1 <= in.clean_end;
      for (int t = r0; t < r1; ++t) {
        if (t < in.clean_begin || t >= in.clean_end) continue;
        if (in.read_by_collapse.empty()) in.read_by_collapse.assign(in.window_rows, 0);
        in.read_by_collapse[t] = 1;
      }
      o.row_floats = mi.value_sizes[out];
      o.matrix = true;
      continue;
    }
    switch (op.type) {
      case OpType::kDense:
      case OpType::kScaleShift:
      case OpType::kRelu:
      case OpType::kAdd:
      case OpType::kFlatten:
      case OpType::kReshape:
        break;
      default:
        return where + " on vectors is not one this planner knows";
    }
    ops[i].kind = OpKind::kVector;
    o.row_floats = mi.value_sizes[out];
    o.matrix = true;
  }
  // A flatten (or collapsing reshape) whose only reader is a dense layer: the dense
  // layer reads the rows in place (one GEMM segment per row), nothing is copied.
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    const int out = static_cast<int>(i) + 1;
    if (ops[i].kind != OpKind::kCollapse) continue;
    if (op.type != OpType::kFlatten && op.type != OpType::kReshape) continue;
    if (consumers[out] != 1 || out + 1 == static_cast<int>(num_values)) continue;
    for (size_t j = i + 1; j < mi.ops.size(); ++j) {
      if (mi.ops[j].inputs[0] == out && mi.ops[j].type == OpType::kDense &&
          mi.ops[j].inputs.size() == 1) {
        ops[i].fused_dense = static_cast<int>(j);
        ops[j].fused = true;
        values[out].matrix = false;
      }
    }
  }

  // An SVDF whose feature filter (a per-row dense on stride-1 rows) feeds nothing else:
  // computed together, channel panel by channel panel (no feature-filter timeline).
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    if (ops[i].kind != OpKind::kCollapse || op.type != OpType::kSvdfTime || !ops[i].all_clean)
      continue;
    const int u = op.inputs[0], a = u - 1;
    const int F = op.in_dims[1], M = op.memory_size;
    if (a < 0 || ops[a].kind != OpKind::kRows || mi.ops[a].type != OpType::kDense) continue;
    if (consumers[u] != 1 || values[u].stride != 1 || F % 16 != 0 || 16 % op.rank != 0 ||
        mi.ops[a].packed.n != F || values[mi.ops[a].inputs[0]].stride != 1 ||
        mi.ops[a].inputs.size() != 1)
      continue;
    ops[i].svdf_feature = a;
    ops[a].feeds_svdf = true;
    values[u].in_strips = true;
    ops[i].tf16.assign(static_cast<size_t>(F) * M + 16, 0.0f);
    float* tf16 = Aligned64(ops[i].tf16);
    for (int b = 0; b < F / 16; ++b)
      for (int k = 0; k < M; ++k)
        for (int c = 0; c < 16; ++c)
          tf16[(static_cast<size_t>(b) * M + k) * 16 + c] =
              op.weights[static_cast<size_t>(k) * F + b * 16 + c];
  }

  // Convolutions with row partials whose windows have edge rows: partial-sum timelines.
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    const ValuePlan& o = values[i + 1];
    if (ops[i].kind != OpKind::kRows || op.type != OpType::kConv2D || !op.row_partials ||
        !o.has_edges || op.time_stride != 1 || op.inputs.size() != 1)
      continue;
    const ValuePlan& in = values[op.inputs[0]];
    OpPlan& pl = ops[i];
    pl.partials = true;
    for (int dy = 0; dy < op.kh; ++dy) pl.kernel_rows.push_back(layers::KernelRow(op, dy));
    pl.fresh_runs.assign(op.kh, {});
    for (int dy = 0; dy < op.kh; ++dy) {
      std::vector<char> need(in.window_rows, 0);
      for (int t = 0; t < o.window_rows; ++t) {
        if (t >= o.clean_begin && t < o.clean_end) continue;
        const int r = t - op.time_pad + dy;
        if (r < 0 || r >= in.window_rows || (r >= in.clean_begin && r < in.clean_end)) continue;
        need[r] = 1;
      }
      ForEachRun(need, in.window_rows,
                 [&](int r0, int r1) { pl.fresh_runs[dy].push_back({r0, r1}); });
    }
  }

  // Chunks of windows: each recomputes one window of frames at its start, so chunks are
  // long, within a memory budget (about kTimelineBytes of timelines and vectors).
  const int h = hop_frames;
  double bytes_per_frame = 0;
  for (size_t i = 0; i < mi.ops.size(); ++i)
    if (ops[i].partials)
      bytes_per_frame += static_cast<double>(mi.ops[i].kh) * values[i + 1].row_floats *
                         sizeof(float);
  for (size_t v = 0; v < num_values; ++v) {
    if (values[v].rows && !values[v].in_strips)
      bytes_per_frame += static_cast<double>(values[v].row_floats) * sizeof(float);
    if (values[v].matrix)  // one vector per window, a window every h frames
      bytes_per_frame += static_cast<double>(values[v].row_floats) * sizeof(float) / h;
  }
  const int frames_budget = static_cast<int>(std::min<double>(
      kMaxChunkFrames, std::max<double>(kChunkFrames, kTimelineBytes / bytes_per_frame)));
  chunk_windows = std::max(1, (frames_budget - T) / h + 1);
  chunk_frames = (chunk_windows - 1) * h + T;
  for (size_t v = 0; v < num_values; ++v) {
    ValuePlan& vp = values[v];
    if (!vp.rows) continue;
    vp.window_buffer = vp.has_edges || !vp.copy_in.empty();
    vp.timeline_rows = (chunk_frames + vp.stride - 1) / vp.stride + 1;
    std::vector<char> used(vp.stride, 0);
    for (int w = 0; w < chunk_windows && w < vp.stride; ++w) used[(w * h) % vp.stride] = 1;
    for (int p = 0; p < vp.stride; ++p)
      if (used[p]) vp.phases.push_back(p);
  }
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    max_pointers = std::max(max_pointers, layers::ScratchPointers(op));
    max_aux = std::max(max_aux, layers::AuxFloats(op));
    if (ops[i].kind == OpKind::kRows) {
      for (int q = 0; q < op.time_stride; ++q) {
        Op t = op;
        t.pad_top -= q;
        t.time_pad -= q;
        t.in_dims[0] = values[op.inputs[0]].timeline_rows;
        t.out_dims[0] = values[i + 1].timeline_rows;
        max_aux = std::max(max_aux, layers::AuxFloats(t));
        ops[i].timeline_ops.push_back(std::move(t));
      }
    }
    if (ops[i].fused_dense >= 0) {
      const ValuePlan& in = values[op.inputs[0]];
      max_pointers = std::max(max_pointers,
                              static_cast<size_t>(in.window_rows) * layers::kGemmRows);
      if (static_cast<size_t>(mi.ops[ops[i].fused_dense].packed.k) !=
          in.row_floats * in.window_rows)
        return "layer '" + op.name + "' flattens a size its dense layer does not take";
    }
  }

  // What is batched, and how much row-layer work stays per window.
  int64_t row_flops = 0, edge_flops = 0;
  int row_ops = 0;
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (ops[i].kind != OpKind::kRows) continue;
    const ValuePlan& o = values[i + 1];
    ++row_ops;
    row_flops += mi.ops[i].flops;
    edge_flops += mi.ops[i].flops / o.window_rows *
                  (o.window_rows - (o.clean_end - o.clean_begin));
  }
  std::ostringstream d;
  d << "batched: MFCC once per frame";
  if (row_ops > 0)
    d << ", " << row_ops << " row layer(s) once per frame (timelines), edge rows per window "
      << (row_flops > 0 ? 100.0 * static_cast<double>(edge_flops) / row_flops : 0.0)
      << "% of their window FLOPs";
  int partial_ops = 0;
  for (const OpPlan& op : ops) partial_ops += op.partials ? 1 : 0;
  if (partial_ops > 0)
    d << ", " << partial_ops << " convolution(s) by kernel-row partial sums (edge rows sum "
      << "the shared partials of clean rows)";
  d << ", collapsing and dense layers over " << chunk_windows << " windows at a time";
  description = d.str();
  return "";
}

void BatchScorer::Plan::ScoreChunk(const float* samples, size_t n, size_t first_window,
                                   int count, float* scores, Scratch& s) const {
  const Model::Impl& mi = *m;
  const int h = hop_frames;
  const int frames = (count - 1) * h + mi.num_frames;
  const size_t stride_samples = static_cast<size_t>(mi.frame_stride);
  const size_t start = first_window * static_cast<size_t>(h) * stride_samples;
  const size_t need = static_cast<size_t>(frames - 1) * stride_samples +
                      static_cast<size_t>(mi.frontend_options.window_size_samples());
  if (start + need > n)
    throw Error("BatchScorer: windows past the end of the samples (internal error)");
  mi.frontend->ComputeFrames(samples + start, static_cast<size_t>(frames),
                             s.timelines[0][0].data());

  // Which timeline rows are read: by collapsing ops and edge rows (window by window),
  // then, backwards through the row ops, every row those rows depend on.
  for (size_t v = 0; v < values.size(); ++v)
    for (auto& mask : s.needed[v]) std::fill(mask.begin(), mask.end(), 0);
  for (size_t v = 0; v < values.size(); ++v) {
    const ValuePlan& vp = values[v];
    if (!vp.rows) continue;
    for (int w = 0; w < count; ++w) {
      const int frame = w * h;
      char* mask = s.needed[v][frame % vp.stride].data() + frame / vp.stride;
      for (int t = vp.clean_begin; t < vp.clean_end; ++t)
        if ((!vp.copy_in.empty() && vp.copy_in[t]) ||
            (!vp.read_by_collapse.empty() && vp.read_by_collapse[t]))
          mask[t] = 1;
    }
  }
  for (size_t i = mi.ops.size(); i-- > 0;) {
    if (ops[i].kind != OpKind::kRows) continue;
    const Op& op = mi.ops[i];
    const ValuePlan& o = values[i + 1];
    for (int p_out : o.phases) {
      const std::vector<char>& mask = s.needed[i + 1][p_out];
      for (int v : op.inputs) {
        const ValuePlan& in = values[v];
        const int q = p_out / in.stride;
        std::vector<char>& in_mask = s.needed[v][p_out % in.stride];
        for (int j = 0; j < o.timeline_rows; ++j) {
          if (!mask[j]) continue;
          const int r0 = q + j * op.time_stride - op.time_pad;
          for (int r = std::max(0, r0); r < std::min(in.timeline_rows, r0 + op.time_kernel); ++r)
            in_mask[r] = 1;
        }
      }
    }
  }
  // The timelines, op by op, in runs of needed rows.
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (ops[i].kind != OpKind::kRows || ops[i].feeds_svdf) continue;
    if (ops[i].partials) {
      PartialTimelines(i, s);
      continue;
    }
    const Op& op = mi.ops[i];
    const ValuePlan& o = values[i + 1];
    for (int p_out : o.phases) {
      const std::vector<char>& mask = s.needed[i + 1][p_out];
      s.inputs.clear();
      int q = 0;
      for (int v : op.inputs) {
        q = p_out / values[v].stride;
        s.inputs.push_back(s.timelines[v][p_out % values[v].stride].data());
      }
      const Op& top = ops[i].timeline_ops[q];
      float* out = s.timelines[i + 1][p_out].data();
      ForEachRun(mask, o.timeline_rows, [&](int j0, int j1) {
        layers::ComputeRows(top, s.inputs, out, j0, j1, mi.zeros.data(), s.pointers.data(),
                            s.aux.data());
      });
    }
  }

  // Windows in groups: edge rows, then the collapsing ops that read them.
  for (int g0 = 0; g0 < count; g0 += kGroup) {
    const int gn = std::min(kGroup, count - g0);
    for (int k = 0; k < gn; ++k) {
      const int frame = (g0 + k) * h;
      for (size_t v = 0; v < values.size(); ++v) {
        const ValuePlan& vp = values[v];
        if (!vp.window_buffer || vp.copy_in.empty()) continue;
        float* dst = s.windows[k][v].data();
        for (int t = 0; t < vp.window_rows; ++t)
          if (vp.copy_in[t])
            std::memcpy(dst + static_cast<size_t>(t) * vp.row_floats, Row(s, v, k, frame, t),
                        vp.row_floats * sizeof(float));
      }
      for (size_t i = 0; i < mi.ops.size(); ++i) {
        if (ops[i].kind != OpKind::kRows || !values[i + 1].has_edges) continue;
        const Op& op = mi.ops[i];
        const ValuePlan& o = values[i + 1];
        if (ops[i].partials) {
          PartialEdgeRows(i, k, frame, s);
          continue;
        }
        s.inputs.clear();
        for (int v : op.inputs) s.inputs.push_back(s.windows[k][v].data());
        float* out = s.windows[k][i + 1].data();
        layers::ComputeRows(op, s.inputs, out, 0, o.clean_begin, mi.zeros.data(),
                            s.pointers.data(), s.aux.data());
        layers::ComputeRows(op, s.inputs, out, std::max(o.clean_begin, o.clean_end),
                            o.window_rows, mi.zeros.data(), s.pointers.data(), s.aux.data());
      }
    }
    for (size_t i = 0; i < mi.ops.size(); ++i) {
      if (ops[i].kind != OpKind::kCollapse) continue;
      const Op& op = mi.ops[i];
      const int u = op.inputs[0];
      const ValuePlan& in = values[u];
      if (ops[i].fused_dense >= 0) {
        const Op& dense = mi.ops[ops[i].fused_dense];
        const float** ptrs = s.pointers.data();
        for (int k = 0; k < gn; ++k)
          for (int t = 0; t < in.window_rows; ++t)
            ptrs[t * layers::kGemmRows + k] = Row(s, u, k, (g0 + k) * h, t);
        const ValuePlan& dv = values[ops[i].fused_dense + 1];
        layers::GemmBlock(ptrs, gn, in.window_rows, static_cast<int>(in.row_floats),
                          dense.packed, dense.bias.empty() ? nullptr : dense.bias.data(),
                          dense.activation,
                          s.matrices[ops[i].fused_dense + 1].data() + g0 * dv.row_floats,
                          static_cast<int>(dv.row_floats), 0, dense.packed.panels);
        continue;
      }
      if (op.type == OpType::kSvdfTime && ops[i].all_clean) continue;  // per chunk, below
      const ValuePlan& o = values[i + 1];
      for (int k = 0; k < gn; ++k) {
        const int frame = (g0 + k) * h;
        float* dst = s.matrices[i + 1].data() + static_cast<size_t>(g0 + k) * o.row_floats;
        if (op.type == OpType::kSvdfTime) {
          const float** rows = s.svdf_rows.data();
          for (int t = 0; t < op.memory_size; ++t)
            rows[t] = Row(s, u, k, frame, in.window_rows - op.memory_size + t);
          SvdfTimeWindows(op, rows, 1, s.svdf_acc.data(), dst, o.row_floats);
        } else if (op.type == OpType::kGlobalAvgPool2D) {
          const int W = op.in_dims[1], C = op.in_dims[2];
          for (int c = 0; c < C; ++c) dst[c] = 0.0f;
          for (int t = 0; t < in.window_rows; ++t) {
            const float* row = Row(s, u, k, frame, t);
            for (int p = 0; p < W; ++p)
              for (int c = 0; c < C; ++c) dst[c] += row[static_cast<size_t>(p) * C + c];
          }
          const float inv = 1.0f / static_cast<float>(static_cast<size_t>(in.window_rows) * W);
          for (int c = 0; c < C; ++c) dst[c] *= inv;
        } else {  // flatten / reshape: the rows in order
          for (int t = 0; t < in.window_rows; ++t)
            std::memcpy(dst + static_cast<size_t>(t) * in.row_floats, Row(s, u, k, frame, t),
                        in.row_floats * sizeof(float));
        }
      }
    }
  }
  // SVDF time filters over clean rows: all windows of the chunk together.
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    if (ops[i].kind != OpKind::kCollapse || op.type != OpType::kSvdfTime || !ops[i].all_clean)
      continue;
    const int u = op.inputs[0];
    const ValuePlan& in = values[u];
    if (ops[i].svdf_feature >= 0) {
      SvdfFused(i, count, s);
      continue;
    }
    const float** rows = s.svdf_rows.data();
    for (int w = 0; w < count; ++w)
      for (int t = 0; t < op.memory_size; ++t)
        rows[static_cast<size_t>(w) * op.memory_size + t] =
            Row(s, u, 0, w * h, in.window_rows - op.memory_size + t);
    SvdfTimeWindows(op, rows, count, s.svdf_acc.data(), s.matrices[i + 1].data(),
                    values[i + 1].row_floats);
  }
  // Vector layers over all windows of the chunk.
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (ops[i].kind != OpKind::kVector || ops[i].fused) continue;
    const Op& op = mi.ops[i];
    const ValuePlan& o = values[i + 1];
    if (op.type == OpType::kDense) {
      DenseWindows(op, s.matrices[op.inputs[0]].data(), count, s.matrices[i + 1].data(),
                   s.pointers.data());
      continue;
    }
    if (op.type == OpType::kRelu) {  // as ComputeAll, without its per-element size call
      const float* in = s.matrices[op.inputs[0]].data();
      float* out = s.matrices[i + 1].data();
      for (size_t j = 0, e = static_cast<size_t>(count) * o.row_floats; j < e; ++j)
        out[j] = in[j] > 0.0f ? in[j] : 0.0f;
      continue;
    }
    for (int w = 0; w < count; ++w) {
      s.inputs.clear();
      for (int v : op.inputs)
        s.inputs.push_back(s.matrices[v].data() + static_cast<size_t>(w) * values[v].row_floats);
      layers::ComputeAll(op, s.inputs, s.matrices[i + 1].data() + static_cast<size_t>(w) * o.row_floats,
                         mi.zeros.data(), s.pointers.data(), s.aux.data());
    }
  }
  const size_t labels = mi.labels.size();
  const std::vector<float>& logits = s.matrices.back();
  for (int w = 0; w < count; ++w) {
    float* dst = scores + static_cast<size_t>(w) * labels;
    std::copy(logits.begin() + w * labels, logits.begin() + (w + 1) * labels, dst);
    layers::Softmax(dst, static_cast<int>(labels));
  }
}

// The SVDF time filter of op i and its feature filter, fused: for each group of channel
// panels, the feature filter of every frame the chunk's windows read goes into a
// contiguous strip, and the time filter of all windows reads it from there.
void BatchScorer::Plan::SvdfFused(size_t i, int count, Scratch& s) const {
  const Model::Impl& mi = *m;
  const Op& op = mi.ops[i];
  const int u = op.inputs[0];
  const Op& ff = mi.ops[ops[i].svdf_feature];
  const ValuePlan& fv = values[u];
  const int F = op.in_dims[1], M = op.memory_size, K = ff.packed.k;
  const std::vector<char>& mask = s.needed[u][0];
  int lo = 0, hi = fv.timeline_rows;
  while (lo < hi && !mask[lo]) ++lo;
  while (hi > lo && !mask[hi - 1]) --hi;
  const float* in = s.timelines[ff.inputs[0]][0].data();
  const float* bias = ff.bias.empty() ? nullptr : ff.bias.data();
  const float** ptrs = s.pointers.data();
  float* base = Aligned64(s.strip) + F;  // strip row r holds feature-filter row lo + r
  for (int pb = 0; pb < ff.packed.panels; pb += kSvdfPanels) {
    const int pe = std::min(ff.packed.panels, pb + kSvdfPanels);
    const int width = (pe - pb) * 16;
    float* c = base - pb * 16;  // GemmBlock writes column p * 16 of row r at c + r * width
    for (int r0 = lo; r0 < hi; r0 += layers::kGemmRows) {
      const int rows = std::min(layers::kGemmRows, hi - r0);
      for (int k = 0; k < rows; ++k) ptrs[k] = in + static_cast<size_t>(r0 + k) * K;
      layers::GemmBlock(ptrs, rows, 1, K, ff.packed, bias, ff.activation,
                        c + static_cast<size_t>(r0 - lo) * width, width, pb, pe);
    }
    for (int b = pb; b < pe; ++b)
      SvdfStripWindows(Aligned64(ops[i].tf16) + static_cast<size_t>(b) * M * 16, M,
                       base + (b - pb) * 16, width, fv.window_rows - M - lo, hop_frames, count,
                       op, b * 16 / op.rank, s.matrices[i + 1].data(), values[i + 1].row_floats);
  }
}

// Op i (a row-partials convolution, time stride 1): for every phase, the kernel-row
// partial sums of every needed input row, then its needed output rows as their sums.
void BatchScorer::Plan::PartialTimelines(size_t i, Scratch& s) const {
  const Op& op = m->ops[i];
  const int v = op.inputs[0];
  const ValuePlan& in = values[v];
  const ValuePlan& o = values[i + 1];
  const size_t rf = o.row_floats;
  const size_t plane = static_cast<size_t>(in.timeline_rows) * rf;
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
  const int channels = op.out_dims[2];
  for (int p : o.phases) {
    const std::vector<char>& in_mask = s.needed[v][p];
    const float* in_line = s.timelines[v][p].data();
    float* pt = s.partials[i + 1][p].data();
    ForEachRun(in_mask, in.timeline_rows, [&](int b, int e) {
      for (int r = b; r < e; r += kPartialRowsBlock) {  // blocks of kPartialRowsBlock rows
        const int r1 = std::min(e, r + kPartialRowsBlock);
        for (int j = r; j < r1; ++j)
          s.row_ptrs[j - r] = in_line + static_cast<size_t>(j) * in.row_floats;
        layers::ConvRowPartials(op, ops[i].kernel_rows, 0, op.kh, s.row_ptrs.data(), r1 - r,
                                pt + static_cast<size_t>(r) * rf, plane, s.pointers.data(),
                                s.padded.data());
      }
    });
    const std::vector<char>& mask = s.needed[i + 1][p];
    float* out = s.timelines[i + 1][p].data();
    for (int j = 0; j < o.timeline_rows; ++j) {
      if (!mask[j]) continue;
      int n = 0;
      for (int dy = 0; dy < op.kh; ++dy) {
        const int r = j - op.time_pad + dy;
        if (r < 0 || r >= in.timeline_rows) continue;
        s.parts[n++] = pt + dy * plane + static_cast<size_t>(r) * rf;
      }
      layers::SumPartials(s.parts.data(), n, bias, channels, op.activation,
                          out + static_cast<size_t>(j) * rf, rf);
    }
  }
}

// The edge rows of op i (a row-partials convolution) in window slot `slot` starting at
// feature frame `frame`: partial sums of the window's own input rows computed fresh, the
// others read from the partial timelines, summed in kernel-row order.
void BatchScorer::Plan::PartialEdgeRows(size_t i, int slot, int frame, Scratch& s) const {
  const Op& op = m->ops[i];
  const int v = op.inputs[0];
  const ValuePlan& in = values[v];
  const ValuePlan& o = values[i + 1];
  const size_t rf = o.row_floats;
  const size_t fresh_plane = static_cast<size_t>(in.window_rows) * rf;
  const size_t plane = static_cast<size_t>(in.timeline_rows) * rf;
  const float* window_in = s.windows[slot][v].data();
  for (int dy = 0; dy < op.kh; ++dy) {
    for (const auto& run : ops[i].fresh_runs[dy]) {
      for (int r = run.first; r < run.second; ++r)
        s.row_ptrs[r - run.first] = window_in + static_cast<size_t>(r) * in.row_floats;
      layers::ConvRowPartials(op, ops[i].kernel_rows, dy, dy + 1, s.row_ptrs.data(),
                              run.second - run.first,
                              s.fresh.data() + dy * fresh_plane + static_cast<size_t>(run.first) * rf,
                              fresh_plane, s.pointers.data(), s.padded.data());
    }
  }
  const int phase = frame % o.stride, base = frame / o.stride;
  const float* pt = s.partials[i + 1][phase].data();
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
  float* out = s.windows[slot][i + 1].data();
  for (int t = 0; t < o.window_rows; ++t) {
    if (t >= o.clean_begin && t < o.clean_end) continue;
    int n = 0;
    for (int dy = 0; dy < op.kh; ++dy) {
      const int r = t - op.time_pad + dy;
      if (r < 0 || r >= in.window_rows) continue;
      s.parts[n++] = r >= in.clean_begin && r < in.clean_end
                         ? pt + dy * plane + static_cast<size_t>(base + r) * rf
                         : s.fresh.data() + dy * fresh_plane + static_cast<size_t>(r) * rf;
    }
    layers::SumPartials(s.parts.data(), n, bias, op.out_dims[2], op.activation,
                        out + static_cast<size_t>(t) * rf, rf);
  }
}

BatchScorer::BatchScorer() : plan_(std::make_unique<Plan>()) {}
BatchScorer::~BatchScorer() = default;

std::unique_ptr<const BatchScorer> BatchScorer::Create(std::shared_ptr<const Model> model,
                                                       int hop_frames, std::string* reason) {
  if (!model || hop_frames <= 0) throw InvalidArgument("BatchScorer: no model or bad hop");
  std::unique_ptr<BatchScorer> scorer(new BatchScorer());
  Plan& p = *scorer->plan_;
  p.model = std::move(model);
  p.m = &p.model->impl();
  p.hop_frames = hop_frames;
  std::string why = p.Build();
  if (!why.empty()) {
    if (reason) *reason = why;
    return nullptr;
  }
  return scorer;
}

const std::string& BatchScorer::description() const { return plan_->description; }

void BatchScorer::Score(const float* samples, size_t n, size_t first, size_t last,
                        float* scores) const {
  if (last <= first) return;
  const Plan& p = *plan_;
  const Model::Impl& mi = *p.m;
  Scratch s;
  const size_t num_values = p.values.size();
  s.timelines.resize(num_values);
  s.needed.resize(num_values);
  s.matrices.resize(num_values);
  const int chunk = static_cast<int>(std::min<size_t>(p.chunk_windows, last - first));
  for (size_t v = 0; v < num_values; ++v) {
    const ValuePlan& vp = p.values[v];
    if (vp.rows) {
      s.timelines[v].resize(vp.stride);
      s.needed[v].resize(vp.stride);
      for (int ph : vp.phases) {
        if (!vp.in_strips)
          s.timelines[v][ph].assign(static_cast<size_t>(vp.timeline_rows) * vp.row_floats, 0.0f);
        s.needed[v][ph].assign(vp.timeline_rows, 0);
      }
      if (vp.in_strips)
        s.strip.assign(vp.row_floats + static_cast<size_t>(vp.timeline_rows) * 16 * kSvdfPanels +
                           16, 0.0f);
    } else if (vp.matrix) {
      s.matrices[v].assign(static_cast<size_t>(chunk) * vp.row_floats, 0.0f);
    }
  }
  // Value 0's timeline is the chunk's MFCC frames (phase 0 of stride 1).
  s.timelines[0][0].resize(std::max(s.timelines[0][0].size(),
                                    static_cast<size_t>(p.chunk_frames) * mi.num_coefficients));
  s.windows.resize(kGroup);
  for (int k = 0; k < kGroup; ++k) {
    s.windows[k].resize(num_values);
    for (size_t v = 0; v < num_values; ++v)
      if (p.values[v].window_buffer) s.windows[k][v].assign(mi.value_sizes[v], 0.0f);
  }
  s.pointers.assign(p.max_pointers, nullptr);
  s.aux.assign(p.max_aux, 0.0f);
  size_t svdf_floats = 1, svdf_rows = 1;
  for (const Op& op : mi.ops)
    if (op.type == OpType::kSvdfTime) {
      svdf_floats = std::max(svdf_floats, static_cast<size_t>(chunk) * op.in_dims[1]);
      svdf_rows = std::max(svdf_rows, static_cast<size_t>(chunk) * op.memory_size);
    }
  s.partials.resize(num_values);
  size_t fresh_floats = 0, padded_floats = 0, row_ptrs = 0, parts = 0;
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (!p.ops[i].partials) continue;
    const Op& op = mi.ops[i];
    const ValuePlan& in = p.values[op.inputs[0]];
    const ValuePlan& o = p.values[i + 1];
    s.partials[i + 1].resize(o.stride);
    for (int ph : o.phases)
      s.partials[i + 1][ph].assign(
          static_cast<size_t>(op.kh) * in.timeline_rows * o.row_floats, 0.0f);
    fresh_floats = std::max(fresh_floats,
                            static_cast<size_t>(op.kh) * in.window_rows * o.row_floats);
    padded_floats = std::max(padded_floats,
                             layers::ConvPartialAuxFloats(
                                 op, std::max(kPartialRowsBlock, in.window_rows)));
    row_ptrs = std::max<size_t>(row_ptrs, std::max(kPartialRowsBlock, in.window_rows));
    parts = std::max<size_t>(parts, op.kh);
  }
  s.fresh.assign(fresh_floats, 0.0f);
  s.padded.assign(padded_floats, 0.0f);
  s.row_ptrs.assign(row_ptrs, nullptr);
  s.parts.assign(parts, nullptr);
  s.svdf_acc.assign(svdf_floats, 0.0f);
  s.svdf_rows.assign(svdf_rows, nullptr);
  s.inputs.reserve(4);

  const size_t labels = mi.labels.size();
  for (size_t w = first; w < last; w += chunk) {
    const int count = static_cast<int>(std::min<size_t>(chunk, last - w));
    p.ScoreChunk(samples, n, w, count, scores + (w - first) * labels, s);
  }
}

}  // namespace kws
