// RecognizeCommands driven by scripted score sequences: one test per SPEC.md rule.
#include "kws/recognize_commands.h"

#include <vector>

#include "kws/error.h"
#include "test_support.h"

namespace {

using kws::RecognizeCommands;
using kws::RecognizeCommandsOptions;
using kws::RecognizeResult;

const std::vector<std::string> kLabels = {"_silence_", "_unknown_", "yes", "no"};

// Scores with all mass on one label index.
std::vector<float> OneHot(int index, float value = 1.0f) {
  std::vector<float> s(kLabels.size(), (1.0f - value) / (kLabels.size() - 1));
  s[index] = value;
  return s;
}

// Options where every result is judged on its own: a 3 ms window (window / 4 = 0) and
// minimum count 1, so with results 10 ms apart the queue holds only the newest one.
RecognizeCommandsOptions Instant() {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = 3;
  o.detection_threshold = 0.7f;
  o.suppression_ms = 1500;
  o.minimum_count = 1;
  return o;
}

TEST(RecognizeCommands, DefaultsAreTheClassicClassOnes) {
  RecognizeCommandsOptions o;
  ASSERT_EQ(o.average_window_duration_ms, 1000);
  ASSERT_NEAR(o.detection_threshold, 0.2, 1e-7);
  ASSERT_EQ(o.suppression_ms, 1500);
  ASSERT_EQ(o.minimum_count, 3);
}

TEST(RecognizeCommands, MinimumCountHoldsBackTheDecision) {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = 100;  // span needed: 25 ms
  o.detection_threshold = 0.5f;
  o.minimum_count = 3;
  RecognizeCommands rc(kLabels, o);
  RecognizeResult r = rc.Process(OneHot(2), 0);
  ASSERT_TRUE(r.label == "_silence_" && r.score == 0.0f && !r.is_new);
  r = rc.Process(OneHot(2), 30);
  ASSERT_TRUE(r.label == "_silence_" && r.score == 0.0f && !r.is_new);
  r = rc.Process(OneHot(2), 60);  // third result: decides
  ASSERT_TRUE(r.label == "yes" && r.is_new && r.time_ms == 60);
  ASSERT_NEAR(r.score, 1.0, 1e-6);

  o.minimum_count = 4;
  RecognizeCommands rc4(kLabels, o);
  for (int t : {0, 30, 60}) ASSERT_TRUE(!rc4.Process(OneHot(2), t).is_new);
  ASSERT_TRUE(rc4.Process(OneHot(2), 90).is_new);
}

TEST(RecognizeCommands, QueueMustSpanAQuarterWindow) {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = 1000;  // quarter: 250 ms
  o.detection_threshold = 0.5f;
  o.minimum_count = 1;
  RecognizeCommands rc(kLabels, o);
  for (int t : {0, 100, 200, 249}) {
    RecognizeResult r = rc.Process(OneHot(3), t);
    ASSERT_TRUE(!r.is_new && r.score == 0.0f && r.label == "_silence_");
  }
  RecognizeResult r = rc.Process(OneHot(3), 250);  // span 250 = window / 4: decides
  ASSERT_TRUE(r.is_new && r.label == "no");
}

TEST(RecognizeCommands, AveragesOverTheWindowAndDropsOlderResults) {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = 100;
  o.detection_threshold = 0.99f;  // never fires: only the averages matter here
  o.minimum_count = 1;
  RecognizeCommands rc(kLabels, o);
  rc.Process({0.0f, 0.0f, 0.9f, 0.1f}, 0);
  rc.Process({0.0f, 0.0f, 0.6f, 0.4f}, 50);
  RecognizeResult r = rc.Process({0.0f, 0.0f, 0.3f, 0.7f}, 100);  // t - window = 0: kept
  ASSERT_EQ(rc.queued(), 3);
  ASSERT_EQ(r.label, "yes");
  ASSERT_NEAR(r.score, (0.9 + 0.6 + 0.3) / 3, 1e-6);
  r = rc.Process({0.0f, 0.0f, 0.0f, 1.0f}, 101);  // drops t=0 (older than 1)
  ASSERT_EQ(rc.queued(), 3);
  ASSERT_EQ(r.label, "no");
  ASSERT_NEAR(r.score, (0.4 + 0.7 + 1.0) / 3, 1e-6);
  r = rc.Process({0.1f, 0.0f, 0.0f, 0.9f}, 300);  // everything else is older than 200
  ASSERT_EQ(rc.queued(), 1);
  ASSERT_TRUE(r.label == "_silence_" && r.score == 0.0f);  // alone: span 0 < window / 4
}

TEST(RecognizeCommands, ThresholdIsStrict) {
  RecognizeCommands rc(kLabels, Instant());
  RecognizeResult r = rc.Process(OneHot(2, 0.7f), 0);  // equal to the threshold
  ASSERT_TRUE(r.label == "yes" && !r.is_new);
  ASSERT_NEAR(r.score, 0.7, 1e-6);
  r = rc.Process(OneHot(2, 0.71f), 10);
  ASSERT_TRUE(r.label == "yes" && r.is_new);
}

TEST(RecognizeCommands, SuppressionBlocksOtherLabelsForAWhile) {
  RecognizeCommands rc(kLabels, Instant());
  ASSERT_TRUE(rc.Process(OneHot(2), 1000).is_new);  // yes
  RecognizeResult r = rc.Process(OneHot(3), 1010);  // no, 10 ms later: suppressed
  ASSERT_TRUE(r.label == "no" && !r.is_new);
  ASSERT_TRUE(!rc.Process(OneHot(3), 2500).is_new);  // exactly 1500 ms: still suppressed
  r = rc.Process(OneHot(3), 2501);
  ASSERT_TRUE(r.label == "no" && r.is_new);
}

TEST(RecognizeCommands, SameLabelDoesNotFireTwiceUntilAnotherHas) {
  RecognizeCommands rc(kLabels, Instant());
  ASSERT_TRUE(rc.Process(OneHot(2), 0).is_new);  // yes
  ASSERT_TRUE(!rc.Process(OneHot(1, 0.1f), 2000).is_new);
  ASSERT_TRUE(!rc.Process(OneHot(2), 5000).is_new);  // yes again, long after: not new
  ASSERT_TRUE(!rc.Process(OneHot(2), 9000).is_new);
  ASSERT_TRUE(rc.Process(OneHot(1), 11000).is_new);  // _unknown_ fires
  ASSERT_TRUE(rc.Process(OneHot(2), 13000).is_new);  // now yes can fire again
}

// allow_repeats: the same label again once the suppression has passed, with or without a
// decision delay; never inside the suppression, and `_silence_` at the start is no news.
TEST(RecognizeCommands, AllowRepeatsReportsTheSameLabelAgainAfterTheSuppression) {
  for (int64_t delay : {int64_t{0}, int64_t{200}}) {
    RecognizeCommandsOptions o = Instant();
    o.allow_repeats = true;
    o.decision_delay_ms = delay;
    RecognizeCommands rc(kLabels, o);
    std::vector<RecognizeResult> news;
    // yes at 0-100 ms, a dip below the threshold with no silence reported, yes again at
    // 1000 ms (inside the suppression), 2000 ms and 4000 ms; silence throughout at the end.
    for (int t = 0; t <= 6000; t += 50) {
      const bool word = t <= 100 || (t >= 1000 && t <= 1100) || (t >= 2000 && t <= 2100) ||
                        (t >= 4000 && t <= 4100);
      const RecognizeResult r = rc.Process(word ? OneHot(2) : OneHot(1, 0.4f), t);
      if (r.is_new) news.push_back(r);
    }
    const RecognizeResult last = rc.Finish();
    if (last.is_new) news.push_back(last);
    ASSERT_EQ(news.size(), 3u) << delay;
    EXPECT_EQ(news[0].time_ms, 0);
    EXPECT_EQ(news[1].time_ms, 2000);  // 1000 ms was inside the suppression
    EXPECT_EQ(news[2].time_ms, 4000);
    for (const RecognizeResult& r : news) EXPECT_EQ(r.label, "yes");
    o.allow_repeats = false;  // the classic rule: yes once
    RecognizeCommands classic(kLabels, o);
    int classic_news = 0;
    for (int t = 0; t <= 6000; t += 50) {
      const bool word = t <= 100 || (t >= 2000 && t <= 2100) || (t >= 4000 && t <= 4100);
      classic_news += classic.Process(word ? OneHot(2) : OneHot(1, 0.4f), t).is_new;
    }
    classic_news += classic.Finish().is_new;
    EXPECT_EQ(classic_news, 1) << delay;
  }
  RecognizeCommandsOptions o = Instant();
  o.allow_repeats = true;
  RecognizeCommands rc(kLabels, o);
  ASSERT_FALSE(rc.Process(OneHot(0), 0).is_new);  // silence at the start: still no news
  ASSERT_FALSE(rc.Process(OneHot(0), 5000).is_new);
  EXPECT_NE(o.ToString().find("allow_repeats=true"), std::string::npos);
}

TEST(RecognizeCommands, SilenceNeverSuppressesAndStartsAsPrevious) {
  RecognizeCommands rc(kLabels, Instant());
  RecognizeResult r = rc.Process(OneHot(0), 0);  // silence at start == previous: not new
  ASSERT_TRUE(r.label == "_silence_" && !r.is_new);
  ASSERT_TRUE(rc.Process(OneHot(2), 10).is_new);     // yes
  ASSERT_TRUE(!rc.Process(OneHot(0), 1000).is_new);  // silence is suppressed like any label
  r = rc.Process(OneHot(0), 1600);
  ASSERT_TRUE(r.label == "_silence_" && r.is_new);
  // Previous is now silence: time since last is infinite, `no` fires 10 ms later.
  ASSERT_TRUE(rc.Process(OneHot(3), 1610).is_new);
}

TEST(RecognizeCommands, UndecidedReturnsThePreviousCommand) {
  RecognizeCommandsOptions o = Instant();
  o.minimum_count = 2;
  o.average_window_duration_ms = 20;
  RecognizeCommands rc(kLabels, o);
  rc.Process(OneHot(2), 0);
  ASSERT_TRUE(rc.Process(OneHot(2), 10).is_new);
  RecognizeResult r = rc.Process(OneHot(3), 100);  // alone in the window: undecided
  ASSERT_TRUE(r.label == "yes" && r.score == 0.0f && !r.is_new && r.time_ms == 100);
}

TEST(RecognizeCommands, ErrorsForWrongCountAndTimeGoingBackwards) {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = 500;
  RecognizeCommands rc(kLabels, o);
  KWS_EXPECT_THROW_MSG(rc.Process(std::vector<float>{0.5f, 0.5f}, 0), kws::InvalidArgument,
                       "expected 4 scores");
  rc.Process(OneHot(1), 0);
  rc.Process(OneHot(1), 100);
  rc.Process(OneHot(1), 100);  // equal times are fine
  // Earlier than the newest (100) but later than the oldest (0): the classic class let
  // this through; it is an error here.
  KWS_EXPECT_THROW_MSG(rc.Process(OneHot(1), 50), kws::InvalidArgument, "earlier than the newest");
  KWS_EXPECT_THROW_MSG(RecognizeCommands({}, o), kws::InvalidArgument, "label list is empty");
  o.minimum_count = 0;
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument, "minimum_count");
  o.minimum_count = 3;
  o.average_window_duration_ms = 0;
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument,
                       "average_window_duration_ms");
}

TEST(RecognizeCommands, RingBufferKeepsItsCapacityAndGrowsOnlyForSharedTimes) {
  RecognizeCommandsOptions o;
  o.average_window_duration_ms = 500;
  o.detection_threshold = 0.7f;
  RecognizeCommands rc(kLabels, o);
  const size_t capacity = rc.capacity();
  for (int t = 0; t < 100000; t += 1) rc.Process(OneHot(t / 3000 % 4), t);  // 1 per ms
  ASSERT_EQ(rc.capacity(), capacity);
  ASSERT_EQ(rc.queued(), 501);
  // Many results at the same time: the buffer grows, the average stays right.
  RecognizeCommands same(kLabels, o);
  same.Process(OneHot(1, 0.8f), 0);  // so that the queue spans window / 4
  for (int k = 0; k < 2000; ++k) same.Process(OneHot(k % 2 == 0 ? 2 : 3, 0.8f), 250);
  RecognizeResult r = same.Process(OneHot(2, 0.8f), 250);  // 1 unknown, 1001 yes, 1000 no
  ASSERT_TRUE(same.capacity() > capacity && same.queued() == 2002);
  ASSERT_TRUE(r.label == "yes" && !r.is_new);  // about 0.43: below the threshold
  ASSERT_NEAR(r.score, (1001 * 0.8 + 1001 * (0.2 / 3)) / 2002, 1e-4);
}

TEST(RecognizeCommands, ResetRestoresTheStartState) {
  RecognizeCommands rc(kLabels, Instant());
  ASSERT_TRUE(rc.Process(OneHot(2), 0).is_new);
  rc.Reset();
  ASSERT_EQ(rc.queued(), 0);
  ASSERT_TRUE(rc.Process(OneHot(2), 0).is_new);  // no suppression, no "same label" memory
}

TEST(RecognizeCommands, UserSizesAreBoundedBeforeAllocating) {
  RecognizeCommandsOptions o;
  for (int64_t window : {int64_t{100000000}, int64_t{2147483647}, kws::kMaxAverageWindowMs + 1}) {
    o.average_window_duration_ms = window;
    KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument,
                         "average_window_duration_ms must be in (0, 600000] ms (10 minutes), got " +
                             std::to_string(window) + " ms");
  }
  o = RecognizeCommandsOptions();
  o.suppression_ms = kws::kMaxSuppressionMs + 1;
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument, "suppression_ms");
  o = RecognizeCommandsOptions();
  o.minimum_count = kws::kMaxMinimumCount + 1;
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument, "minimum_count");
  o = RecognizeCommandsOptions();
  o.detection_threshold = std::nanf("");
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument, "detection_threshold");
  // The longest window allowed starts small: memory follows the results queued.
  o = RecognizeCommandsOptions();
  o.average_window_duration_ms = kws::kMaxAverageWindowMs;
  o.minimum_count = kws::kMaxMinimumCount;
  RecognizeCommands longest(kLabels, o);
  ASSERT_LE(longest.capacity(), 4096);
  for (int t = 0; t < 30 * 20000; t += 30) longest.Process(OneHot(2), t);  // 10 min of hops
  ASSERT_EQ(longest.queued(), 20000);
  ASSERT_TRUE(longest.capacity() >= 20000 && longest.capacity() <= 2 * 20001);
  // Results at one repeated time cannot grow the queue without bound.
  RecognizeCommands same(kLabels, RecognizeCommandsOptions());
  KWS_EXPECT_THROW_MSG(
      for (size_t k = 0; k <= kws::kMaxQueuedResults; ++k) same.Process(OneHot(1), 5),
      kws::InvalidArgument, "results within the averaging window");
}

TEST(RecognizeCommands, AverageAndCommandRuleMakeUpProcess) {
  for (int64_t delay : {0, 250}) {
    RecognizeCommandsOptions o;
    o.average_window_duration_ms = 300;
    o.detection_threshold = 0.5f;
    o.suppression_ms = 200;
    o.decision_delay_ms = delay;
    RecognizeCommands whole(kLabels, o), halves(kLabels, o);
    kws::CommandRule rule;
    rule.Reset(halves.silence_index());
    ASSERT_EQ(rule.previous_index, 0);
    int commands = 0;
    for (int t = 0; t < 6000; t += 20) {
      const std::vector<float> scores = OneHot((t / 700) % 4, 0.4f + 0.1f * ((t / 300) % 6));
      const RecognizeResult r = whole.Process(scores, t);
      int best = -1;
      float best_score = 0.0f;
      const bool decided = halves.Average(scores.data(), scores.size(), t, &best, &best_score);
      int64_t time = -1;
      float score = 0.0f;
      const int command =
          rule.Step(decided ? halves.average() : nullptr, kLabels.size(), best, best_score, t,
                    o.detection_threshold, o, halves.silence_index(), &time, &score);
      ASSERT_EQ(r.is_new, command >= 0) << t;
      if (command >= 0) {
        ++commands;
        ASSERT_TRUE(r.label == kLabels[command] && r.score == score && r.time_ms == time);
        ASSERT_EQ(time, delay == 0 ? t : whole.command_time());
      } else if (decided) {
        ASSERT_TRUE(r.label == kLabels[best] && r.score == best_score && r.time_ms == t);
      } else {
        ASSERT_EQ(r.score, 0.0f);
      }
    }
    ASSERT_GT(commands, 5);
  }
}

// decision_delay_ms: the command is the label whose average peaks highest in the delay
// after the threshold is passed, reported once the delay is over, at the passing time.
TEST(RecognizeCommands, DecisionDelayReportsThePeakLabel) {
  RecognizeCommandsOptions o = Instant();
  o.detection_threshold = 0.5f;
  o.suppression_ms = 1000;
  o.decision_delay_ms = 300;
  RecognizeCommands delayed(kLabels, o);
  o.decision_delay_ms = 0;
  RecognizeCommands classic(kLabels, o);
  // Label 1 passes 0.5 first (at 50 ms), label 2 rises higher from 150 ms on.
  std::vector<RecognizeResult> early, late;
  for (int t = 0; t <= 1000; t += 50) {
    const std::vector<float> scores = t < 50    ? OneHot(0)
                                      : t < 150 ? OneHot(1, 0.6f)
                                                : OneHot(2, 0.95f);
    const RecognizeResult c = classic.Process(scores, t), d = delayed.Process(scores, t);
    if (c.is_new) early.push_back(c);
    if (d.is_new) late.push_back(d);
    if (t < 400) ASSERT_FALSE(d.is_new) << t;  // deciding until 50 + 300 ms
    if (t == 400) ASSERT_TRUE(d.is_new);       // the first result past then reports it
  }
  ASSERT_EQ(early.size(), 1u);  // the classic rule takes label 1 and suppresses label 2
  EXPECT_EQ(early[0].label, kLabels[1]);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].label, kLabels[2]);
  EXPECT_EQ(late[0].time_ms, 50);  // when the threshold was passed
  EXPECT_FLOAT_EQ(late[0].score, 0.95f);
  EXPECT_FALSE(delayed.Finish().is_new);
}

TEST(RecognizeCommands, FinishReportsTheCommandBeingDecided) {
  RecognizeCommandsOptions o = Instant();
  o.decision_delay_ms = 500;
  RecognizeCommands r(kLabels, o);
  for (int t = 0; t <= 300; t += 50) ASSERT_FALSE(r.Process(OneHot(t < 100 ? 0 : 3), t).is_new);
  const RecognizeResult last = r.Finish();
  EXPECT_TRUE(last.is_new);
  EXPECT_EQ(last.label, kLabels[3]);
  EXPECT_EQ(last.time_ms, 100);
  EXPECT_FALSE(r.Finish().is_new);  // once
  o.decision_delay_ms = kws::kMaxDecisionDelayMs + 1;
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument,
                       "decision_delay_ms must be in [0, 10000]");
  o.decision_delay_ms = -1;
  KWS_EXPECT_THROW_MSG(RecognizeCommands(kLabels, o), kws::InvalidArgument,
                       "decision_delay_ms must be in [0, 10000]");
}

}  // namespace
