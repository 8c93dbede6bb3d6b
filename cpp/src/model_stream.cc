// Cached-state streaming: each hop computes only the new MFCC frames and, per layer, only
// the output rows that the moved window changes.
//
// A row-structured value (the features, then every convolution, pooling, per-row dense or
// element-wise op on them) has row t of window n computed from the feature frames
// n * hop + R(t), where R(t + 1) = R(t) + step (step = product of the time strides up to
// it). Rows whose receptive field lies wholly inside the window (its clean rows: no SAME
// padding in time anywhere up the chain; see ValueRows, computed at load) therefore equal
// row t + shift of window n - period, where period = step / gcd(hop, step) windows and
// shift = period * hop / step rows: the earlier window on the same grid. Each such value
// keeps its last `period` tensors (one slot per phase); a hop moves the clean rows of the
// slot holding window n - period into place (memmove) and recomputes the others (the
// op's row form): the new rows at the end and the padded rows at the edges. With hops that line up
// with every stride, period is 1. Collapsing ops (flatten, global pooling, SVDF time filter, dense
// on a vector) run their whole form on the window. Results are bit-identical to whole-clip
// inference (the kernels accumulate every element in the same order whatever range of rows they
// compute).
#include <algorithm>
#include <cstring>

#include "kws/error.h"
#include "model_impl.h"

namespace kws {
namespace {

// What one value does at this stream's hop (from its ValueRows, computed at load).
struct ValueGrid {
  int period = 1;      // windows between two windows on the same row grid
  int shift = 0;       // rows between those two windows
  bool reuse = false;  // some clean rows can be kept from window - period
};

// A tensor of `rows` rows inside a longer buffer: moving the window forward by s rows
// (row t + s becomes row t) advances the start instead of copying, and the rows are
// moved back to the buffer's start only when the window reaches its end (amortised over
// slack / s hops). A view wraps storage owned elsewhere and never slides.
class SlidingTensor {
 public:
  static SlidingTensor Own(int rows, size_t row_floats, int slack_rows) {
    SlidingTensor t;
    t.rows_ = rows;
    t.row_floats_ = row_floats;
    t.storage_.assign(static_cast<size_t>(rows + std::max(slack_rows, 1)) * row_floats, 0.0f);
    return t;
  }
  static SlidingTensor View(float* data) {
    SlidingTensor t;
    t.view_ = data;
    return t;
  }
  float* data() { return (view_ ? view_ : storage_.data()) + base_row * row_floats_; }
  // Row t + rows_moved becomes row t; rows past the old end are left for the caller.
  void Slide(int rows_moved) {
    const size_t capacity_rows = storage_.size() / row_floats_;
    if (base_row + rows_moved + rows_ > capacity_rows) {
      std::memmove(storage_.data(), data(),
                   static_cast<size_t>(rows_) * row_floats_ * sizeof(float));
      base_row = 0;
    }
    base_row += static_cast<size_t>(rows_moved);
  }
  size_t base_row = 0;

 private:
  float* view_ = nullptr;  // storage owned elsewhere (never slides)
  layers::AlignedFloats storage_;
  int rows_ = 0;
  size_t row_floats_ = 0;
};

class CachedStream : public Stream {
 public:
  CachedStream(std::shared_ptr<const Model> model, int hop_samples)
      : model_(std::move(model)), m_(model_->impl()), hop_samples_(hop_samples) {
    if (hop_samples <= 0 || hop_samples % m_.frame_stride != 0)
      throw InvalidArgument("hop of " + std::to_string(hop_samples) +
                            " samples is not a whole number of feature frames (frame stride " +
                            std::to_string(m_.frame_stride) + " samples) for model '" + m_.path +
                            "'");
    hop_frames_ = hop_samples / m_.frame_stride;
    mfcc_ = std::make_unique<MfccStream>(m_.frontend);
    ws_ = m_.NewStreamWorkspace();
    PlanGrids();
    frames_.reserve(static_cast<size_t>(m_.num_frames + hop_frames_) * m_.num_coefficients * 2);
    result_.scores.assign(m_.labels.size(), 0.0f);
  }

  void AcceptWaveform(const float* samples, size_t n) override {
    if (finished_) throw InvalidArgument("Stream::AcceptWaveform called after InputFinished()");
    mfcc_->AcceptWaveform(samples, n);
    const size_t ready = mfcc_->NumFramesReady();
    if (ready == 0) return;
    const size_t width = static_cast<size_t>(m_.num_coefficients);
    // Compact consumed frames before appending (amortised; no growth in steady state).
    if (frames_begin_ > 0) {
      frames_.erase(frames_.begin(), frames_.begin() + frames_begin_ * width);
      frames_begin_ = 0;
    }
    const size_t old = frames_.size();
    frames_.resize(old + ready * width);
    mfcc_->PopFrames(frames_.data() + old, ready);
  }

  void InputFinished() override { finished_ = true; }

  bool IsReady() const override {
    const size_t available = FramesAvailable();
    if (windows_ == 0) return available >= static_cast<size_t>(m_.num_frames);
    if (hop_frames_ >= m_.num_frames)
      return available >= static_cast<size_t>(hop_frames_);  // includes the skipped frames
    return available >= static_cast<size_t>(hop_frames_);
  }

  void Decode() override {
    if (!IsReady()) throw InvalidArgument("Stream::Decode called before IsReady()");
    const int T = m_.num_frames;
    const size_t width = static_cast<size_t>(m_.num_coefficients);
    hop_flops_ = 0;
    SlidingTensor& features = slots_[0][0];
    if (windows_ == 0 || hop_frames_ >= T) {
      // A fresh window: skip frames between windows when the hop exceeds the window.
      if (windows_ > 0) frames_begin_ += static_cast<size_t>(hop_frames_ - T);
      features.base_row = 0;
      std::memcpy(features.data(), frames_.data() + frames_begin_ * width,
                  T * width * sizeof(float));
      frames_begin_ += T;
    } else {
      features.Slide(hop_frames_);
      std::memcpy(features.data() + (T - hop_frames_) * width,
                  frames_.data() + frames_begin_ * width, hop_frames_ * width * sizeof(float));
      frames_begin_ += hop_frames_;
    }
    RunOps();
    m_.Finish(Slot(static_cast<int>(m_.ops.size()), windows_), *ws_);
    result_.scores = ws_->scores;
    result_.start_sample = static_cast<int64_t>(windows_) * hop_samples_;
    result_.end_sample = result_.start_sample + m_.clip_samples;
    ++windows_;
  }

  const StreamResult& GetResult() const override { return result_; }

  void Reset() override {
    mfcc_->Reset();
    frames_.clear();
    frames_begin_ = 0;
    windows_ = 0;
    finished_ = false;
    hop_flops_ = 0;
    result_ = StreamResult();
    result_.scores.assign(m_.labels.size(), 0.0f);
  }

  int hop_samples() const override { return hop_samples_; }
  int64_t last_decode_flops() const override { return hop_flops_; }

 private:
  size_t FramesAvailable() const {
    return frames_.size() / static_cast<size_t>(m_.num_coefficients) - frames_begin_;
  }

  // Which values keep rows from an earlier window at this hop, and their phase slots.
  void PlanGrids() {
    const size_t n = m_.value_sizes.size();
    grids_.assign(n, ValueGrid());
    slots_.assign(n, {});
    for (size_t v = 0; v < n; ++v) {
      const ValueRows& r = m_.rows[v];
      ValueGrid& g = grids_[v];
      if (!r.rows) continue;
      g.period = r.period(hop_frames_);
      g.shift = r.shift(hop_frames_);
      g.reuse = hop_frames_ < m_.num_frames && (v == 0 || r.clean_end - g.shift > r.clean_begin);
      if (!g.reuse) g.period = 1;  // nothing to keep: one tensor, recomputed every hop
    }
    // Values whose rows are reused get sliding tensors, one per phase; the others
    // (collapsing ops' outputs) stay in the workspace.
    for (size_t v = 0; v < n; ++v) {
      const ValueGrid& g = grids_[v];
      if (!g.reuse) {
        slots_[v].push_back(SlidingTensor::View(ws_->values[v].data()));
        continue;
      }
      const int rows = m_.value_rows[v];
      const size_t row_floats = m_.value_sizes[v] / static_cast<size_t>(rows);
      for (int k = 0; k < g.period; ++k)
        slots_[v].push_back(SlidingTensor::Own(rows, row_floats, rows));  // shift < rows
      layers::AlignedFloats().swap(ws_->values[v]);  // unused: the slots hold this value
    }
  }

  // The tensor of value v for window `window`.
  float* Slot(int v, int64_t window) {
    return slots_[v][static_cast<size_t>(window % grids_[v].period)].data();
  }

  void RunOps() {
    Workspace& ws = *ws_;
    const ops::Scratch scratch = m_.ScratchOf(ws);
    const int64_t window = windows_;
    for (size_t i = 0; i < m_.ops.size(); ++i) {
      const layers::Op& op = m_.ops[i];
      const ops::OpKernel& k = *op.kernel;
      ws.inputs.clear();
      for (int v : op.inputs) ws.inputs.push_back(Slot(v, window));
      const ValueGrid& g = grids_[i + 1];
      const ValueRows& r = m_.rows[i + 1];
      float* out = Slot(static_cast<int>(i + 1), window);
      if (!op.row_structured) {
        k.ComputeAll(op, ws.inputs.data(), out, scratch);
        hop_flops_ += op.flops;
        continue;
      }
      const int rows = op.out_rows();
      // `out` holds window - period (same phase): its clean rows [t + shift] are this
      // window's clean rows [t] when both are clean.
      int keep_begin = 0, keep_end = 0;
      if (g.reuse && window >= g.period) {
        keep_begin = r.clean_begin;
        keep_end = r.clean_end - g.shift;
      }
      if (keep_end > keep_begin) {
        // Row t + shift becomes row t: slide the tensor instead of copying the rows.
        SlidingTensor& slot = slots_[i + 1][static_cast<size_t>(window % g.period)];
        slot.Slide(g.shift);
        out = slot.data();
        if (keep_begin > 0) k.ComputeRows(op, ws.inputs.data(), out, 0, keep_begin, scratch);
        if (keep_end < rows) k.ComputeRows(op, ws.inputs.data(), out, keep_end, rows, scratch);
        hop_flops_ += op.flops / rows * (rows - (keep_end - keep_begin));
      } else {
        k.ComputeRows(op, ws.inputs.data(), out, 0, rows, scratch);
        hop_flops_ += op.flops;
      }
    }
  }

  std::shared_ptr<const Model> model_;  // keeps m_ alive
  const Model::Impl& m_;
  int hop_samples_;
  int hop_frames_ = 1;
  std::unique_ptr<MfccStream> mfcc_;
  std::unique_ptr<Workspace> ws_;
  std::vector<ValueGrid> grids_;                   // per value, for this hop
  std::vector<std::vector<SlidingTensor>> slots_;  // per value: one tensor per phase
  std::vector<float> frames_;  // MFCC frames not yet consumed, from frames_begin_
  size_t frames_begin_ = 0;
  int64_t windows_ = 0;
  bool finished_ = false;
  int64_t hop_flops_ = 0;
  StreamResult result_;
};

}  // namespace

std::unique_ptr<Stream> NewCachedStream(std::shared_ptr<const Model> model, int hop_samples) {
  return std::make_unique<CachedStream>(std::move(model), hop_samples);
}

}  // namespace kws
