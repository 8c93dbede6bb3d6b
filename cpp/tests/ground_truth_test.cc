// Ground-truth parsing and streaming accuracy scoring on hand-made detections.
#include "kws/ground_truth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kws/error.h"
#include "test_util.h"

namespace {

using kws::Detection;
using kws::DetectionVerdict;
using kws::GroundTruth;
using kws::GroundTruthEntry;
using kws::StreamingAccuracy;

KWS_TEST(ParsesClassicLinesSortsAndCountsMalformed) {
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
  KWS_CHECK(gt.source == "gt.txt");
  KWS_CHECK(gt.entries.size() == 4);
  KWS_CHECK(gt.entries[0].label == "left" && gt.entries[0].time_ms == 0);
  KWS_CHECK(gt.entries[1].label == "no" && gt.entries[1].time_ms == 1000);
  KWS_CHECK(gt.entries[2].label == "_unknown_" && gt.entries[2].time_ms == 1500);  // truncated
  KWS_CHECK(gt.entries[3].label == "yes" && gt.entries[3].time_ms == 2000);
  KWS_CHECK(gt.malformed_lines == 4);  // the blank line is not counted
  KWS_CHECK((gt.malformed_line_numbers == std::vector<int>{4, 5, 6, 7}));
}

KWS_TEST(UnknownWordsAreListedOnce) {
  GroundTruth gt = kws::ParseGroundTruth("yes, 1\nmaybe, 2\nyes, 3\nzzz, 4\nmaybe, 5\n", "x");
  auto unknown = kws::UnknownGroundTruthWords(gt, {"_silence_", "_unknown_", "yes"});
  KWS_CHECK((unknown == std::vector<std::string>{"maybe", "zzz"}));
}

KWS_TEST(WriteThenReadRoundTrips) {
  const std::string path = "ground_truth_test_roundtrip.txt";
  std::vector<GroundTruthEntry> entries = {{"yes", 1234}, {"_unknown_", 4321}};
  kws::WriteGroundTruth(path, entries);
  GroundTruth gt = kws::ReadGroundTruth(path);
  std::remove(path.c_str());
  KWS_CHECK(gt.entries.size() == 2 && gt.malformed_lines == 0);
  KWS_CHECK(gt.entries[0].label == "yes" && gt.entries[0].time_ms == 1234);
  KWS_CHECK(gt.entries[1].label == "_unknown_" && gt.entries[1].time_ms == 4321);
  KWS_CHECK_THROWS(kws::ReadGroundTruth("no/such/file.txt"), kws::IoError, "no/such/file.txt");
}

std::vector<Detection> Dets(std::vector<std::pair<std::string, int64_t>> items) {
  std::vector<Detection> out;
  for (auto& [label, t] : items) out.push_back({label, t, 0.9f, DetectionVerdict::kCorrect});
  return out;
}

KWS_TEST(ScoresCorrectWrongAndFalsePositives) {
  std::vector<GroundTruthEntry> truth = {
      {"yes", 1000}, {"no", 4000}, {"up", 7000}, {"down", 10000}, {"left", 13000}};
  auto dets = Dets({{"yes", 1500},     // correct (within 750)
                    {"off", 4700},     // wrong (no is 700 ms away)
                    {"up", 7750},      // correct: tolerance is inclusive
                    {"down", 10751},   // 751 ms late: false positive
                    {"right", 20000}});  // nothing near: false positive
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 3600000.0 / 2);
  KWS_CHECK(s.ground_truth_words == 5);
  KWS_CHECK(s.correct == 2 && s.wrong == 1 && s.false_positives == 2 && s.matched == 3);
  KWS_CHECK(dets[0].verdict == DetectionVerdict::kCorrect);
  KWS_CHECK(dets[1].verdict == DetectionVerdict::kWrong);
  KWS_CHECK(dets[2].verdict == DetectionVerdict::kCorrect);
  KWS_CHECK(dets[3].verdict == DetectionVerdict::kFalsePositive);
  KWS_CHECK(dets[4].verdict == DetectionVerdict::kFalsePositive);
  KWS_CHECK(s.Summary() == "60.0% matched, 40.0% correctly, 20.0% wrongly, 40.0% false positives");
  KWS_CHECK_NEAR(s.false_positives_per_hour(), 4.0, 1e-9);  // 2 in half an hour
  KWS_CHECK_NEAR(s.miss_rate(), 0.6, 1e-12);
}

KWS_TEST(EachEntryIsMatchedOnce) {
  std::vector<GroundTruthEntry> truth = {{"yes", 1000}};
  auto dets = Dets({{"yes", 900}, {"yes", 1100}});
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 0);
  // The second detection finds the entry already matched: wrong, not correct twice.
  KWS_CHECK(s.correct == 1 && s.wrong == 1 && s.matched == 1 && s.false_positives == 0);
  KWS_CHECK(dets[1].verdict == DetectionVerdict::kWrong);
  KWS_CHECK_NEAR(s.false_positives_per_hour(), 0.0, 0.0);
}

KWS_TEST(TheSameLabelLaterInTheWindowIsFound) {
  // Two words 900 ms apart: a `yes` detection between them is correct for the second one
  // even though the first candidate in its window is `no`.
  std::vector<GroundTruthEntry> truth = {{"no", 1000}, {"yes", 1900}};
  auto dets = Dets({{"yes", 1200}, {"no", 1300}});
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 0);
  KWS_CHECK(s.correct == 2 && s.wrong == 0 && s.matched == 2);
  // A wrong label claims the first unmatched candidate.
  auto wrong = Dets({{"up", 1200}, {"yes", 1300}});
  s = kws::ScoreDetections(truth, &wrong, 750, 0);
  KWS_CHECK(wrong[0].verdict == DetectionVerdict::kWrong);
  KWS_CHECK(wrong[1].verdict == DetectionVerdict::kCorrect);
  KWS_CHECK(s.matched == 2);
}

KWS_TEST(NoGroundTruthAndSums) {
  std::vector<GroundTruthEntry> truth;
  auto dets = Dets({{"yes", 100}});
  StreamingAccuracy s = kws::ScoreDetections(truth, &dets, 750, 1000);
  KWS_CHECK(s.Summary() == "No ground truth, 1 false positives");
  KWS_CHECK_NEAR(s.miss_rate(), 0.0, 0.0);
  StreamingAccuracy total;
  total += s;
  total += s;
  KWS_CHECK(total.false_positives == 2);
  KWS_CHECK_NEAR(total.audio_duration_ms, 2000, 0);
  KWS_CHECK_NEAR(total.false_positives_per_hour(), 3600, 1e-9);
}

KWS_TEST(RejectsUnorderedInput) {
  std::vector<GroundTruthEntry> truth = {{"yes", 1000}};
  auto dets = Dets({{"yes", 900}, {"yes", 800}});
  KWS_CHECK_THROWS(kws::ScoreDetections(truth, &dets, 750, 0), kws::InvalidArgument,
                   "time order");
  std::vector<GroundTruthEntry> unsorted = {{"yes", 1000}, {"no", 10}};
  auto one = Dets({{"yes", 900}});
  KWS_CHECK_THROWS(kws::ScoreDetections(unsorted, &one, 750, 0), kws::InvalidArgument,
                   "sorted");
}


KWS_TEST(NoValidLineIsAnError) {
  KWS_CHECK_THROWS(kws::ParseGroundTruth("hello world\nfoo;bar\n", "junk.txt"), kws::InputError,
                   "junk.txt: no valid `word, time_ms` line (2 malformed lines, the first is "
                   "line 1)");
  // A stream with no words (an empty or blank file) is allowed: all detections are false
  // positives then.
  KWS_CHECK(kws::ParseGroundTruth("", "empty.txt").entries.empty());
  KWS_CHECK(kws::ParseGroundTruth("\n  \n", "blank.txt").entries.empty());
  // One valid line among malformed ones is enough.
  KWS_CHECK(kws::ParseGroundTruth("junk\nyes, 5\n", "x").entries.size() == 1);
}

KWS_TEST(ReadingIsLimitedToRegularFiles) {
  char tmpl[] = "/tmp/kws_gt_test_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string fifo = dir + "/truth.txt";
  KWS_CHECK(mkfifo(fifo.c_str(), 0600) == 0);
  KWS_CHECK_THROWS(kws::ReadGroundTruth(fifo), kws::IoError,
                   "cannot open ground-truth file '" + fifo + "': it is a FIFO");
  KWS_CHECK_THROWS(kws::ReadGroundTruth(dir), kws::IoError, "it is a directory");
  KWS_CHECK_THROWS(kws::ReadGroundTruth(dir + "/none.txt"), kws::IoError,
                   "No such file or directory");
  std::remove(fifo.c_str());
  rmdir(dir.c_str());
}

}  // namespace

KWS_TEST_MAIN()
