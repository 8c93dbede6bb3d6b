#include "kws/streaming_evaluator.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "kws/error.h"
#include "sweep_decoder.h"

namespace kws {

SweepDecoder::SweepDecoder(const std::vector<std::string>& labels,
                           const RecognizeCommandsOptions& options, std::vector<float> thresholds)
    : labels_(labels),
      averager_(labels, options),
      thresholds_(std::move(thresholds)),
      rules_(thresholds_.size()),
      detections_(thresholds_.size()) {
  for (CommandRule& rule : rules_) rule.Reset(averager_.silence_index());
}

void SweepDecoder::Add(const float* scores, int64_t time_ms) {
  int best = 0;
  float best_score = 0.0f;
  const bool decided = averager_.Average(scores, labels_.size(), time_ms, &best, &best_score);
  const float* average = decided ? averager_.average() : nullptr;
  for (size_t k = 0; k < thresholds_.size(); ++k) {
    int64_t command_time = 0;
    float command_score = 0.0f;
    const int command = rules_[k].Step(average, labels_.size(), best, best_score, time_ms,
                                       thresholds_[k], averager_.options(),
                                       averager_.silence_index(), &command_time, &command_score);
    if (command >= 0 && labels_[command] != "_silence_")
      detections_[k].push_back(
          {labels_[command], command_time, command_score, DetectionVerdict::kFalsePositive});
  }
}

void SweepDecoder::Finish() {
  for (size_t k = 0; k < thresholds_.size(); ++k) {
    int64_t command_time = 0;
    float command_score = 0.0f;
    const int command = rules_[k].Finish(averager_.silence_index(), &command_time, &command_score);
    if (command >= 0)
      detections_[k].push_back(
          {labels_[command], command_time, command_score, DetectionVerdict::kFalsePositive});
  }
}

void CheckSweepThresholds(const std::vector<float>& thresholds) {
  if (thresholds.size() > static_cast<size_t>(kMaxSweepThresholds))
    throw InvalidArgument("streaming test: " + std::to_string(thresholds.size()) +
                          " sweep thresholds, more than the maximum of " +
                          std::to_string(kMaxSweepThresholds));
  for (float t : thresholds)
    if (!(t >= 0.0f && t <= 1.0f))
      throw InvalidArgument("streaming test: sweep threshold " + std::to_string(t) +
                            " is not in [0, 1]");
}

void StreamingOptions::Validate() const {
  auto bad = [](const std::string& what) { throw InvalidArgument("streaming options: " + what); };
  if (clip_duration_ms <= 0 || clip_duration_ms > kMaxStreamingClipMs)
    bad("clip_duration_ms must be in (0, " + std::to_string(kMaxStreamingClipMs) + "] ms, got " +
        std::to_string(clip_duration_ms) + " ms");
  if (clip_stride_ms <= 0 || clip_stride_ms > kMaxStreamingClipMs)
    bad("clip_stride_ms must be in (0, " + std::to_string(kMaxStreamingClipMs) + "] ms, got " +
        std::to_string(clip_stride_ms) + " ms");
  if (time_tolerance_ms < 0 || time_tolerance_ms > kMaxSuppressionMs)
    bad("time_tolerance_ms must be in [0, " + std::to_string(kMaxSuppressionMs) +
        "] ms (one day), got " + std::to_string(time_tolerance_ms) + " ms");
  DecoderOptions().Validate();
}

std::string StreamingOptions::ToString() const {
  std::ostringstream os;
  os << "StreamingOptions(clip_duration_ms=" << clip_duration_ms
     << ", clip_stride_ms=" << clip_stride_ms << ", average_window_ms=" << average_window_ms
     << ", suppression_ms=" << suppression_ms << ", detection_threshold=" << detection_threshold
     << ", time_tolerance_ms=" << time_tolerance_ms << ", minimum_count=" << minimum_count
     << ", decision_delay_ms=" << decision_delay_ms
     << ", allow_repeats=" << (allow_repeats ? "true" : "false") << ")";
  return os.str();
}

RecognizeCommandsOptions StreamingOptions::DecoderOptions(float threshold) const {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = average_window_ms;
  o.detection_threshold = threshold;
  o.suppression_ms = suppression_ms;
  o.minimum_count = minimum_count;
  o.decision_delay_ms = decision_delay_ms;
  o.allow_repeats = allow_repeats;
  return o;
}

std::vector<Detection> DecodeWindowScores(const WindowScores& windows,
                                          const std::vector<std::string>& labels,
                                          const RecognizeCommandsOptions& decoder) {
  if (windows.num_labels != static_cast<int>(labels.size()))
    throw InvalidArgument("DecodeWindowScores: the scores have " +
                          std::to_string(windows.num_labels) + " labels, the label list " +
                          std::to_string(labels.size()));
  if (windows.scores.size() != windows.times_ms.size() * labels.size())
    throw InvalidArgument("DecodeWindowScores: " + std::to_string(windows.scores.size()) +
                          " scores for " + std::to_string(windows.times_ms.size()) +
                          " windows of " + std::to_string(labels.size()) + " labels");
  RecognizeCommands recognizer(labels, decoder);
  std::vector<Detection> detections;
  const size_t num_labels = labels.size();
  for (size_t w = 0; w < windows.times_ms.size(); ++w) {
    float score = 0.0f;
    bool is_new = false;
    const int index = recognizer.ProcessIndex(windows.scores.data() + w * num_labels, num_labels,
                                              windows.times_ms[w], &score, &is_new);
    if (is_new && labels[index] != "_silence_")
      detections.push_back(
          {labels[index], recognizer.command_time(), score, DetectionVerdict::kFalsePositive});
  }
  const RecognizeResult last = recognizer.Finish();
  if (last.is_new)
    detections.push_back({last.label, last.time_ms, last.score, DetectionVerdict::kFalsePositive});
  return detections;
}

StreamEvaluation EvaluateWindowScores(const WindowScores& windows,
                                      const std::vector<std::string>& labels,
                                      const GroundTruth& truth, const StreamingOptions& opts,
                                      const std::vector<float>& sweep_thresholds) {
  opts.Validate();
  CheckSweepThresholds(sweep_thresholds);
  if (windows.num_labels != static_cast<int>(labels.size()))
    throw InvalidArgument("EvaluateWindowScores: the scores have " +
                          std::to_string(windows.num_labels) + " labels, the label list " +
                          std::to_string(labels.size()));
  if (windows.scores.size() != windows.times_ms.size() * labels.size())
    throw InvalidArgument("EvaluateWindowScores: " + std::to_string(windows.scores.size()) +
                          " scores for " + std::to_string(windows.times_ms.size()) +
                          " windows of " + std::to_string(labels.size()) + " labels");
  std::vector<float> thresholds = {opts.detection_threshold};
  thresholds.insert(thresholds.end(), sweep_thresholds.begin(), sweep_thresholds.end());
  SweepDecoder decoder(labels, opts.DecoderOptions(), thresholds);
  for (size_t w = 0; w < windows.num_windows(); ++w)
    decoder.Add(windows.scores.data() + w * labels.size(), windows.times_ms[w]);
  return ScoreSweep(&decoder, labels, truth, opts, windows.num_windows(),
                    windows.audio_duration_ms);
}

StreamEvaluation ScoreSweep(SweepDecoder* decoder, const std::vector<std::string>& labels,
                            const GroundTruth& truth, const StreamingOptions& opts,
                            size_t num_windows, double audio_duration_ms) {
  StreamEvaluation result;
  result.ground_truth_path = truth.source;
  result.malformed_lines = truth.malformed_lines;
  result.unknown_words = UnknownGroundTruthWords(truth, labels);
  result.num_windows = static_cast<int64_t>(num_windows);
  decoder->Finish();
  std::vector<std::vector<Detection>>& found = decoder->detections();
  result.detections = std::move(found[0]);
  result.accuracy =
      ScoreDetections(truth.entries, &result.detections, opts.time_tolerance_ms, audio_duration_ms);
  for (size_t k = 1; k < found.size(); ++k)
    result.sweep.push_back(
        ScoreDetections(truth.entries, &found[k], opts.time_tolerance_ms, audio_duration_ms));
  return result;
}

}  // namespace kws
