#include "kws/recognize_commands.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "kws/error.h"

namespace kws {

namespace {
const char kSilenceLabel[] = "_silence_";
constexpr size_t kInitialCapacity = 4096;
}  // namespace

void RecognizeCommandsOptions::Validate() const {
  if (average_window_duration_ms <= 0 || average_window_duration_ms > kMaxAverageWindowMs)
    throw InvalidArgument("RecognizeCommands: average_window_duration_ms must be in (0, " +
                          std::to_string(kMaxAverageWindowMs) + "] ms (10 minutes), got " +
                          std::to_string(average_window_duration_ms) + " ms");
  if (!(detection_threshold >= 0.0f && detection_threshold <= 1.0f))
    throw InvalidArgument("RecognizeCommands: detection_threshold must be in [0, 1], got " +
                          std::to_string(detection_threshold));
  if (suppression_ms < 0 || suppression_ms > kMaxSuppressionMs)
    throw InvalidArgument("RecognizeCommands: suppression_ms must be in [0, " +
                          std::to_string(kMaxSuppressionMs) + "] ms (one day), got " +
                          std::to_string(suppression_ms) + " ms");
  if (minimum_count < 1 || minimum_count > kMaxMinimumCount)
    throw InvalidArgument("RecognizeCommands: minimum_count must be in [1, " +
                          std::to_string(kMaxMinimumCount) + "] results, got " +
                          std::to_string(minimum_count));
  if (decision_delay_ms < 0 || decision_delay_ms > kMaxDecisionDelayMs)
    throw InvalidArgument("RecognizeCommands: decision_delay_ms must be in [0, " +
                          std::to_string(kMaxDecisionDelayMs) + "] ms (10 seconds), got " +
                          std::to_string(decision_delay_ms) + " ms");
}

std::string RecognizeCommandsOptions::ToString() const {
  std::ostringstream os;
  os << "RecognizeCommandsOptions(average_window_duration_ms=" << average_window_duration_ms
     << ", detection_threshold=" << detection_threshold << ", suppression_ms=" << suppression_ms
     << ", minimum_count=" << minimum_count << ", decision_delay_ms=" << decision_delay_ms
     << ", allow_repeats=" << (allow_repeats ? "true" : "false") << ")";
  return os.str();
}

RecognizeCommands::RecognizeCommands(std::vector<std::string> labels,
                                     const RecognizeCommandsOptions& opts)
    : labels_(std::move(labels)), opts_(opts) {
  opts_.Validate();
  if (labels_.empty()) throw InvalidArgument("RecognizeCommands: the label list is empty");
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] == kSilenceLabel) {
      silence_index_ = static_cast<int>(i);
      break;
    }
  }
  // Results at distinct integer-ms times: at most window + 1 of them fit in the window
  // [t - window, t]. Plus the one being added before pruning. Long windows start smaller
  // and grow as results arrive, so memory follows what is queued, not what is allowed.
  capacity_ =
      std::min<size_t>(static_cast<size_t>(opts_.average_window_duration_ms) + 2, kInitialCapacity);
  times_.assign(capacity_, 0);
  scores_.assign(capacity_ * labels_.size(), 0.0f);
  average_.assign(labels_.size(), 0.0f);
  Reset();
}

void CommandRule::Reset(int silence_index) {
  previous_index = silence_index;
  previous_time = 0;
  pending = false;
  pending_time = 0;
}

int CommandRule::Step(const float* average, size_t num_labels, int best, float best_score,
                      int64_t time_ms, float threshold, const RecognizeCommandsOptions& options,
                      int silence_index, int64_t* command_time, float* command_score) {
  if (pending) {
    if (time_ms - pending_time > options.decision_delay_ms)
      return Finish(silence_index, command_time, command_score);
    if (average != nullptr)
      for (size_t i = 0; i < num_labels; ++i) peak[i] = std::max(peak[i], average[i]);
    return -1;
  }
  if (average == nullptr) return -1;
  const bool previous_is_silence = previous_index == silence_index;
  const bool suppressed =
      !previous_is_silence && (time_ms - previous_time) <= options.suppression_ms;
  // Past the suppression, a repeat of the previous command is new when allowed (a
  // previous `_silence_` never suppresses, and `_silence_` again is no news).
  const bool repeat_allowed = options.allow_repeats && !previous_is_silence;
  if (!(best_score > threshold && (best != previous_index || repeat_allowed) && !suppressed))
    return -1;
  if (options.decision_delay_ms == 0 || best == silence_index) {
    previous_index = best;
    previous_time = time_ms;
    *command_time = time_ms;
    *command_score = best_score;
    return best;
  }
  pending = true;
  pending_time = time_ms;
  peak.assign(average, average + num_labels);
  return -1;
}

int CommandRule::Finish(int silence_index, int64_t* command_time, float* command_score) {
  if (!pending) return -1;
  // The peak label other than `_silence_` (first of ties); the label that started the
  // decision is one, so there is always one.
  int label = -1;
  for (size_t i = 0; i < peak.size(); ++i)
    if (static_cast<int>(i) != silence_index && (label < 0 || peak[i] > peak[label]))
      label = static_cast<int>(i);
  pending = false;
  previous_index = label;
  previous_time = pending_time;
  *command_time = pending_time;
  *command_score = peak[label];
  return label;
}

void RecognizeCommands::Reset() {
  head_ = 0;
  size_ = 0;
  rule_.Reset(silence_index_);
}

void RecognizeCommands::Grow() {
  // Reached when a long window fills up or many results share timestamps; keeps the
  // queue order.
  if (capacity_ >= kMaxQueuedResults)
    throw InvalidArgument("RecognizeCommands: more than " + std::to_string(kMaxQueuedResults) +
                          " results within the averaging window of " +
                          std::to_string(opts_.average_window_duration_ms) +
                          " ms (results at repeated times?)");
  const size_t num_labels = labels_.size();
  const size_t new_capacity = std::min(capacity_ * 2, kMaxQueuedResults);
  std::vector<int64_t> times(new_capacity, 0);
  std::vector<float> scores(new_capacity * num_labels, 0.0f);
  for (size_t k = 0; k < size_; ++k) {
    const size_t slot = (head_ + k) % capacity_;
    times[k] = times_[slot];
    std::copy(scores_.begin() + slot * num_labels, scores_.begin() + (slot + 1) * num_labels,
              scores.begin() + k * num_labels);
  }
  times_.swap(times);
  scores_.swap(scores);
  capacity_ = new_capacity;
  head_ = 0;
}

bool RecognizeCommands::Average(const float* scores, size_t num_scores, int64_t time_ms,
                                int* best_index, float* best_score) {
  const size_t num_labels = labels_.size();
  if (num_scores != num_labels)
    throw InvalidArgument("RecognizeCommands: expected " + std::to_string(num_labels) +
                          " scores (one per label), got " + std::to_string(num_scores));
  if (size_ > 0) {
    const int64_t newest = times_[(head_ + size_ - 1) % capacity_];
    if (time_ms < newest)
      throw InvalidArgument("RecognizeCommands: results must come in time order, but time " +
                            std::to_string(time_ms) + " ms is earlier than the newest " +
                            std::to_string(newest) + " ms");
  }

  // 2. Append, then drop results older than time - window.
  if (size_ == capacity_) Grow();
  const size_t tail = (head_ + size_) % capacity_;
  times_[tail] = time_ms;
  std::copy(scores, scores + num_labels, scores_.begin() + tail * num_labels);
  ++size_;
  const int64_t time_limit = time_ms - opts_.average_window_duration_ms;
  while (times_[head_] < time_limit) {
    head_ = (head_ + 1) % capacity_;
    --size_;
  }

  // 3. Too few results, or too short a span: no decision.
  const int64_t span = time_ms - times_[head_];
  if (static_cast<int64_t>(size_) < opts_.minimum_count ||
      span < opts_.average_window_duration_ms / 4)
    return false;

  // 4. Average each label over the queue (oldest first) and take the best (first of ties).
  const float count = static_cast<float>(size_);
  std::fill(average_.begin(), average_.end(), 0.0f);
  for (size_t k = 0; k < size_; ++k) {
    const float* row = scores_.data() + ((head_ + k) % capacity_) * num_labels;
    for (size_t i = 0; i < num_labels; ++i) average_[i] += row[i] / count;
  }
  int best = 0;
  for (size_t i = 1; i < num_labels; ++i)
    if (average_[i] > average_[best]) best = static_cast<int>(i);
  *best_index = best;
  *best_score = average_[best];
  return true;
}

int RecognizeCommands::ProcessIndex(const float* scores, size_t num_scores, int64_t time_ms,
                                    float* score, bool* is_new) {
  int best = 0;
  float best_score = 0.0f;
  const bool decided = Average(scores, num_scores, time_ms, &best, &best_score);
  // 5./6. Suppression and the new-command rule (with a decision delay, the peak label).
  int64_t command_time = 0;
  float command_score = 0.0f;
  const int command =
      rule_.Step(decided ? average_.data() : nullptr, labels_.size(), best, best_score, time_ms,
                 opts_.detection_threshold, opts_, silence_index_, &command_time, &command_score);
  *is_new = command >= 0;
  if (*is_new) {
    *score = command_score;
    return command;
  }
  if (!decided) {
    // Undecided: keep the previous answer.
    *score = 0.0f;
    return rule_.previous_index;
  }
  *score = best_score;
  return best;
}

namespace {
RecognizeResult MakeResult(const std::vector<std::string>& labels, int index, float score,
                           bool is_new, int64_t time_ms) {
  RecognizeResult result;
  result.label = index >= 0 ? labels[index] : std::string(kSilenceLabel);
  result.score = score;
  result.is_new = is_new;
  result.time_ms = time_ms;
  return result;
}
}  // namespace

RecognizeResult RecognizeCommands::Process(const float* scores, size_t num_scores,
                                           int64_t time_ms) {
  float score = 0.0f;
  bool is_new = false;
  const int index = ProcessIndex(scores, num_scores, time_ms, &score, &is_new);
  return MakeResult(labels_, index, score, is_new, is_new ? rule_.previous_time : time_ms);
}

int RecognizeCommands::FinishIndex(float* score, bool* is_new, int64_t* time_ms) {
  *score = 0.0f;
  *time_ms = 0;
  const int command = rule_.Finish(silence_index_, time_ms, score);
  *is_new = command >= 0;
  return *is_new ? command : rule_.previous_index;
}

RecognizeResult RecognizeCommands::Finish() {
  float score = 0.0f;
  bool is_new = false;
  int64_t time_ms = 0;
  const int index = FinishIndex(&score, &is_new, &time_ms);
  return MakeResult(labels_, index, score, is_new, time_ms);
}

}  // namespace kws
