// Ground-truth parsing and streaming accuracy scoring on hand-made detections.
#include "kws/ground_truth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kws/error.h"
#include "test_support.h"

namespace {

using kws::Detection;
using kws::DetectionVerdict;
using kws::GroundTruth;
using kws::GroundTruthEntry;
using kws::StreamingAccuracy;

TEST(GroundTruth, ParsesClassicLinesSortsAndCountsMalformed) {
  const std::string text =
      "yes, 2000.562500\n"
      "no,1000\n"
      "\n"
      "just one field\n"
      "a, b, 3\n"
      "up, 12abc\n"
      " , 5\n"
      "_unknown_, 1500.999\r\n"
      "left, -0\n";
  GroundTruth gt = kws::ParseGroundTruth(text, "gt.txt");
  ASSERT_EQ(gt.source, "gt.txt");
  ASSERT_EQ(gt.entries.size(), 4);
  ASSERT_TRUE(gt.entries[0].label == "left" && gt.entries[0].time_ms == 0);
  ASSERT_TRUE(gt.entries[1].label == "no" && gt.entries[1].time_ms == 1000);
  ASSERT_TRUE(gt.entries[2].label == "_unknown_" && gt.entries[2].time_ms == 1500);  // truncated
  ASSERT_TRUE(gt.entries[3].label == "yes" && gt.entries[3].time_ms == 2000);
  ASSERT_EQ(gt.malformed_lines, 4);  // the blank line is not counted
  ASSERT_TRUE((gt.malformed_line_numbers == std::vector<int>{4, 5, 6, 7}));
}

TEST(GroundTruth, UnknownWordsAreListedOnce) {
  GroundTruth gt = kws::ParseGroundTruth("yes, 1\nmaybe, 2\nyes, 3\nzzz, 4\nmaybe, 5\n", "x");
  auto unknown = kws::UnknownGroundTruthWords(gt, {"_silence_", "_unknown_", "yes"});
  ASSERT_TRUE((unknown == std::vector<std::string>{"maybe", "zzz"}));
}

TEST(GroundTruth, WriteThenReadRoundTrips) {
  const std::string path = "ground_truth_test_roundtrip.txt";
  std::vector<GroundTruthEntry> entries = {{"yes", 1234}, {"_unknown_", 4321}};
  kws::WriteGroundTruth(path, entries);
  GroundTruth gt = kws::ReadGroundTruth(path);
  std::remove(path.c_str());
  ASSERT_TRUE(gt.entries.size() == 2 && gt.malformed_lines == 0);
  ASSERT_TRUE(gt.entries[0].label == "yes" && gt.entries[0].time_ms == 1234);
  ASSERT_TRUE(gt.entries[1].label == "_unknown_" && gt.entries[1].time_ms == 4321);
  KWS_EXPECT_THROW_MSG(kws::ReadGroundTruth("no/such/file.txt"), kws::IoError, "no/such/file.txt");
}

std::vector<Detection> Dets(std::vector<std::pair<std::string, int64_t>> items) {
  std::vector<Detection> out;
  for (auto& [label, t] : items) out.push_back({label, t, 0.9f, DetectionVerdict::kCorrect});
  return out;
}

TEST(GroundTruth, ScoresCorrectWrongAndFalsePositives) {
  std::vector<GroundTruthEntry> truth = {
      {"yes", 1000}, {"no", 4000}, {"up", 7000}, {"down", 10000}, {"left", 13000}};
  auto dets = Dets({{"yes", 1500},       // correct (within 750)
                    {"off", 4700},       // wrong (no is 700 ms away)
                    {"up", 7750},        // correct: tolerance is inclusive
                    {"down", 10751},     // 751 ms late: false positive
                    {"right", 20000}});  // nothing near: false positive
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 3600000.0 / 2);
  ASSERT_EQ(s.ground_truth_words, 5);
  ASSERT_TRUE(s.correct == 2 && s.wrong == 1 && s.false_positives == 2 && s.matched == 3);
  ASSERT_EQ(dets[0].verdict, DetectionVerdict::kCorrect);
  ASSERT_EQ(dets[1].verdict, DetectionVerdict::kWrong);
  ASSERT_EQ(dets[2].verdict, DetectionVerdict::kCorrect);
  ASSERT_EQ(dets[3].verdict, DetectionVerdict::kFalsePositive);
  ASSERT_EQ(dets[4].verdict, DetectionVerdict::kFalsePositive);
  // The word each detection matched: yes, no (claimed by the wrong `off`), up; none.
  ASSERT_TRUE(dets[0].word == 0 && dets[1].word == 1 && dets[2].word == 2);
  ASSERT_TRUE(dets[3].word == -1 && dets[4].word == -1);
  ASSERT_EQ(s.Summary(), "60.0% matched, 40.0% correctly, 20.0% wrongly, 40.0% false positives");
  ASSERT_NEAR(s.false_positives_per_hour(), 4.0, 1e-9);  // 2 in half an hour
  ASSERT_NEAR(s.miss_rate(), 0.6, 1e-12);
}

TEST(GroundTruth, EachEntryIsMatchedOnce) {
  std::vector<GroundTruthEntry> truth = {{"yes", 1000}};
  auto dets = Dets({{"yes", 900}, {"yes", 1100}});
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 0);
  // The second detection finds the entry already matched: wrong, not correct twice.
  ASSERT_TRUE(s.correct == 1 && s.wrong == 1 && s.matched == 1 && s.false_positives == 0);
  ASSERT_EQ(dets[1].verdict, DetectionVerdict::kWrong);
  ASSERT_TRUE(dets[0].word == 0 && dets[1].word == -1);  // nothing left to claim
  ASSERT_NEAR(s.false_positives_per_hour(), 0.0, 0.0);
}

TEST(GroundTruth, TheSameLabelLaterInTheWindowIsFound) {
  // Two words 900 ms apart: a `yes` detection between them is correct for the second one
  // even though the first candidate in its window is `no`.
  std::vector<GroundTruthEntry> truth = {{"no", 1000}, {"yes", 1900}};
  auto dets = Dets({{"yes", 1200}, {"no", 1300}});
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 0);
  ASSERT_TRUE(s.correct == 2 && s.wrong == 0 && s.matched == 2);
  // A wrong label claims the first unmatched candidate.
  auto wrong = Dets({{"up", 1200}, {"yes", 1300}});
  s = kws::ScoreDetections(truth, &wrong, 750, 0);
  ASSERT_EQ(wrong[0].verdict, DetectionVerdict::kWrong);
  ASSERT_EQ(wrong[1].verdict, DetectionVerdict::kCorrect);
  ASSERT_EQ(s.matched, 2);
}

TEST(GroundTruth, NoGroundTruthAndSums) {
  std::vector<GroundTruthEntry> truth;
  auto dets = Dets({{"yes", 100}});
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 1000);
  ASSERT_EQ(s.Summary(), "No ground truth, 1 false positives");
  ASSERT_NEAR(s.miss_rate(), 0.0, 0.0);
  StreamingAccuracy total;
  total += s;
  total += s;
  ASSERT_EQ(total.false_positives, 2);
  ASSERT_NEAR(total.audio_duration_ms, 2000, 0);
  ASSERT_NEAR(total.false_positives_per_hour(), 3600, 1e-9);
}

TEST(GroundTruth, RejectsUnorderedInput) {
  std::vector<GroundTruthEntry> truth = {{"yes", 1000}};
  auto dets = Dets({{"yes", 900}, {"yes", 800}});
  KWS_EXPECT_THROW_MSG(kws::ScoreDetections(truth, &dets, 750, 0), kws::InvalidArgument,
                       "time order");
  std::vector<GroundTruthEntry> unsorted = {{"yes", 1000}, {"no", 10}};
  auto one = Dets({{"yes", 900}});
  KWS_EXPECT_THROW_MSG(kws::ScoreDetections(unsorted, &one, 750, 0), kws::InvalidArgument,
                       "sorted");
}

TEST(GroundTruth, NoValidLineIsAnError) {
  KWS_EXPECT_THROW_MSG(kws::ParseGroundTruth("hello world\nfoo;bar\n", "junk.txt"), kws::InputError,
                       "junk.txt: no valid `word, time_ms` line (2 malformed lines, the first is "
                       "line 1)");
  // A stream with no words (an empty or blank file) is allowed: all detections are false
  // positives then.
  ASSERT_TRUE(kws::ParseGroundTruth("", "empty.txt").entries.empty());
  ASSERT_TRUE(kws::ParseGroundTruth("\n  \n", "blank.txt").entries.empty());
  // One valid line among malformed ones is enough.
  ASSERT_EQ(kws::ParseGroundTruth("junk\nyes, 5\n", "x").entries.size(), 1);
}

TEST(GroundTruth, ReadingIsLimitedToRegularFiles) {
  char tmpl[] = "/tmp/kws_gt_test_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string fifo = dir + "/truth.txt";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  KWS_EXPECT_THROW_MSG(kws::ReadGroundTruth(fifo), kws::IoError,
                       "cannot open ground-truth file '" + fifo + "': it is a FIFO");
  KWS_EXPECT_THROW_MSG(kws::ReadGroundTruth(dir), kws::IoError, "it is a directory");
  KWS_EXPECT_THROW_MSG(kws::ReadGroundTruth(dir + "/none.txt"), kws::IoError,
                       "No such file or directory");
  std::remove(fifo.c_str());
  rmdir(dir.c_str());
}

}  // namespace
