// The streaming test's decoding and scoring core on scripted score sequences, and the
// options checks. (The model-driven path is tested from Python with an exported model.)
#include "kws/streaming_evaluator.h"

#include <cmath>
#include <string>
#include <vector>

#include "kws/error.h"
#include "test_support.h"

namespace {

using kws::DetectionVerdict;
using kws::StreamingOptions;
using kws::WindowScores;

const std::vector<std::string> kLabels = {"_silence_", "_unknown_", "yes", "no"};

// A 20 s stream of 30 ms windows: silence, except `label` at `peak` during the windows
// starting in [begin_ms, end_ms).
struct Burst {
  int label;
  int64_t begin_ms, end_ms;
  float peak;
};

WindowScores Script(const std::vector<Burst>& bursts) {
  WindowScores w;
  w.num_labels = 4;
  w.audio_duration_ms = 20000;
  for (int64_t t = 0; t + 1000 <= 20000; t += 30) {
    std::vector<float> s = {0.9f, 0.05f, 0.03f, 0.02f};
    for (const Burst& b : bursts) {
      if (t >= b.begin_ms && t < b.end_ms) {
        s.assign(4, (1.0f - b.peak) / 3);
        s[b.label] = b.peak;
      }
    }
    w.times_ms.push_back(t);
    w.scores.insert(w.scores.end(), s.begin(), s.end());
  }
  return w;
}

TEST(StreamingEvaluator, DefaultsAreTheClassicStreamingTestOnes) {
  StreamingOptions o;
  ASSERT_TRUE(o.clip_duration_ms == 1000 && o.clip_stride_ms == 30);
  ASSERT_TRUE(o.average_window_ms == 500 && o.suppression_ms == 1500);
  ASSERT_NEAR(o.detection_threshold, 0.7, 1e-7);
  ASSERT_TRUE(o.time_tolerance_ms == 750 && o.minimum_count == 3);
}

TEST(StreamingEvaluator, DetectsScriptedWordsAtTheRightTimes) {
  // yes at 2000 ms, no at 6000 ms, and an unknown word's burst at 10000 ms.
  WindowScores w =
      Script({{2, 2000, 2600, 0.95f}, {3, 6000, 6600, 0.95f}, {1, 10000, 10600, 0.95f}});
  auto dets = kws::DecodeWindowScores(w, kLabels, StreamingOptions().DecoderOptions());
  ASSERT_EQ(dets.size(), 3);
  // The 500 ms average crosses 0.7 once more than ~70% of the window is the word.
  ASSERT_TRUE(dets[0].label == "yes" && dets[0].time_ms > 2000 && dets[0].time_ms < 2500);
  ASSERT_EQ(dets[0].time_ms % 30, 0);  // a window start time
  ASSERT_TRUE(dets[1].label == "no" && dets[1].time_ms > 6000 && dets[1].time_ms < 6500);
  ASSERT_EQ(dets[2].label, "_unknown_");
  ASSERT_GT(dets[0].score, 0.7f);
}

TEST(StreamingEvaluator, ScoresAStreamAndSweepsThresholds) {
  // yes (right), no (heard as yes: wrong), up... a burst with no word near it (false
  // positive), and a quiet word (peak 0.6) that only low thresholds catch.
  WindowScores w = Script({{2, 1000, 1600, 0.95f},
                           {2, 5000, 5600, 0.95f},
                           {3, 9000, 9600, 0.95f},
                           {3, 13000, 13600, 0.6f}});
  kws::GroundTruth truth =
      kws::ParseGroundTruth("yes, 1000\nno, 5000\nno, 13000\nmaybe, 17000\n", "truth.txt");
  StreamingOptions o;
  auto eval = kws::EvaluateWindowScores(w, kLabels, truth, o, {0.3f, 0.5f, 0.7f, 0.9f, 0.99f});
  ASSERT_EQ(eval.ground_truth_path, "truth.txt");
  ASSERT_EQ(eval.num_windows, int64_t(w.times_ms.size()));
  ASSERT_TRUE((eval.unknown_words == std::vector<std::string>{"maybe"}));
  ASSERT_EQ(eval.detections.size(), 3);
  ASSERT_EQ(eval.detections[0].verdict, DetectionVerdict::kCorrect);
  ASSERT_EQ(eval.detections[1].verdict, DetectionVerdict::kWrong);
  ASSERT_EQ(eval.detections[2].verdict, DetectionVerdict::kFalsePositive);
  ASSERT_EQ(eval.accuracy.ground_truth_words, 4);
  ASSERT_TRUE(eval.accuracy.correct == 1 && eval.accuracy.wrong == 1 &&
              eval.accuracy.false_positives == 1 && eval.accuracy.matched == 2);
  ASSERT_TRUE(eval.accuracy.Summary() ==
              "50.0% matched, 25.0% correctly, 25.0% wrongly, 25.0% false positives");
  ASSERT_NEAR(eval.accuracy.false_positives_per_hour(), 180.0, 1e-9);  // 1 in 20 s
  ASSERT_EQ(eval.sweep.size(), 5);
  // The main threshold's point equals the sweep's 0.7 point.
  ASSERT_TRUE(eval.sweep[2].correct == 1 && eval.sweep[2].false_positives == 1);
  // Low thresholds also catch the quiet `no`; 0.99 catches nothing.
  ASSERT_TRUE(eval.sweep[0].correct == 2 && eval.sweep[1].correct == 2);
  ASSERT_EQ(eval.sweep[4].correct + eval.sweep[4].wrong + eval.sweep[4].false_positives, 0);
  ASSERT_NEAR(eval.sweep[4].miss_rate(), 1.0, 0);
  for (size_t k = 1; k < eval.sweep.size(); ++k)
    ASSERT_GE(eval.sweep[k].miss_rate(), eval.sweep[k - 1].miss_rate());
}

TEST(StreamingEvaluator, CoreRejectsMismatchedShapesAndBadOptions) {
  WindowScores w = Script({});
  KWS_EXPECT_THROW_MSG(kws::DecodeWindowScores(w, {"a", "b"}, StreamingOptions().DecoderOptions()),
                       kws::InvalidArgument, "label list 2");
  w.scores.pop_back();
  KWS_EXPECT_THROW_MSG(kws::DecodeWindowScores(w, kLabels, StreamingOptions().DecoderOptions()),
                       kws::InvalidArgument, "windows of 4 labels");
  StreamingOptions o;
  o.clip_stride_ms = 0;
  KWS_EXPECT_THROW_MSG(o.Validate(), kws::InvalidArgument, "clip_stride_ms");
  o = StreamingOptions();
  o.time_tolerance_ms = -1;
  KWS_EXPECT_THROW_MSG(o.Validate(), kws::InvalidArgument, "time_tolerance_ms");
  o = StreamingOptions();
  o.detection_threshold = 1.5f;
  KWS_EXPECT_THROW_MSG(o.Validate(), kws::InvalidArgument, "detection_threshold");
}

TEST(StreamingEvaluator, SweepBoundsAndOneQueueForAllThresholds) {
  WindowScores w = Script({{2, 1000, 1600, 0.95f}, {3, 5000, 5600, 0.75f}, {3, 9000, 9600, 0.55f}});
  kws::GroundTruth truth = kws::ParseGroundTruth("yes, 1000\nno, 5000\n", "t.txt");
  StreamingOptions o;
  std::vector<float> sweep;
  for (int k = 0; k <= 20; ++k) sweep.push_back(0.05f * k);
  const auto eval = kws::EvaluateWindowScores(w, kLabels, truth, o, sweep);
  // Each sweep point equals a decoder of its own at that threshold.
  for (size_t k = 0; k < sweep.size(); ++k) {
    std::vector<kws::Detection> alone =
        kws::DecodeWindowScores(w, kLabels, o.DecoderOptions(sweep[k]));
    const auto acc =
        kws::ScoreDetections(truth.entries, &alone, o.time_tolerance_ms, w.audio_duration_ms);
    ASSERT_TRUE(acc.correct == eval.sweep[k].correct && acc.wrong == eval.sweep[k].wrong &&
                acc.false_positives == eval.sweep[k].false_positives &&
                acc.matched == eval.sweep[k].matched);
  }
  std::vector<float> too_many(kws::kMaxSweepThresholds + 1, 0.5f);
  KWS_EXPECT_THROW_MSG(kws::EvaluateWindowScores(w, kLabels, truth, o, too_many),
                       kws::InvalidArgument,
                       "1001 sweep thresholds, more than the maximum of 1000");
  KWS_EXPECT_THROW_MSG(kws::EvaluateWindowScores(w, kLabels, truth, o, {0.5f, std::nanf("")}),
                       kws::InvalidArgument, "is not in [0, 1]");
  o.clip_stride_ms = 2147483647;
  KWS_EXPECT_THROW_MSG(o.Validate(), kws::InvalidArgument,
                       "clip_stride_ms must be in (0, 60000] ms");
  o = StreamingOptions();
  o.average_window_ms = 10000000;
  KWS_EXPECT_THROW_MSG(o.Validate(), kws::InvalidArgument, "average_window_duration_ms");
}

}  // namespace
