// MFCC front end, numerically matching tf.raw_ops.AudioSpectrogram(magnitude_squared=True)
// followed by tf.raw_ops.Mfcc: periodic Hann window, FFT of the next power of two,
// squared magnitude, mel filterbank over sqrt(power), floor 1e-12, natural log, DCT-II.
// With MfccOptions::average_window_width > 0 the same front end gives instead the power
// spectrogram averaged over groups of frequency bins (the speech-commands "average"
// preprocessing: tf.nn.pool AVG with SAME padding over the squared-magnitude spectrogram).
#ifndef KWS_MFCC_H_
#define KWS_MFCC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kws {

// Options of the MFCC front end; defaults are the classic speech-commands ones.
struct MfccOptions {
  int sample_rate = 16000;
  double window_size_ms = 30.0;
  double window_stride_ms = 10.0;
  int filterbank_channel_count = 40;
  // The frequency limits are rounded to float32, as TensorFlow's Mfcc op stores them.
  double lower_frequency_limit = 20.0;
  double upper_frequency_limit = 4000.0;
  int dct_coefficient_count = 40;
  // 0: the MFCC. > 0: no MFCC; each frame is the power spectrogram (float32, as
  // AudioSpectrogram gives it) averaged over groups of this many frequency bins, as
  // tf.nn.pool(AVG, window [1, w], strides [1, w], SAME): ceil(bins / w) values, each the
  // mean of the bins of its group that exist (TensorFlow's SAME placement, the extra
  // padding at the end). 1 gives the raw power spectrogram. The filterbank, frequency
  // limits and DCT count are then unused and not checked. At most spectrogram_bins().
  int average_window_width = 0;

  // Throws InvalidArgument naming the first bad field and its value.
  void Validate() const;
  // One line listing every field, e.g. "MfccOptions(sample_rate=16000, ...)".
  std::string ToString() const;

  int window_size_samples() const;    // sample_rate * window_size_ms / 1000 (truncated)
  int window_stride_samples() const;  // sample_rate * window_stride_ms / 1000 (truncated)
  int fft_length() const;             // next power of two >= window_size_samples
  int spectrogram_bins() const;       // fft_length() / 2 + 1
  // Features per frame: dct_coefficient_count, or with average_window_width > 0
  // ceil(spectrogram_bins() / average_window_width).
  int num_features() const;
  // Frames produced by a signal of n samples (0 if n < window): 1 + (n - window) / stride.
  int NumFrames(size_t n) const;
};

// Whole-signal MFCC computation. Immutable after construction; thread-safe.
// The window, FFT tables, filterbank weights and DCT matrix are built once here.
class MfccFrontend {
 public:
  explicit MfccFrontend(const MfccOptions& opts);  // validates; throws InvalidArgument
  ~MfccFrontend();
  MfccFrontend(const MfccFrontend&) = delete;
  MfccFrontend& operator=(const MfccFrontend&) = delete;

  const MfccOptions& options() const;
  int num_coefficients() const;  // features per frame: options().num_features()

  // Returns NumFrames(n) x num_coefficients() values, row-major.
  std::vector<float> Compute(const float* samples, size_t n) const;
  // Writes NumFrames(n) x num_coefficients() values to `out`.
  void Compute(const float* samples, size_t n, float* out) const;
  // Writes `num_frames` frames whose windows start every window_stride_samples() from
  // `samples` (which must hold (num_frames - 1) * stride + window samples) to `out`.
  void ComputeFrames(const float* samples, size_t num_frames, float* out) const;
  // One frame from exactly window_size_samples() samples (working memory is per thread).
  void ComputeFrame(const float* window, float* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Streaming MFCC: samples arrive in chunks of any size; frames come out as soon as they
// are complete. The frames are identical to MfccFrontend::Compute on the concatenation.
class MfccStream {
 public:
  explicit MfccStream(std::shared_ptr<const MfccFrontend> frontend);
  // Builds its own front end from `opts` (validated).
  explicit MfccStream(const MfccOptions& opts);

  const MfccFrontend& frontend() const { return *frontend_; }
  // Appends n samples; computes every frame they complete.
  void AcceptWaveform(const float* samples, size_t n);
  size_t NumFramesReady() const;  // frames available to PopFrames
  // Moves up to max_frames ready frames into `out` (row-major); returns frames moved.
  size_t PopFrames(float* out, size_t max_frames);
  // Moves every ready frame out (NumFramesReady() x coefficients, row-major).
  std::vector<float> PopAllFrames();
  int64_t frames_emitted() const;  // frames handed out since Reset
  // Forgets all samples and frames: the stream behaves as a new one.
  void Reset();

 private:
  std::shared_ptr<const MfccFrontend> frontend_;
  std::vector<float> pending_;  // samples not yet consumed by a full frame
  size_t skip_ = 0;             // samples still to drop before the next window (stride > window)
  std::vector<float> ready_;    // computed frames not yet popped
  size_t ready_begin_ = 0;      // first unpopped value in ready_
  int64_t frames_emitted_ = 0;
};

}  // namespace kws

#endif  // KWS_MFCC_H_
