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
// away from its SAME padding (ValueRows, computed at load and shared with the Stream);
// clean rows are the same in every window that contains them, so they are read from the
// timelines. The other ("edge") rows are recomputed per window from the window's own
// rows. Every op runs its own compute forms (cpp/src/ops): the row form for timelines
// and edge rows, the windows form for collapsing and vector ops, as the Stream does.
// Only the timeline rows some window actually reads are computed.
#include "batch_scorer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

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

enum class OpKind { kRows, kCollapse, kVector };

// A value as the batch sees it: its ValueRows (rows, stride, clean rows) plus where
// its rows live during a chunk.
struct ValuePlan {
  ValueRows r;                         // from the model (r.step is the stride S)
  std::vector<char> copy_in;           // clean rows that edge-row computations read
  std::vector<char> read_by_collapse;  // clean rows a collapsing op reads
  bool window_buffer = false;          // needs a per-window tensor (edges or copied-in rows)
  bool in_strips = false;              // an SVDF feature filter's output: no timeline kept
  int timeline_rows = 0;               // rows per phase timeline
  std::vector<int> phases;             // phases some window of a chunk uses
  bool matrix = false;                 // vector value stored for every window of a chunk
};

struct OpPlan {
  OpKind kind = OpKind::kRows;
  std::vector<Op> timeline_ops;  // row ops: variant for input offset q in [0, time_stride)
  int fused_dense = -1;          // flatten: the dense op computed straight from its rows
  bool fused = false;            // dense computed by its flatten
  // SVDF fusion: the time filter (svdf_feature >= 0) reads its feature filter's outputs
  // from a strip computed a few channel panels at a time (feeds_svdf: no timeline).
  int svdf_feature = -1;
  bool feeds_svdf = false;
  std::vector<float> tf16;  // time filter by 16-channel block: [block][k][16],
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
  std::vector<std::vector<layers::AlignedFloats>> timelines;  // [value][phase]
  std::vector<std::vector<std::vector<char>>> needed;         // [value][phase]
  std::vector<std::vector<layers::AlignedFloats>> windows;    // [slot][value]
  std::vector<layers::AlignedFloats> matrices;                // [value] chunk x floats
  std::vector<const float*> pointers;
  std::vector<const float*> inputs;
  layers::AlignedFloats aux;
  layers::AlignedFloats svdf_acc;
  std::vector<const float*> window_ptrs;  // windows-form inputs
  std::vector<float> strip;
  std::vector<std::vector<layers::AlignedFloats>> partials;  // [value][phase]
  layers::AlignedFloats fresh;                               // [dy][window row][floats]
  layers::AlignedFloats padded;
  std::vector<const float*> row_ptrs;
  std::vector<const float*> parts;
};

// Input rows per ConvRowPartials call on a timeline.
constexpr int kPartialRowsBlock = 32;

// Channel panels (16 channels each) of an SVDF feature filter computed per strip.
constexpr int kSvdfPanels = 2;

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
  size_t max_pointers = 1, max_aux = 1, max_window_ptrs = 1;
  std::string description;
  bool pays = true;
  std::string estimate;

  // Builds the plan; returns an empty string, or why the model cannot be batched.
  std::string Build();
  void ScoreChunk(const float* samples, size_t n, size_t first_window, int count, float* scores,
                  Scratch& s) const;
  void SvdfFused(size_t i, int count, Scratch& s) const;
  void PartialTimelines(size_t i, Scratch& s) const;
  void PartialEdgeRows(size_t i, int slot, int frame, Scratch& s) const;
  void EstimatePays(double stream_rows, double batch_rows, double other);
  const float* Row(const Scratch& s, int v, int slot, int frame, int t) const {
    const ValuePlan& vp = values[v];
    if (vp.r.clean(t)) {
      const int phase = frame % vp.r.step, base = frame / vp.r.step;
      return s.timelines[v][phase].data() + static_cast<size_t>(base + t) * vp.r.row_floats;
    }
    return s.windows[slot][v].data() + static_cast<size_t>(t) * vp.r.row_floats;
  }
  ops::Scratch OpScratch(Scratch& s) const {
    return ops::Scratch{m->zeros.data(), s.pointers.data(), s.aux.data()};
  }
};

std::string BatchScorer::Plan::Build() {
  const Model::Impl& mi = *m;
  const size_t num_values = mi.value_sizes.size();
  values.assign(num_values, ValuePlan());
  ops.assign(mi.ops.size(), OpPlan());
  for (size_t v = 0; v < num_values; ++v) values[v].r = mi.rows[v];
  const int T = mi.num_frames;
  std::vector<int> consumers(num_values, 0);
  for (const Op& op : mi.ops)
    for (int v : op.inputs) ++consumers[v];

  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    const ops::OpKernel& k = *op.kernel;
    const int out = static_cast<int>(i) + 1;
    ValuePlan& o = values[out];
    const std::string where = "layer '" + op.name + "' (" + op.type_name + ")";
    bool rows_in = true, vectors_in = true;
    for (int v : op.inputs) (values[v].r.rows ? vectors_in : rows_in) = false;
    if (!rows_in && !vectors_in) return where + " mixes time rows and vectors";
    if (op.row_structured) {
      if (!rows_in) return where + " has time rows after a collapsing layer";
      if (!o.r.rows) return where + " adds rows of different strides";
      // The rows that edge-row computations read from each input.
      for (int t = 0; t < o.r.window_rows; ++t) {
        if (o.r.clean(t)) continue;
        for (int dy = 0; dy < op.time_kernel; ++dy) {
          const int r = t * op.time_stride - op.time_pad + dy;
          for (int v : op.inputs) {
            ValuePlan& in = values[v];
            if (!in.r.clean(r)) continue;
            if (in.copy_in.empty()) in.copy_in.assign(in.r.window_rows, 0);
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
      if (!k.CollapsesRows(op))
        return where + " collapses time rows in a way this planner does not know";
      const auto [r0, r1] = k.CollapsedRows(op, in.r.window_rows);
      ops[i].kind = OpKind::kCollapse;
      for (int t = r0; t < r1; ++t) {
        if (!in.r.clean(t)) continue;
        if (in.read_by_collapse.empty()) in.read_by_collapse.assign(in.r.window_rows, 0);
        in.read_by_collapse[t] = 1;
      }
      o.matrix = true;
      continue;
    }
    ops[i].kind = OpKind::kVector;
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

  // An SVDF whose feature filter (a per-row dense on stride-1 rows) feeds nothing else
  // and whose memory rows are all clean: computed together, channel panel by channel
  // panel (no feature-filter timeline).
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    if (ops[i].kind != OpKind::kCollapse || op.type != OpType::kSvdfTime) continue;
    const int u = op.inputs[0], a = u - 1;
    const int F = op.in_dims[1], M = op.memory_size;
    const ValueRows& fr = values[u].r;
    if (!(fr.clean_begin <= fr.window_rows - M && fr.clean_end == fr.window_rows)) continue;
    if (a < 0 || ops[a].kind != OpKind::kRows || mi.ops[a].type != OpType::kDense) continue;
    if (consumers[u] != 1 || fr.step != 1 || F % 16 != 0 || 16 % op.rank != 0 ||
        mi.ops[a].packed.n != F || values[mi.ops[a].inputs[0]].r.step != 1 ||
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
    const ValueRows& o = values[i + 1].r;
    if (ops[i].kind != OpKind::kRows || op.type != OpType::kConv2D || !op.row_partials ||
        !o.has_edges() || op.time_stride != 1 || op.inputs.size() != 1)
      continue;
    const ValueRows& in = values[op.inputs[0]].r;
    OpPlan& pl = ops[i];
    pl.partials = true;
    for (int dy = 0; dy < op.kh; ++dy) pl.kernel_rows.push_back(layers::KernelRow(op, dy));
    pl.fresh_runs.assign(op.kh, {});
    for (int dy = 0; dy < op.kh; ++dy) {
      std::vector<char> need(in.window_rows, 0);
      for (int t = 0; t < o.window_rows; ++t) {
        if (o.clean(t)) continue;
        const int r = t - op.time_pad + dy;
        if (r < 0 || r >= in.window_rows || in.clean(r)) continue;
        need[r] = 1;
      }
      ForEachRun(need, in.window_rows, [&](int r0, int r1) {
        pl.fresh_runs[dy].push_back({r0, r1});
      });
    }
  }

  // Chunks of windows: each recomputes one window of frames at its start, so chunks are
  // long, within a memory budget (about kTimelineBytes of timelines and vectors).
  const int h = hop_frames;
  double bytes_per_frame = 0;
  for (size_t i = 0; i < mi.ops.size(); ++i)
    if (ops[i].partials)
      bytes_per_frame +=
          static_cast<double>(mi.ops[i].kh) * values[i + 1].r.row_floats * sizeof(float);
  for (size_t v = 0; v < num_values; ++v) {
    if (values[v].r.rows && !values[v].in_strips)
      bytes_per_frame += static_cast<double>(values[v].r.row_floats) * sizeof(float);
    if (values[v].matrix)  // one vector per window, a window every h frames
      bytes_per_frame += static_cast<double>(values[v].r.row_floats) * sizeof(float) / h;
  }
  const int frames_budget = static_cast<int>(std::min<double>(
      kMaxChunkFrames, std::max<double>(kChunkFrames, kTimelineBytes / bytes_per_frame)));
  chunk_windows = std::max(1, (frames_budget - T) / h + 1);
  chunk_frames = (chunk_windows - 1) * h + T;
  for (size_t v = 0; v < num_values; ++v) {
    ValuePlan& vp = values[v];
    if (!vp.r.rows) continue;
    vp.window_buffer = vp.r.has_edges() || !vp.copy_in.empty();
    vp.timeline_rows = (chunk_frames + vp.r.step - 1) / vp.r.step + 1;
    // Window w starts at frame w * h, phase (w * h) mod step: the phases repeat every
    // period windows.
    std::vector<char> used(vp.r.step, 0);
    for (int w = 0; w < chunk_windows && w < vp.r.period(h); ++w) used[(w * h) % vp.r.step] = 1;
    for (int p = 0; p < vp.r.step; ++p)
      if (used[p]) vp.phases.push_back(p);
  }
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    const Op& op = mi.ops[i];
    const ops::OpKernel& k = *op.kernel;
    max_pointers = std::max(max_pointers, k.ScratchPointers(op));
    // Windows forms run on up to a group of windows (or a chunk, for vector ops).
    max_aux = std::max(
        max_aux, k.AuxFloats(op) *
                     static_cast<size_t>(ops[i].kind == OpKind::kVector ? chunk_windows : kGroup));
    if (ops[i].kind == OpKind::kRows) {
      for (int q = 0; q < op.time_stride; ++q) {
        Op t = op;
        t.pad_top -= q;
        t.time_pad -= q;
        t.in_dims[0] = values[op.inputs[0]].timeline_rows;
        t.out_dims[0] = values[i + 1].timeline_rows;
        max_aux = std::max(max_aux, k.AuxFloats(t));
        ops[i].timeline_ops.push_back(std::move(t));
      }
    } else if (ops[i].kind == OpKind::kCollapse) {  // a group's rows
      max_window_ptrs = std::max(max_window_ptrs,
                                 static_cast<size_t>(kGroup) * values[op.inputs[0]].r.window_rows);
    } else {  // a chunk's vectors
      max_window_ptrs =
          std::max(max_window_ptrs, static_cast<size_t>(chunk_windows) * op.inputs.size());
    }
    if (ops[i].fused_dense >= 0) {
      const ValueRows& in = values[op.inputs[0]].r;
      max_pointers =
          std::max(max_pointers, static_cast<size_t>(in.window_rows) * layers::kGemmRows);
      if (static_cast<size_t>(mi.ops[ops[i].fused_dense].packed.k) !=
          in.row_floats * in.window_rows)
        return "layer '" + op.name + "' flattens a size its dense layer does not take";
    }
  }

  // What is batched, and how much row-layer work stays per window. Per window, a live
  // Stream computes each row layer's rows that are not kept from an earlier window, and
  // every other layer whole; the batch computes each row layer's new timeline rows
  // (hop / step of them) and edge rows, and the other layers over many windows at once.
  int64_t row_flops = 0, edge_flops = 0;
  double stream_rows = 0, batch_rows = 0, other = 0;
  int row_ops = 0;
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (ops[i].kind != OpKind::kRows) {
      other += static_cast<double>(mi.ops[i].flops);
      continue;
    }
    const ValueRows& o = values[i + 1].r;
    const double per_row = static_cast<double>(mi.ops[i].flops) / o.window_rows;
    const int edges = o.window_rows - (o.clean_end - o.clean_begin);
    ++row_ops;
    row_flops += mi.ops[i].flops;
    edge_flops += mi.ops[i].flops / o.window_rows * edges;
    double batch_edges = per_row * edges;
    if (ops[i].partials) {  // edge rows sum shared partials; fresh ones cost a kernel row
      batch_edges = 0;
      for (const auto& runs : ops[i].fresh_runs)
        for (const auto& run : runs)
          batch_edges += per_row / mi.ops[i].kh * (run.second - run.first);
    }
    // New timeline rows per window: hop / step, but no more than a window reads.
    batch_rows += batch_edges + per_row * std::min<double>(static_cast<double>(h) / o.step,
                                                           o.clean_end - o.clean_begin);
    const int kept = h < T ? std::max(0, o.clean_end - o.shift(h) - o.clean_begin) : 0;
    stream_rows += per_row * (o.window_rows - kept);
  }
  EstimatePays(stream_rows, batch_rows, other);
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

// When batching pays. Per window, a live Stream and the batch do about the same row-layer
// work (the Stream keeps clean rows, the batch shares timelines), and the batch's
// bookkeeping (timelines, masks, edge rows window by window) costs more than the Stream's
// sliding tensors. It wins where it has work the Stream cannot share: the layers after
// the rows (collapsing, dense) as matrix products over many windows, or row layers it
// computes with far fewer FLOPs (convolutions by shared kernel-row partial sums). Over
// every architecture, measured against live streams: batching won by 1.1x-5x where those
// other layers are at least a quarter of the Stream's FLOPs (single_fc, tiny_conv,
// low_latency_svdf) or the row FLOPs drop 2x (conv), and lost by 2-30% elsewhere
// (ds_cnn, tc_resnet, tiny_embedding_conv: 1.6x fewer row FLOPs at most; low_latency_conv:
// other layers 14%).
constexpr double kPaysOtherShare = 0.25;
constexpr double kPaysRowSaving = 1.8;

void BatchScorer::Plan::EstimatePays(double stream_rows, double batch_rows, double other) {
  std::ostringstream d;
  d.precision(3);
  d << "per window, row layers " << stream_rows << " FLOPs in a live stream vs " << batch_rows
    << " batched, other layers " << other;
  pays = other >= kPaysOtherShare * (stream_rows + other) ||
         stream_rows >= kPaysRowSaving * batch_rows;
  if (!pays)
    d << "; batching pays when the other layers are a quarter of the stream's FLOPs or the "
         "row layers' FLOPs drop "
      << kPaysRowSaving << "x";
  estimate = d.str();
}

void BatchScorer::Plan::ScoreChunk(const float* samples, size_t n, size_t first_window, int count,
                                   float* scores, Scratch& s) const {
  const Model::Impl& mi = *m;
  const int h = hop_frames;
  const ops::Scratch scratch = OpScratch(s);
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
    if (!vp.r.rows) continue;
    for (int w = 0; w < count; ++w) {
      const int frame = w * h;
      char* mask = s.needed[v][frame % vp.r.step].data() + frame / vp.r.step;
      for (int t = vp.r.clean_begin; t < vp.r.clean_end; ++t)
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
        const int q = p_out / in.r.step;
        std::vector<char>& in_mask = s.needed[v][p_out % in.r.step];
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
        q = p_out / values[v].r.step;
        s.inputs.push_back(s.timelines[v][p_out % values[v].r.step].data());
      }
      const Op& top = ops[i].timeline_ops[q];
      float* out = s.timelines[i + 1][p_out].data();
      ForEachRun(mask, o.timeline_rows, [&](int j0, int j1) {
        op.kernel->ComputeRows(top, s.inputs.data(), out, j0, j1, scratch);
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
        for (int t = 0; t < vp.r.window_rows; ++t)
          if (vp.copy_in[t])
            std::memcpy(dst + static_cast<size_t>(t) * vp.r.row_floats, Row(s, v, k, frame, t),
                        vp.r.row_floats * sizeof(float));
      }
      for (size_t i = 0; i < mi.ops.size(); ++i) {
        const ValueRows& o = values[i + 1].r;
        if (ops[i].kind != OpKind::kRows || !o.has_edges()) continue;
        const Op& op = mi.ops[i];
        if (ops[i].partials) {
          PartialEdgeRows(i, k, frame, s);
          continue;
        }
        s.inputs.clear();
        for (int v : op.inputs) s.inputs.push_back(s.windows[k][v].data());
        float* out = s.windows[k][i + 1].data();
        if (o.clean_begin > 0)
          op.kernel->ComputeRows(op, s.inputs.data(), out, 0, o.clean_begin, scratch);
        const int edge_end = std::max(o.clean_begin, o.clean_end);
        if (edge_end < o.window_rows)
          op.kernel->ComputeRows(op, s.inputs.data(), out, edge_end, o.window_rows, scratch);
      }
    }
    // Collapsing ops of the group's windows, reading each window's rows in place.
    for (size_t i = 0; i < mi.ops.size(); ++i) {
      if (ops[i].kind != OpKind::kCollapse || ops[i].svdf_feature >= 0) continue;
      const Op& op = mi.ops[i];
      const int u = op.inputs[0];
      const int rows = values[u].r.window_rows;
      const float** ptrs = s.window_ptrs.data();
      for (int k = 0; k < gn; ++k)
        for (int t = 0; t < rows; ++t) ptrs[k * rows + t] = Row(s, u, k, (g0 + k) * h, t);
      ops::WindowInputs in;
      in.in[0] = ptrs;
      in.rows = rows;
      in.count = gn;
      // A flatten read by a dense layer: the dense layer's windows form takes the rows.
      const int target = ops[i].fused_dense >= 0 ? ops[i].fused_dense : static_cast<int>(i);
      const Op& run = mi.ops[target];
      const size_t stride = values[target + 1].r.row_floats;
      run.kernel->ComputeWindows(run, in,
                                 s.matrices[target + 1].data() + static_cast<size_t>(g0) * stride,
                                 stride, scratch);
    }
  }
  // Fused SVDF time filters: all windows of the chunk together.
  for (size_t i = 0; i < mi.ops.size(); ++i)
    if (ops[i].svdf_feature >= 0) SvdfFused(i, count, s);
  // Vector layers over all windows of the chunk.
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (ops[i].kind != OpKind::kVector || ops[i].fused) continue;
    const Op& op = mi.ops[i];
    ops::WindowInputs in;
    in.count = count;
    const float** ptrs = s.window_ptrs.data();
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      const int v = op.inputs[k];
      for (int w = 0; w < count; ++w)
        ptrs[w] = s.matrices[v].data() + static_cast<size_t>(w) * values[v].r.row_floats;
      in.in[k] = ptrs;
      ptrs += count;
    }
    op.kernel->ComputeWindows(op, in, s.matrices[i + 1].data(), values[i + 1].r.row_floats,
                              scratch);
  }
  const size_t labels = mi.labels.size();
  const layers::AlignedFloats& logits = s.matrices.back();
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
  // The memory rows of every window: rows [rows - M, rows) after each window's start.
  const int lo = fv.r.window_rows - M, hi = (count - 1) * hop_frames + fv.r.window_rows;
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
      ops::SvdfTimeStrip(op, Aligned64(ops[i].tf16) + static_cast<size_t>(b) * M * 16,
                         base + (b - pb) * 16, width, 0, hop_frames, count, b * 16 / op.rank,
                         s.svdf_acc.data(), s.matrices[i + 1].data(), values[i + 1].r.row_floats);
  }
}

// Op i (a row-partials convolution, time stride 1): for every phase, the kernel-row
// partial sums of every needed input row, then its needed output rows as their sums.
void BatchScorer::Plan::PartialTimelines(size_t i, Scratch& s) const {
  const Op& op = m->ops[i];
  const int v = op.inputs[0];
  const ValuePlan& in = values[v];
  const ValuePlan& o = values[i + 1];
  const size_t rf = o.r.row_floats;
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
          s.row_ptrs[j - r] = in_line + static_cast<size_t>(j) * in.r.row_floats;
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
  const size_t rf = o.r.row_floats;
  const size_t fresh_plane = static_cast<size_t>(in.r.window_rows) * rf;
  const size_t plane = static_cast<size_t>(in.timeline_rows) * rf;
  const float* window_in = s.windows[slot][v].data();
  for (int dy = 0; dy < op.kh; ++dy) {
    for (const auto& run : ops[i].fresh_runs[dy]) {
      for (int r = run.first; r < run.second; ++r)
        s.row_ptrs[r - run.first] = window_in + static_cast<size_t>(r) * in.r.row_floats;
      layers::ConvRowPartials(
          op, ops[i].kernel_rows, dy, dy + 1, s.row_ptrs.data(), run.second - run.first,
          s.fresh.data() + dy * fresh_plane + static_cast<size_t>(run.first) * rf, fresh_plane,
          s.pointers.data(), s.padded.data());
    }
  }
  const int phase = frame % o.r.step, base = frame / o.r.step;
  const float* pt = s.partials[i + 1][phase].data();
  const float* bias = op.bias.empty() ? nullptr : op.bias.data();
  float* out = s.windows[slot][i + 1].data();
  for (int t = 0; t < o.r.window_rows; ++t) {
    if (o.r.clean(t)) continue;
    int n = 0;
    for (int dy = 0; dy < op.kh; ++dy) {
      const int r = t - op.time_pad + dy;
      if (r < 0 || r >= in.r.window_rows) continue;
      s.parts[n++] = in.r.clean(r)
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
bool BatchScorer::pays() const { return plan_->pays; }
const std::string& BatchScorer::estimate() const { return plan_->estimate; }

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
    if (vp.r.rows) {
      s.timelines[v].resize(vp.r.step);
      s.needed[v].resize(vp.r.step);
      for (int ph : vp.phases) {
        if (!vp.in_strips)
          s.timelines[v][ph].assign(static_cast<size_t>(vp.timeline_rows) * vp.r.row_floats, 0.0f);
        s.needed[v][ph].assign(vp.timeline_rows, 0);
      }
      if (vp.in_strips)
        s.strip.assign(
            vp.r.row_floats + static_cast<size_t>(vp.timeline_rows) * 16 * kSvdfPanels + 16, 0.0f);
    } else if (vp.matrix) {
      s.matrices[v].assign(static_cast<size_t>(chunk) * vp.r.row_floats, 0.0f);
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
  s.window_ptrs.assign(p.max_window_ptrs, nullptr);
  s.svdf_acc.assign(static_cast<size_t>(chunk) * 16, 0.0f);
  s.partials.resize(num_values);
  size_t fresh_floats = 0, padded_floats = 0, row_ptrs = 0, parts = 0;
  for (size_t i = 0; i < mi.ops.size(); ++i) {
    if (!p.ops[i].partials) continue;
    const Op& op = mi.ops[i];
    const ValuePlan& in = p.values[op.inputs[0]];
    const ValuePlan& o = p.values[i + 1];
    s.partials[i + 1].resize(o.r.step);
    for (int ph : o.phases)
      s.partials[i + 1][ph].assign(static_cast<size_t>(op.kh) * in.timeline_rows * o.r.row_floats,
                                   0.0f);
    fresh_floats =
        std::max(fresh_floats, static_cast<size_t>(op.kh) * in.r.window_rows * o.r.row_floats);
    padded_floats = std::max(padded_floats, layers::ConvPartialAuxFloats(
                                                op, std::max(kPartialRowsBlock, in.r.window_rows)));
    row_ptrs = std::max<size_t>(row_ptrs, std::max(kPartialRowsBlock, in.r.window_rows));
    parts = std::max<size_t>(parts, op.kh);
  }
  s.fresh.assign(fresh_floats, 0.0f);
  s.padded.assign(padded_floats, 0.0f);
  s.row_ptrs.assign(row_ptrs, nullptr);
  s.parts.assign(parts, nullptr);
  s.inputs.reserve(4);

  const size_t labels = mi.labels.size();
  for (size_t w = first; w < last; w += chunk) {
    const int count = static_cast<int>(std::min<size_t>(chunk, last - w));
    p.ScoreChunk(samples, n, w, count, scores + (w - first) * labels, s);
  }
}

}  // namespace kws
