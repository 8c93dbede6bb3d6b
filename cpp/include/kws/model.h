// Native model runtime: an immutable Model loaded from a model.kws file, and per-caller
// Streams holding all state (front-end leftovers and every layer's cache).
#ifndef KWS_MODEL_H_
#define KWS_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kws/mfcc.h"

// The models folder a user of the installed CMake package gets (see Model::LoadBundled).
#ifdef KWS_MODELS_DIR
#define KWS_DETAIL_MODELS_DIR KWS_MODELS_DIR
#else
#define KWS_DETAIL_MODELS_DIR ""
#endif

namespace kws {

class Stream;

// The largest model file Model::Load opens (larger files are refused unread).
constexpr uint64_t kMaxModelFileBytes = uint64_t{1} << 30;  // 1 GiB

// CRC-32C (Castagnoli, reflected, as iSCSI and ext4 use) of `n` bytes, continuing from
// `crc` (the result of the previous piece; 0 to start). Crc32c("123456789") = 0xE3069283.
uint32_t Crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);

// The largest model card (<models dir>/<name>.json) Model::BundledCardDecoder reads.
constexpr uint64_t kMaxModelCardBytes = uint64_t{1} << 20;  // 1 MiB

// The decoder settings a bundled model's card recommends (RecognizeCommandsOptions
// fields); each is empty when the card does not recommend it.
struct CardDecoderOptions {
  std::optional<float> detection_threshold;
  std::optional<int64_t> decision_delay_ms;
  std::optional<int64_t> average_window_duration_ms;
  std::optional<bool> allow_repeats;
};

// Weights and configuration. Immutable once loaded: share one Model across threads.
class Model : public std::enable_shared_from_this<Model> {
 public:
  // Loads and fully validates a model.kws file; throws ModelError naming the file and
  // the problem (truncated, corrupt, checksum mismatch, wrong version, bad shapes or
  // metadata). The path must be a regular file of at most kMaxModelFileBytes, checked
  // before it is opened (IoError with the OS's reason, or "it is a directory", ...).
  // When the file carries a `kws_crc32c` metadata entry (every file kws has exported
  // since it was introduced), the CRC-32C of the `kws` metadata text followed by the
  // tensor data must match it; older files without the entry load unchecked.
  static std::shared_ptr<const Model> Load(const std::string& path);
  // Same, from bytes in memory; `name` is used in error messages. verify_checksum=false
  // skips the kws_crc32c comparison (the fuzzer uses it to reach the checks behind it).
  static std::shared_ptr<const Model> LoadFromMemory(const uint8_t* data, size_t size,
                                                     const std::string& name,
                                                     bool verify_checksum = true);
  ~Model();

  // Bundled models: the trained models installed with kws as <models dir>/<name>.kws.
  // The models dir is $KWS_MODELS_DIR when set, else `models_dir` when given, else the
  // folder this library was configured to install them in (<prefix>/share/kws/models).
  // The installed CMake package defines KWS_MODELS_DIR for its users (the relocated
  // folder), which becomes the default argument here.
  // LoadBundled throws InvalidArgument for a name that is not one (letters, digits, '_',
  // '-', '.'; at most 64 characters) and IoError, listing the bundled names, when there
  // is no such model.
  static std::shared_ptr<const Model> LoadBundled(
      const std::string& name, const std::string& models_dir = KWS_DETAIL_MODELS_DIR);
  // The bundled models' names, sorted (empty when the folder does not exist).
  static std::vector<std::string> BundledModelNames(
      const std::string& models_dir = KWS_DETAIL_MODELS_DIR);
  // The folder LoadBundled reads for this `models_dir` argument.
  static std::string BundledModelsDir(const std::string& models_dir = KWS_DETAIL_MODELS_DIR);
  // What the model card of the bundled model `name` (<models dir>/<name>.json, the figures
  // `kws models` shows) recommends for the decoder: stream.recommended_threshold,
  // stream.recommended_decision_delay_ms, stream.recommended_average_window_ms (the
  // averaging window its figures were measured with) and stream.recommended_allow_repeats;
  // all empty when the model has no card. Throws InvalidArgument for a name that is not
  // one, and ModelError naming the card when it is larger than kMaxModelCardBytes, not
  // valid JSON, or recommends values the decoder does not take (a threshold outside
  // [0, 1], a delay that is not a whole number of ms in [0, kMaxDecisionDelayMs], a window
  // that is not one in [1, kMaxAverageWindowMs], repeats that are not true or false).
  static CardDecoderOptions BundledCardDecoder(
      const std::string& name, const std::string& models_dir = KWS_DETAIL_MODELS_DIR);

  const std::string& architecture() const;
  // Identity written by `kws export --model_name/--model_version/--provenance` (empty when
  // the file has none; at most 64, 64 and 1000 bytes).
  const std::string& name() const;
  const std::string& version() const;
  const std::string& provenance() const;
  int64_t num_parameters() const;  // floats stored in the file's tensors
  const std::vector<std::string>& labels() const;
  int num_labels() const;
  const MfccOptions& frontend_options() const;
  int sample_rate() const;
  int clip_samples() const;      // samples in one clip (e.g. 16000)
  int num_frames() const;        // feature frames in one clip (e.g. 98)
  int num_coefficients() const;  // features per frame (e.g. 40)
  int frame_stride_samples() const;
  std::string Summary() const;  // name, layers, shapes, parameter count, provenance
  // Multiply-adds x 2 of the layers (front end excluded) for one whole window.
  int64_t flops_per_window() const;
  // Bytes of layer outputs one whole-clip inference holds: outputs never needed at the
  // same time share memory (for a chain of layers, about the two largest neighbours).
  // Weights and kernel scratch are not included.
  int64_t whole_clip_memory_bytes() const;

  // Whole-clip inference: exactly clip_samples() samples -> num_labels() softmax scores.
  void Predict(const float* samples, size_t n, float* scores) const;
  std::vector<float> Predict(const std::vector<float>& samples) const;
  // From precomputed features (num_frames() x num_coefficients(), row-major).
  void PredictFeatures(const float* features, float* scores) const;

  // A new stream emitting scores every `hop_samples` (a whole number of feature frames,
  // otherwise InvalidArgument).
  std::unique_ptr<Stream> CreateStream(int hop_samples) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  Model();
  std::unique_ptr<Impl> impl_;
};

// Scores for one window of audio.
struct StreamResult {
  std::vector<float> scores;  // softmax, one per label
  int64_t start_sample = 0;   // first sample of the window
  int64_t end_sample = 0;     // one past the last sample of the window
};

// Per-caller streaming state. Feed audio with AcceptWaveform; whenever IsReady(),
// Decode() computes the scores of the next window (one hop after the previous one,
// the first window starting at sample 0) using cached per-layer state.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void AcceptWaveform(const float* samples, size_t n) = 0;
  virtual void InputFinished() = 0;  // no more audio; pending windows can still decode
  virtual bool IsReady() const = 0;  // a full next window is available
  virtual void Decode() = 0;         // computes the next window's scores
  virtual const StreamResult& GetResult() const = 0;  // scores of the last Decode()
  virtual void Reset() = 0;                           // back to a fresh stream
  virtual int hop_samples() const = 0;
  // Model FLOPs (front end excluded) actually spent by the last Decode(): shows what the
  // cached state saves against flops_per_window().
  virtual int64_t last_decode_flops() const = 0;
};

}  // namespace kws

#endif  // KWS_MODEL_H_
