// Cached-state streaming: each hop computes only the new MFCC frames and, per layer, only
// the output rows that the moved window changes.
//
// A row-structured value (the features, then every convolution, pooling, per-row dense or
// element-wise op on them) has row t of window n computed from the feature frames
// n * hop + R(t), where R(t + 1) = R(t) + step (step = product of the time strides up to
// it). Rows whose receptive field lies wholly inside the window ("interior" rows: no SAME
// padding in time anywhere up the chain) therefore equal row t + shift of window n - period,
// where period = step / gcd(hop, step) windows and shift = period * hop / step rows: the
// earlier window on the same grid. Each such value keeps its last `period` tensors (one
// slot per phase); a hop moves the interior rows of the slot holding window n - period
// into place (memmove) and recomputes the others: the new rows at the end and the
// padded rows at the edges. With hops that line up with every stride, period is 1.
// Collapsing ops (flatten, global pooling, SVDF time filter, dense on a vector) run on the
// whole window. Results are bit-identical to whole-clip inference (the kernels accumulate
// every element in the same order whatever range of rows they compute).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "kws/error.h"
#include "model_impl.h"

namespace kws {
namespace {

// Floor division for possibly negative numerators.
int FloorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int CeilDiv(int a, int b) { return -FloorDiv(-a, b); }

// How one value's rows relate to the feature frames, for a given hop.
struct ValueGrid {
  bool aligned = false;    // rows follow the time axis of the features
  int step = 1;            // feature frames between consecutive rows
  int interior_begin = 0;  // rows [interior_begin, interior_end) read no time padding
  int interior_end = 0;
  int period = 1;          // windows between two windows on the same row grid
  int shift = 0;           // rows between those two windows
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
    ws_ = m_.NewWorkspace();
    PlanGrids();
    frames_.reserve(static_cast<size_t>(m_.num_frames + hop_frames_) * m_.num_coefficients * 2);
    result_.scores.assign(m_.labels.size(), 0.0f);
  }

  void AcceptWaveform(const float* samples, size_t n) override {
    if (finished_)
      throw InvalidArgument("Stream::AcceptWaveform called after InputFinished()");
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
    float* features = ws_->values[0].data();
    hop_flops_ = 0;
    if (windows_ == 0 || hop_frames_ >= T) {
      // A fresh window: skip frames between windows when the hop exceeds the window.
      if (windows_ > 0) frames_begin_ += static_cast<size_t>(hop_frames_ - T);
      std::memcpy(features, frames_.data() + frames_begin_ * width, T * width * sizeof(float));
      frames_begin_ += T;
    } else {
      std::memmove(features, features + hop_frames_ * width,
                   (T - hop_frames_) * width * sizeof(float));
      std::memcpy(features + (T - hop_frames_) * width, frames_.data() + frames_begin_ * width,
                  hop_frames_ * width * sizeof(float));
      frames_begin_ += hop_frames_;
    }
    RunOps();
    m_.Finish(*ws_);
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

  // Static row bookkeeping of every value for this hop, and the extra phase slots.
  void PlanGrids() {
    const size_t n = m_.value_sizes.size();
    grids_.assign(n, ValueGrid());
    slots_.assign(n, {});
    grids_[0] = ValueGrid{true, 1, 0, m_.num_frames, 1, hop_frames_};
    for (size_t i = 0; i < m_.ops.size(); ++i) {
      const layers::Op& op = m_.ops[i];
      ValueGrid& g = grids_[i + 1];
      if (!op.row_structured) continue;
      const ValueGrid& first = grids_[op.inputs[0]];
      bool aligned = first.aligned;
      int lo = first.interior_begin, hi = first.interior_end;
      for (int u : op.inputs) {
        aligned = aligned && grids_[u].aligned && grids_[u].step == first.step;
        lo = std::max(lo, grids_[u].interior_begin);
        hi = std::min(hi, grids_[u].interior_end);
      }
      if (!aligned) continue;
      const int rows = op.out_rows();
      g.aligned = true;
      g.step = first.step * op.time_stride;
      // Output row t reads input rows [t * stride - pad, t * stride - pad + kernel).
      g.interior_begin = std::min(rows, std::max(0, CeilDiv(lo + op.time_pad, op.time_stride)));
      g.interior_end = std::min(
          rows, FloorDiv(hi + op.time_pad - op.time_kernel, op.time_stride) + 1);
      g.interior_end = std::max(g.interior_end, g.interior_begin);
      g.period = g.step / std::gcd(hop_frames_, g.step);
      g.shift = g.period * hop_frames_ / g.step;
    }
    // Slot 0 of every value is the workspace's tensor; phases 1.. get their own.
    size_t extra = 0;
    for (size_t v = 0; v < n; ++v) extra += static_cast<size_t>(grids_[v].period - 1);
    extra_.reserve(extra);
    for (size_t v = 0; v < n; ++v) {
      slots_[v].push_back(ws_->values[v].data());
      for (int k = 1; k < grids_[v].period; ++k) {
        extra_.emplace_back(m_.value_sizes[v], 0.0f);
        slots_[v].push_back(extra_.back().data());
      }
    }
  }

  // The tensor of value v for window `window`.
  float* Slot(int v, int64_t window) {
    return slots_[v][static_cast<size_t>(window % grids_[v].period)];
  }

  void RunOps() {
    Workspace& ws = *ws_;
    const int64_t window = windows_;
    for (size_t i = 0; i < m_.ops.size(); ++i) {
      const layers::Op& op = m_.ops[i];
      ws.inputs.clear();
      for (int v : op.inputs) ws.inputs.push_back(Slot(v, window));
      const ValueGrid& g = grids_[i + 1];
      float* out = Slot(static_cast<int>(i + 1), window);
      if (!op.row_structured) {
        layers::ComputeAll(op, ws.inputs, out, m_.zeros.data(), ws.pointers.data(),
                           ws.aux.data());
        hop_flops_ += op.flops;
        continue;
      }
      const int rows = op.out_rows();
      // `out` holds window - period (same phase): its interior rows [t + shift] are this
      // window's interior rows [t] when both are interior.
      int keep_begin = 0, keep_end = 0;
      if (g.aligned && window >= g.period && hop_frames_ < m_.num_frames) {
        keep_begin = g.interior_begin;
        keep_end = g.interior_end - g.shift;
      }
      if (keep_end > keep_begin) {
        const size_t row_floats = op.out_size() / rows;
        std::memmove(out + keep_begin * row_floats, out + (keep_begin + g.shift) * row_floats,
                     (keep_end - keep_begin) * row_floats * sizeof(float));
        layers::ComputeRows(op, ws.inputs, out, 0, keep_begin, m_.zeros.data(),
                            ws.pointers.data(), ws.aux.data());
        layers::ComputeRows(op, ws.inputs, out, keep_end, rows, m_.zeros.data(),
                            ws.pointers.data(), ws.aux.data());
        hop_flops_ += op.flops / rows * (rows - (keep_end - keep_begin));
      } else {
        layers::ComputeRows(op, ws.inputs, out, 0, rows, m_.zeros.data(), ws.pointers.data(),
                            ws.aux.data());
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
  std::vector<ValueGrid> grids_;              // per value, for this hop
  std::vector<std::vector<float*>> slots_;    // per value: one tensor per phase
  std::vector<std::vector<float>> extra_;     // storage of phase slots 1..period-1
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
