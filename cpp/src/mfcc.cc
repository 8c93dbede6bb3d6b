// MFCC front end. Behaviour facts taken from TensorFlow's AudioSpectrogram and Mfcc
// kernels (not their code): the spectrogram is computed in double and handed over as
// float32; the filterbank sums sqrt(power) under triangles whose edges are the mel
// centres, each FFT bin feeding the falling side of one channel and the rising side of
// the next; values below 1e-12 are floored before the natural log; the DCT is
// sqrt(2 / channels) * cos(pi * i * (j + 0.5) / channels), without special scaling of c0.
// The "average" front end (average_window_width > 0) follows tf.nn.pool's AVG pooling on
// that float32 spectrogram: each output is the float32 sum, in bin order, of the bins of
// its group that exist, divided by their count.
#include "kws/mfcc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <sstream>

#include "kernels/kernels.h"
#include "kws/error.h"
#include "real_fft.h"

namespace kws {

namespace {

constexpr double kPi = 3.14159265358979323846;
// Bounds that keep every derived size far from overflow; real front ends sit far below.
constexpr int kMaxWindowSamples = 1 << 20;
constexpr int kMaxChannels = 4096;

double FreqToMel(double hz) { return 1127.0 * std::log1p(hz / 700.0); }

[[noreturn]] void Bad(const std::string& field, const std::string& value, const std::string& why) {
  throw InvalidArgument("MfccOptions." + field + " = " + value + ": " + why);
}

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

int SamplesOf(int sample_rate, double ms) {
  const double samples = sample_rate * ms / 1000.0;
  if (!(samples >= 0.0) || samples > static_cast<double>(std::numeric_limits<int>::max())) {
    return -1;
  }
  return static_cast<int>(samples);
}

}  // namespace

// ---- MfccOptions -------------------------------------------------------------

int MfccOptions::window_size_samples() const { return SamplesOf(sample_rate, window_size_ms); }

int MfccOptions::window_stride_samples() const { return SamplesOf(sample_rate, window_stride_ms); }

int MfccOptions::fft_length() const {
  const int window = window_size_samples();
  int n = 1;
  while (n < window && n < (1 << 30)) n <<= 1;
  return n;
}

int MfccOptions::spectrogram_bins() const { return fft_length() / 2 + 1; }

int MfccOptions::num_features() const {
  if (average_window_width > 0)
    return (spectrogram_bins() + average_window_width - 1) / average_window_width;
  return dct_coefficient_count;
}

int MfccOptions::NumFrames(size_t n) const {
  const size_t window = static_cast<size_t>(std::max(window_size_samples(), 1));
  const size_t stride = static_cast<size_t>(std::max(window_stride_samples(), 1));
  if (n < window) return 0;
  return static_cast<int>(1 + (n - window) / stride);
}

void MfccOptions::Validate() const {
  if (sample_rate <= 0) Bad("sample_rate", std::to_string(sample_rate), "must be positive");
  if (!std::isfinite(window_size_ms) || window_size_ms <= 0) {
    Bad("window_size_ms", Num(window_size_ms), "must be a positive number");
  }
  const int window = window_size_samples();
  if (window < 2) {
    Bad("window_size_ms", Num(window_size_ms),
        "gives " + std::to_string(window) + " samples at " + std::to_string(sample_rate) +
            " Hz; at least 2 are needed");
  }
  if (window > kMaxWindowSamples) {
    Bad("window_size_ms", Num(window_size_ms),
        "gives " + std::to_string(window) + " samples, more than the " +
            std::to_string(kMaxWindowSamples) + " supported");
  }
  if (!std::isfinite(window_stride_ms) || window_stride_ms <= 0) {
    Bad("window_stride_ms", Num(window_stride_ms), "must be a positive number");
  }
  const int stride = window_stride_samples();
  if (stride < 1) {
    Bad("window_stride_ms", Num(window_stride_ms),
        "gives 0 samples at " + std::to_string(sample_rate) + " Hz; at least 1 is needed");
  }
  if (stride > kMaxWindowSamples) {
    Bad("window_stride_ms", Num(window_stride_ms),
        "gives " + std::to_string(stride) + " samples, more than the " +
            std::to_string(kMaxWindowSamples) + " supported");
  }
  const int bins = spectrogram_bins();
  if (average_window_width < 0 || average_window_width > bins) {
    Bad("average_window_width", std::to_string(average_window_width),
        "must be between 0 (the MFCC) and the " + std::to_string(bins) + " spectrogram bins of a " +
            std::to_string(fft_length()) + "-point FFT");
  }
  // The averaged spectrogram uses none of the MFCC's own options.
  if (average_window_width > 0) return;
  if (filterbank_channel_count < 1 || filterbank_channel_count > kMaxChannels) {
    Bad("filterbank_channel_count", std::to_string(filterbank_channel_count),
        "must be between 1 and " + std::to_string(kMaxChannels));
  }
  if (dct_coefficient_count < 1 || dct_coefficient_count > filterbank_channel_count) {
    Bad("dct_coefficient_count", std::to_string(dct_coefficient_count),
        "must be between 1 and filterbank_channel_count (" +
            std::to_string(filterbank_channel_count) + ")");
  }
  if (!std::isfinite(lower_frequency_limit) || lower_frequency_limit < 0) {
    Bad("lower_frequency_limit", Num(lower_frequency_limit), "must be a number >= 0");
  }
  if (!std::isfinite(upper_frequency_limit) || upper_frequency_limit <= lower_frequency_limit) {
    Bad("upper_frequency_limit", Num(upper_frequency_limit),
        "must be greater than lower_frequency_limit (" + Num(lower_frequency_limit) + ")");
  }
  // TensorFlow's Mfcc op holds the limits as float32; they must stay ordered after that.
  if (static_cast<float>(upper_frequency_limit) <= static_cast<float>(lower_frequency_limit)) {
    Bad("upper_frequency_limit", Num(upper_frequency_limit),
        "is not above lower_frequency_limit (" + Num(lower_frequency_limit) +
            ") once both are rounded to float32");
  }
  if (upper_frequency_limit > sample_rate / 2.0) {
    Bad("upper_frequency_limit", Num(upper_frequency_limit),
        "is above the Nyquist frequency " + Num(sample_rate / 2.0) + " Hz");
  }
}

std::string MfccOptions::ToString() const {
  std::ostringstream s;
  s << "MfccOptions(sample_rate=" << sample_rate << ", window_size_ms=" << window_size_ms
    << ", window_stride_ms=" << window_stride_ms
    << ", filterbank_channel_count=" << filterbank_channel_count
    << ", lower_frequency_limit=" << lower_frequency_limit
    << ", upper_frequency_limit=" << upper_frequency_limit
    << ", dct_coefficient_count=" << dct_coefficient_count
    << ", average_window_width=" << average_window_width << ")";
  return s.str();
}

// ---- MfccFrontend ------------------------------------------------------------

namespace {

using kernels::kMfccLanes;

// kMfccLanes doubles per entry, 64-byte aligned, zeroed when allocated.
class LaneBuffer {
 public:
  void Resize(size_t n) {
    data_.reset(static_cast<double*>(
        ::operator new(n* kMfccLanes * sizeof(double), std::align_val_t(kAlignment))));
    size_ = n;
    std::fill(data_.get(), data_.get() + n * kMfccLanes, 0.0);
  }
  size_t size() const { return size_; }
  double* data() { return data_.get(); }

 private:
  static constexpr size_t kAlignment = 64;
  struct Free {
    void operator()(double* p) const { ::operator delete(p, std::align_val_t(kAlignment)); }
  };
  std::unique_ptr<double[], Free> data_;
  size_t size_ = 0;
};

// Per-thread working memory (kernels::MfccWork), grown to the largest front end used on
// the thread.
struct Workspace {
  LaneBuffer windowed;  // fft_length; the tail past the window stays zero
  LaneBuffer power;     // fft_length / 2 + 1
  LaneBuffer fft;       // fft_length
  LaneBuffer mel;       // channels + 2 (one guard slot each side)

  kernels::MfccWork Prepare(int fft_length, int channels) {
    const size_t n = static_cast<size_t>(fft_length);
    if (windowed.size() < n) {
      windowed.Resize(n);
      power.Resize(n / 2 + 1);
      fft.Resize(n);
    }
    if (mel.size() < static_cast<size_t>(channels) + 2) mel.Resize(channels + 2);
    return kernels::MfccWork{windowed.data(), power.data(), fft.data(), mel.data()};
  }
};

Workspace& ThreadWorkspace() {
  thread_local Workspace workspace;
  return workspace;
}

}  // namespace

struct MfccFrontend::Impl {
  MfccOptions opts;
  int window = 0;
  int stride = 0;
  int channels = 0;      // 0 for the averaged spectrogram
  int coefficients = 0;  // features per frame
  // Averaged spectrogram (opts.average_window_width > 0): output j averages the bins
  // [j * width - pad_before, + width) that exist.
  int average_width = 0;
  int average_pad_before = 0;
  std::vector<double> hann;  // periodic Hann window, `window` values
  internal::RealFft fft;
  // Filterbank: FFT bins [first_bin, last_bin] contribute. Bin i adds
  // sqrt(power) * falling_weight[i] to the falling side of channel slot[i] - 1 and the
  // rest to the rising side of the channel after it. Channels are stored shifted by one
  // so channel -1 (bins below the first peak) and channel `channels` (past the last)
  // land in guard slots that are ignored.
  int first_bin = 0;
  int last_bin = -1;
  std::vector<int> slot;
  std::vector<int> slot_begin, slot_end;  // bins [slot_begin[k], slot_end[k]) have slot k
  std::vector<double> falling_weight;
  // DCT matrix, coefficient-major: dct[i * channels + j] multiplies log-mel j into c_i.
  std::vector<double> dct;
  // The tables above as the frame kernels read them.
  kernels::MfccFrameArgs args;

  explicit Impl(const MfccOptions& o) : opts(o), fft((o.Validate(), o.fft_length())) {
    window = opts.window_size_samples();
    stride = opts.window_stride_samples();
    coefficients = opts.num_features();

    hann.resize(window);
    for (int i = 0; i < window; ++i) hann[i] = 0.5 - 0.5 * std::cos(2.0 * kPi * i / window);

    if (opts.average_window_width > 0) {
      // TensorFlow's SAME padding: the total padding split with the smaller half first.
      average_width = opts.average_window_width;
      const int bins = fft.num_bins();
      const int total_pad = std::max(coefficients * average_width - bins, 0);
      average_pad_before = total_pad / 2;
      DescribeTables();
      return;
    }
    channels = opts.filterbank_channel_count;
    BuildFilterbank();

    dct.resize(static_cast<size_t>(channels) * coefficients);
    const double norm = std::sqrt(2.0 / channels);
    for (int j = 0; j < channels; ++j) {
      for (int i = 0; i < coefficients; ++i) {
        dct[static_cast<size_t>(i) * channels + j] =
            norm * std::cos(kPi / channels * i * (j + 0.5));
      }
    }
    DescribeTables();
  }

  void DescribeTables() {
    args.window = window;
    args.stride = stride;
    args.hann = hann.data();
    fft.Describe(&args);
    args.coefficients = coefficients;
    args.average_width = average_width;
    args.average_pad_before = average_pad_before;
    args.channels = channels;
    args.slot_begin = slot_begin.data();
    args.slot_end = slot_end.data();
    args.falling_weight = falling_weight.data();
    args.dct = dct.data();
  }

  void BuildFilterbank() {
    const int bins = fft.num_bins();
    // TensorFlow keeps the limits as float32 attributes.
    const double lower = static_cast<float>(opts.lower_frequency_limit);
    const double upper = static_cast<float>(opts.upper_frequency_limit);
    const double mel_low = FreqToMel(lower);
    const double mel_high = FreqToMel(upper);
    const double spacing = (mel_high - mel_low) / (channels + 1);
    // centre[c] is the peak of channel c; centre[channels] is the top edge of the last.
    std::vector<double> centre(channels + 1);
    for (int c = 0; c <= channels; ++c) centre[c] = mel_low + spacing * (c + 1);

    const double hz_per_bin = 0.5 * opts.sample_rate / (bins - 1);
    // DC is always left out (start at 1.5 bins), as in HTK.
    first_bin = static_cast<int>(1.5 + lower / hz_per_bin);
    last_bin = std::min(static_cast<int>(upper / hz_per_bin), bins - 1);
    slot.assign(bins, 0);
    falling_weight.assign(bins, 0.0);
    int channel = 0;
    for (int i = first_bin; i <= last_bin; ++i) {
      const double mel = FreqToMel(i * hz_per_bin);
      while (channel < channels && centre[channel] < mel) ++channel;
      const int falling = channel - 1;  // -1: below the first peak
      slot[i] = falling + 1;
      if (falling >= 0) {
        falling_weight[i] = (centre[falling + 1] - mel) / (centre[falling + 1] - centre[falling]);
      } else {
        falling_weight[i] = (centre[0] - mel) / (centre[0] - mel_low);
      }
    }
    // Slots never decrease with the bin, so each slot's bins form one run.
    slot_begin.assign(channels + 1, 0);
    slot_end.assign(channels + 1, 0);
    for (int k = 0; k <= channels; ++k) {
      int b = first_bin;
      while (b <= last_bin && slot[b] < k) ++b;
      int e = b;
      while (e <= last_bin && slot[e] == k) ++e;
      slot_begin[k] = b;
      slot_end[k] = e;
    }
  }
};

MfccFrontend::MfccFrontend(const MfccOptions& opts) : impl_(new Impl(opts)) {}
MfccFrontend::~MfccFrontend() = default;

const MfccOptions& MfccFrontend::options() const { return impl_->opts; }
int MfccFrontend::num_coefficients() const { return impl_->coefficients; }

std::vector<float> MfccFrontend::Compute(const float* samples, size_t n) const {
  std::vector<float> out(static_cast<size_t>(impl_->opts.NumFrames(n)) * impl_->coefficients);
  Compute(samples, n, out.data());
  return out;
}

void MfccFrontend::Compute(const float* samples, size_t n, float* out) const {
  ComputeFrames(samples, static_cast<size_t>(impl_->opts.NumFrames(n)), out);
}

void MfccFrontend::ComputeFrames(const float* samples, size_t num_frames, float* out) const {
  if (num_frames == 0) return;
  const Impl& m = *impl_;
  const kernels::MfccWork work = ThreadWorkspace().Prepare(m.fft.size(), m.channels);
  // A larger front end used earlier on this thread may have left values past our window.
  std::fill(work.windowed + static_cast<size_t>(m.window) * kMfccLanes,
            work.windowed + static_cast<size_t>(m.fft.size()) * kMfccLanes, 0.0);
  const kernels::MfccFramesFn frames = kernels::Active().mfcc_frames;
  for (size_t f = 0; f < num_frames; f += kMfccLanes) {
    const int count = static_cast<int>(std::min<size_t>(kMfccLanes, num_frames - f));
    frames(m.args, work, samples + f * m.stride, count, out + f * m.coefficients);
  }
}

void MfccFrontend::ComputeFrame(const float* window, float* out) const {
  ComputeFrames(window, 1, out);
}

// ---- MfccStream --------------------------------------------------------------

MfccStream::MfccStream(std::shared_ptr<const MfccFrontend> frontend)
    : frontend_(std::move(frontend)) {
  if (!frontend_) throw InvalidArgument("MfccStream: the front end is null");
}

MfccStream::MfccStream(const MfccOptions& opts)
    : MfccStream(std::make_shared<const MfccFrontend>(opts)) {}

void MfccStream::AcceptWaveform(const float* samples, size_t n) {
  const MfccOptions& o = frontend_->options();
  const size_t window = static_cast<size_t>(o.window_size_samples());
  const size_t stride = static_cast<size_t>(o.window_stride_samples());
  const size_t coefficients = static_cast<size_t>(frontend_->num_coefficients());
  // With a stride longer than the window, samples between windows are never used.
  const size_t dropped = std::min(skip_, n);
  skip_ -= dropped;
  samples += dropped;
  n -= dropped;
  if (n == 0) return;
  pending_.insert(pending_.end(), samples, samples + n);
  if (pending_.size() < window) return;

  const size_t frames = 1 + (pending_.size() - window) / stride;
  // Drop what was already popped before growing, so ready_ stays small when polled.
  if (ready_begin_ > 0) {
    ready_.erase(ready_.begin(), ready_.begin() + ready_begin_);
    ready_begin_ = 0;
  }
  const size_t old = ready_.size();
  ready_.resize(old + frames * coefficients);
  frontend_->ComputeFrames(pending_.data(), frames, ready_.data() + old);

  const size_t consumed = frames * stride;
  if (consumed >= pending_.size()) {
    skip_ = consumed - pending_.size();
    pending_.clear();
  } else {
    pending_.erase(pending_.begin(), pending_.begin() + consumed);
  }
}

size_t MfccStream::NumFramesReady() const {
  return (ready_.size() - ready_begin_) / static_cast<size_t>(frontend_->num_coefficients());
}

size_t MfccStream::PopFrames(float* out, size_t max_frames) {
  const size_t coefficients = static_cast<size_t>(frontend_->num_coefficients());
  const size_t frames = std::min(max_frames, NumFramesReady());
  if (frames == 0) return 0;
  std::memcpy(out, ready_.data() + ready_begin_, frames * coefficients * sizeof(float));
  ready_begin_ += frames * coefficients;
  if (ready_begin_ == ready_.size()) {
    ready_.clear();
    ready_begin_ = 0;
  }
  frames_emitted_ += static_cast<int64_t>(frames);
  return frames;
}

std::vector<float> MfccStream::PopAllFrames() {
  std::vector<float> out(NumFramesReady() * static_cast<size_t>(frontend_->num_coefficients()));
  PopFrames(out.data(), NumFramesReady());
  return out;
}

int64_t MfccStream::frames_emitted() const { return frames_emitted_; }

void MfccStream::Reset() {
  pending_.clear();
  skip_ = 0;
  ready_.clear();
  ready_begin_ = 0;
  frames_emitted_ = 0;
}

}  // namespace kws
