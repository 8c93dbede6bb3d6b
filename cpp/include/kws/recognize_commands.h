// RecognizeCommands: the streaming decoder that turns a sequence of per-window score
// vectors into command detections (averaging, threshold, suppression), as in SPEC.md.
#ifndef KWS_RECOGNIZE_COMMANDS_H_
#define KWS_RECOGNIZE_COMMANDS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kws {

// Bounds of the decoder's options and state (Validate() and Process() enforce them).
constexpr int64_t kMaxAverageWindowMs = 600000;  // 10 minutes
constexpr int64_t kMaxSuppressionMs = 86400000;  // one day
constexpr int kMaxMinimumCount = 100000;
constexpr size_t kMaxQueuedResults = size_t{1} << 20;  // results held in the window

// Decoder parameters. Defaults are the classic RecognizeCommands class defaults; the
// streaming accuracy test uses window 500 ms and threshold 0.7 (StreamingOptions).
struct RecognizeCommandsOptions {
  int64_t average_window_duration_ms = 1000;  // scores are averaged over this window
  float detection_threshold = 0.2f;           // averaged score must exceed this
  int64_t suppression_ms = 1500;              // no new command this soon after the last
  int minimum_count = 3;                      // fewer queued results: no decision

  // Throws InvalidArgument naming the first bad field and its bound (the constants above).
  void Validate() const;
  std::string ToString() const;
};

// What the decoder says after one result.
struct RecognizeResult {
  std::string label;    // best averaged label (the previous command when undecided)
  float score = 0.0f;   // its averaged score (0 when undecided)
  bool is_new = false;  // true when this result triggers a new command
  int64_t time_ms = 0;  // time of the result that produced this answer
};

// Stateful decoder. One instance per stream; not thread-safe. Results are queued in a
// ring buffer sized from the averaging window (one result per ms at distinct times, up to
// 4096 results at first), which doubles when it fills: once it holds the window's worth
// Process() no longer allocates. More than kMaxQueuedResults results inside one window
// (only possible with many results at the same time) throw InvalidArgument.
class RecognizeCommands {
 public:
  // `labels` in model output order (`_silence_` is special: it starts as the previous
  // label and never suppresses). Throws InvalidArgument for no labels or bad options.
  RecognizeCommands(std::vector<std::string> labels, const RecognizeCommandsOptions& opts);

  // Feeds the scores of one window at `time_ms`. Throws InvalidArgument when
  // num_scores != num_labels() or time_ms is earlier than the newest queued time.
  RecognizeResult Process(const float* scores, size_t num_scores, int64_t time_ms);
  RecognizeResult Process(const std::vector<float>& scores, int64_t time_ms) {
    return Process(scores.data(), scores.size(), time_ms);
  }

  // Same as Process but without building the result string: returns the best label's
  // index (or the previous command's index when undecided) and fills score/is_new.
  int ProcessIndex(const float* scores, size_t num_scores, int64_t time_ms, float* score,
                   bool* is_new);

  // The averaging half of ProcessIndex: queues the result, drops those older than the
  // window and, when enough results span enough of it, sets the best averaged label and
  // its score and returns true; returns false (undecided) otherwise. Leaves the previous
  // command alone: NewCommandRule decides on it. A threshold sweep averages once and
  // applies the rule per threshold, with the same results as one decoder per threshold.
  bool Average(const float* scores, size_t num_scores, int64_t time_ms, int* best_index,
               float* best_score);
  // The new-command rule after a decided average: true (and the previous command set to
  // `best` at `time_ms`) when best_score > threshold, best differs from the previous
  // command and the previous command (unless `_silence_`, index silence_index) is more
  // than suppression_ms old.
  static bool NewCommandRule(int best, float best_score, int64_t time_ms, float threshold,
                             int64_t suppression_ms, int silence_index, int* previous_index,
                             int64_t* previous_time);
  // Index of `_silence_` in labels(), -1 if absent.
  int silence_index() const { return silence_index_; }

  // Back to the start state (previous label `_silence_`, empty queue).
  void Reset();

  const std::vector<std::string>& labels() const { return labels_; }
  int num_labels() const { return static_cast<int>(labels_.size()); }
  const RecognizeCommandsOptions& options() const { return opts_; }
  size_t queued() const { return size_; }        // results currently in the window
  size_t capacity() const { return capacity_; }  // ring buffer capacity (results)

 private:
  void Grow();

  std::vector<std::string> labels_;
  RecognizeCommandsOptions opts_;
  int silence_index_ = -1;  // index of `_silence_` in labels_, -1 if absent

  // Ring buffer of (time, scores) results: slot i holds times_[i], scores_[i*L .. +L).
  std::vector<int64_t> times_;
  std::vector<float> scores_;
  std::vector<float> average_;  // scratch, num_labels
  size_t capacity_ = 0;
  size_t head_ = 0;  // oldest slot
  size_t size_ = 0;

  int previous_index_ = -1;  // previous command; silence_index_ (maybe -1) = `_silence_`
  int64_t previous_time_ = 0;
};

}  // namespace kws

#endif  // KWS_RECOGNIZE_COMMANDS_H_
