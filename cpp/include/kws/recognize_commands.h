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
constexpr int64_t kMaxDecisionDelayMs = 10000;         // 10 seconds
constexpr size_t kMaxQueuedResults = size_t{1} << 20;  // results held in the window

// Decoder parameters. Defaults are the classic RecognizeCommands class defaults; the
// streaming accuracy test uses window 500 ms and threshold 0.7 (StreamingOptions).
struct RecognizeCommandsOptions {
  int64_t average_window_duration_ms = 1000;  // scores are averaged over this window
  float detection_threshold = 0.2f;           // averaged score must exceed this
  int64_t suppression_ms = 1500;              // no new command this soon after the last
  int minimum_count = 3;                      // fewer queued results: no decision
  // 0: a command is reported at the result whose averaged score first passes the
  // threshold (the classic rule). Otherwise the decision waits: the command is the label
  // (other than `_silence_`) whose averaged score peaks highest from that result until
  // this many ms after it, reported at the first result past then, with the time of the
  // result that passed the threshold.
  int64_t decision_delay_ms = 0;
  // false: a label is reported again only after another label (or `_silence_`) has been
  // reported between (the classic rule), so a word said twice with no reported silence
  // between is reported once. true: the same label may be reported again once
  // suppression_ms has passed since it was last reported.
  bool allow_repeats = false;

  // Throws InvalidArgument naming the first bad field and its bound (the constants above).
  void Validate() const;
  std::string ToString() const;
};

// What the decoder says after one result.
struct RecognizeResult {
  std::string label;    // best averaged label (the previous command when undecided)
  float score = 0.0f;   // its averaged score (0 when undecided)
  bool is_new = false;  // true when this result triggers a new command
  int64_t time_ms = 0;  // time of the result that produced this answer; of a new
                        // command, the time its averaged score passed the threshold
};

// The new-command rule's state for one threshold: the previous command and, with a
// decision delay, the command being decided. RecognizeCommands holds one; a threshold
// sweep holds one per threshold over one shared average.
struct CommandRule {
  int previous_index = -1;  // previous command; the silence index (maybe -1) = `_silence_`
  int64_t previous_time = 0;
  bool pending = false;  // a command is being decided (decision_delay_ms > 0)
  int64_t pending_time = 0;
  std::vector<float> peak;  // per label, the highest average since pending_time

  void Reset(int silence_index);
  // One result at `time_ms`: `average` is the averaged scores (nullptr when undecided),
  // `best` and `best_score` their best label and score. Returns the index of a new
  // command (its time in *command_time, score in *command_score), or -1: a command when
  // best_score > threshold, best differs from the previous command (or allow_repeats)
  // and the previous command (unless `_silence_`) is more than suppression_ms old; with
  // decision_delay_ms, the peak label once the delay has passed.
  int Step(const float* average, size_t num_labels, int best, float best_score, int64_t time_ms,
           float threshold, const RecognizeCommandsOptions& options, int silence_index,
           int64_t* command_time, float* command_score);
  // The command being decided, now (end of input), or -1 when there is none.
  int Finish(int silence_index, int64_t* command_time, float* command_score);
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

  // With decision_delay_ms > 0, a command still being decided when the input ends:
  // reported now (is_new true, with the time its score passed the threshold); otherwise
  // is_new is false. The decoder can go on after it.
  RecognizeResult Finish();
  // Same as Finish but without building the result string: returns the command's index
  // (or the previous command's when there is none) and fills score/is_new/time_ms.
  int FinishIndex(float* score, bool* is_new, int64_t* time_ms);

  // The averaging half of ProcessIndex: queues the result, drops those older than the
  // window and, when enough results span enough of it, sets the best averaged label and
  // its score and returns true; returns false (undecided) otherwise. Leaves the previous
  // command alone: a CommandRule decides on it. A threshold sweep averages once and
  // applies one rule per threshold, with the same results as one decoder per threshold.
  bool Average(const float* scores, size_t num_scores, int64_t time_ms, int* best_index,
               float* best_score);
  // The averaged scores of the last decided Average (num_labels of them).
  const float* average() const { return average_.data(); }
  // Time of the latest command (its threshold crossing); 0 before the first.
  int64_t command_time() const { return rule_.previous_time; }
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

  CommandRule rule_;
};

}  // namespace kws

#endif  // KWS_RECOGNIZE_COMMANDS_H_
