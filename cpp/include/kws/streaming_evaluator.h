// The streaming accuracy test, fast: slides the model's clip over long WAVs, decodes the
// scores with RecognizeCommands and scores the detections against ground truth
// (SPEC.md, "Streaming accuracy test"). The decoding and scoring core takes plain
// (time, scores) sequences, so it is testable without a model.
#ifndef KWS_STREAMING_EVALUATOR_H_
#define KWS_STREAMING_EVALUATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kws/ground_truth.h"
#include "kws/model.h"
#include "kws/recognize_commands.h"

namespace kws {

class BatchScorer;  // internal: batched scoring of every window of a long signal

// Bounds of the streaming test's options (StreamingOptions::Validate and the evaluator).
constexpr int kMaxStreamingClipMs = 60000;  // clip_duration_ms and clip_stride_ms
constexpr int kMaxSweepThresholds = 1000;   // thresholds in one sweep

// Options of the streaming test; defaults are the classic test_streaming_accuracy ones.
struct StreamingOptions {
  int clip_duration_ms = 1000;  // must match the model's clip
  int clip_stride_ms = 30;      // hop between windows (a whole number of frames)
  int64_t average_window_ms = 500;
  int64_t suppression_ms = 1500;
  float detection_threshold = 0.7f;
  int64_t time_tolerance_ms = 750;
  int minimum_count = 3;
  int64_t decision_delay_ms = 0;  // RecognizeCommandsOptions::decision_delay_ms
  bool allow_repeats = false;     // RecognizeCommandsOptions::allow_repeats

  // Throws InvalidArgument naming the first bad field.
  void Validate() const;
  std::string ToString() const;
  // The decoder options, with `threshold` in place of detection_threshold.
  RecognizeCommandsOptions DecoderOptions(float threshold) const;
  RecognizeCommandsOptions DecoderOptions() const { return DecoderOptions(detection_threshold); }
};

// Scores of consecutive windows of one stream.
struct WindowScores {
  int num_labels = 0;
  std::vector<int64_t> times_ms;  // start time of each window (start_sample * 1000 / rate)
  std::vector<float> scores;      // times_ms.size() x num_labels, row-major
  double audio_duration_ms = 0;   // length of the audio the windows came from
  size_t num_windows() const { return times_ms.size(); }
};

// Runs RecognizeCommands over the windows (each at its start time) and returns the new
// commands other than `_silence_`, in time order (verdicts not yet set).
std::vector<Detection> DecodeWindowScores(const WindowScores& windows,
                                          const std::vector<std::string>& labels,
                                          const RecognizeCommandsOptions& decoder);

// The result of one stream (or, summed, of many).
struct StreamEvaluation {
  std::string wav_path;
  std::string ground_truth_path;
  std::vector<Detection> detections;       // at the main threshold, with verdicts
  StreamingAccuracy accuracy;              // at the main threshold
  std::vector<StreamingAccuracy> sweep;    // one per sweep threshold
  int malformed_lines = 0;                 // skipped ground-truth lines
  std::vector<std::string> unknown_words;  // ground-truth words that are not labels
  int64_t num_windows = 0;
};

// Decodes and scores one stream's windows at the main threshold and at every sweep
// threshold (the scores are reused: no model work; one averaging queue serves every
// threshold). At most kMaxSweepThresholds thresholds, each in [0, 1].
StreamEvaluation EvaluateWindowScores(const WindowScores& windows,
                                      const std::vector<std::string>& labels,
                                      const GroundTruth& truth, const StreamingOptions& opts,
                                      const std::vector<float>& sweep_thresholds = {});

// Many streams summed.
struct StreamingReport {
  std::vector<StreamEvaluation> files;  // in the order given
  StreamingAccuracy total;              // summed over files
  std::vector<float> sweep_thresholds;
  std::vector<StreamingAccuracy> sweep_total;  // summed over files, one per threshold
};

// Evaluates long WAVs with one shared, immutable Model. Thread-safe (const methods).
class StreamingEvaluator {
 public:
  // `labels` overrides the model's label names (same count, else InvalidArgument); empty
  // keeps the model's. Throws InvalidArgument if the clip duration differs from the
  // model's, the stride is not a whole number of feature frames or KWS_EVAL_SCORING is
  // set to something else than auto, batched or stream.
  StreamingEvaluator(std::shared_ptr<const Model> model, const StreamingOptions& opts,
                     std::vector<std::string> labels = {});

  const std::vector<std::string>& labels() const { return labels_; }
  const StreamingOptions& options() const { return opts_; }
  const Model& model() const { return *model_; }
  int hop_samples() const { return hop_samples_; }

  // Scores of every window (the first at sample 0, then every hop, while a whole clip
  // fits) of mono samples at the model's rate, equal to the model's live Stream. Batched
  // (see batched()) when the model allows and batching is expected to beat cached
  // Streams, else by cached Streams; the environment variable KWS_EVAL_SCORING
  // (auto, batched, stream; read at construction) forces either. With threads > 1,
  // contiguous runs of windows are scored on separate threads (identical scores).
  WindowScores ComputeScores(const float* samples, size_t n, int threads = 1) const;
  // The same scores computed the live way: cached-state Streams fed the audio hop by hop
  // (contiguous runs of windows on separate threads, each stream started at its first).
  WindowScores ComputeScoresWithStream(const float* samples, size_t n, int threads = 1) const;
  // True when ComputeScores batches the work of many hops (whole-file MFCC, row layers
  // once per frame, dense layers over many windows); false when it uses cached Streams.
  bool batched() const { return batch_ != nullptr; }
  // How ComputeScores works for this model, and why it is not batched when it is not.
  const std::string& scoring_method() const { return scoring_method_; }

  // Reads a mono WAV (at the model's sample rate) and its ground truth and evaluates it.
  // The WAV is read, scored and decoded in blocks of about 2 M samples (all thresholds
  // at once), so memory does not grow with the file's length; the scores and detections
  // are those of ComputeScores on the whole file. At most kMaxSweepThresholds thresholds,
  // each in [0, 1].
  StreamEvaluation Evaluate(const std::string& wav_path, const std::string& ground_truth_path,
                            const std::vector<float>& sweep_thresholds = {}, int threads = 1) const;

  // Evaluates pairs of files on `threads` threads (0: all cores) and sums the figures;
  // with fewer files than threads, each file's windows are split across threads too.
  StreamingReport EvaluateMany(const std::vector<std::string>& wav_paths,
                               const std::vector<std::string>& ground_truth_paths, int threads,
                               const std::vector<float>& sweep_thresholds = {}) const;

 private:
  std::shared_ptr<const Model> model_;
  StreamingOptions opts_;
  std::vector<std::string> labels_;
  int hop_samples_ = 0;
  std::shared_ptr<const BatchScorer> batch_;
  std::string scoring_method_;
};

}  // namespace kws

#endif  // KWS_STREAMING_EVALUATOR_H_
