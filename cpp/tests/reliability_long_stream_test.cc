// Long streams and bad input through the native runtime: an hour of audio through one
// Stream keeps memory flat and gives exactly the scores of the same audio fed in other
// pieces and of whole-clip inference on the same windows; window positions are exact
// int64 sample counts; NaN/Inf bursts, empty input and absurd arguments never crash.
// KWS_LONG_STREAM_SECONDS shortens the stream (scripts/sanitize.sh uses it).
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kws/error.h"
#include "kws/model.h"
#include "kws/recognize_commands.h"
#include "reliability_models.h"
#include "test_support.h"

namespace {

static_assert(std::is_same_v<decltype(kws::StreamResult::start_sample), int64_t>,
              "window positions must be 64-bit sample counts");
static_assert(std::is_same_v<decltype(kws::StreamResult::end_sample), int64_t>,
              "window positions must be 64-bit sample counts");

int64_t LongStreamSeconds() {
  const char* s = std::getenv("KWS_LONG_STREAM_SECONDS");
  return s ? std::atoll(s) : 3600;
}

// Resident set size of this process in bytes (Linux /proc/self/statm).
int64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

// Deterministic audio, sample i of the endless signal: a slow chirp, a tone burst every
// 7 s and hashed noise, so every window differs.
float SignalAt(int64_t i) {
  uint64_t h = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  const float noise = static_cast<float>(h >> 40) / 16777216.0f - 0.5f;
  const double t = static_cast<double>(i) / 16000.0;
  const double phase = std::fmod(t, 13.0);
  const float chirp = static_cast<float>(0.3 * std::sin(2 * M_PI * (200 + 60 * phase) * phase));
  const float burst =
      std::fmod(t, 7.0) < 0.6 ? static_cast<float>(0.4 * std::sin(2 * M_PI * 900 * t)) : 0.0f;
  return chirp + burst + 0.05f * noise;
}

void FillSignal(int64_t start, std::vector<float>* out) {
  for (size_t k = 0; k < out->size(); ++k) (*out)[k] = SignalAt(start + static_cast<int64_t>(k));
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(ReliabilityLongStream, HourThroughOneStreamIsFlatAndExact) {
  const auto model = kws_test::ConvModel();
  const int hop = 3 * model->frame_stride_samples();  // 30 ms
  const int64_t total = LongStreamSeconds() * model->sample_rate();
  const size_t clip = static_cast<size_t>(model->clip_samples());
  std::unique_ptr<kws::Stream> one_second = model->CreateStream(hop);
  std::unique_ptr<kws::Stream> odd_pieces = model->CreateStream(hop);

  std::vector<float> chunk(16000), odd(7919), window(clip), predicted(model->num_labels());
  int64_t fed_odd = 0, windows = 0, checked_predict = 0;
  int64_t rss_after_warmup = 0, rss_peak = 0;
  for (int64_t pos = 0; pos < total; pos += static_cast<int64_t>(chunk.size())) {
    FillSignal(pos, &chunk);
    one_second->AcceptWaveform(chunk.data(), chunk.size());
    // The second stream gets the same audio in 7919-sample pieces, kept in step.
    while (fed_odd < pos + static_cast<int64_t>(chunk.size())) {
      FillSignal(fed_odd, &odd);
      odd_pieces->AcceptWaveform(odd.data(), odd.size());
      fed_odd += static_cast<int64_t>(odd.size());
    }
    while (one_second->IsReady()) {
      one_second->Decode();
      ASSERT_TRUE(odd_pieces->IsReady());
      odd_pieces->Decode();
      const kws::StreamResult& a = one_second->GetResult();
      const kws::StreamResult& b = odd_pieces->GetResult();
      ASSERT_EQ(a.start_sample, windows * hop);
      ASSERT_TRUE(a.end_sample == a.start_sample + static_cast<int64_t>(clip));
      ASSERT_EQ(b.start_sample, a.start_sample);
      if (!SameBits(a.scores, b.scores)) {
        throw std::runtime_error("window " + std::to_string(windows) +
                                 ": scores differ between 1 s and 7919-sample pieces");
      }
      if (windows % 997 == 0) {  // whole-clip inference on the same window
        FillSignal(a.start_sample, &window);
        model->Predict(window.data(), window.size(), predicted.data());
        for (size_t k = 0; k < predicted.size(); ++k) {
          ASSERT_TRUE(std::isfinite(a.scores[k]));
          ASSERT_NEAR(a.scores[k], predicted[k], 1e-5);
        }
        ++checked_predict;
      }
      ++windows;
    }
    if (pos == 300 * 16000) rss_after_warmup = RssBytes();
    if (rss_after_warmup > 0) rss_peak = std::max(rss_peak, RssBytes());
  }
  ASSERT_EQ(windows, 1 + (total - static_cast<int64_t>(clip)) / hop);
  ASSERT_GT(checked_predict, 0);
  std::cout << "long stream: " << total / 16000 << " s, " << windows << " windows, "
            << checked_predict << " checked against Predict, RSS after 5 min "
            << rss_after_warmup / 1024 << " KiB, peak after " << rss_peak / 1024 << " KiB\n";
  if (total >= 600 * 16000) {
    // Flat memory: after a 5 minute warm-up the process grows by less than 4 MiB over
    // the rest of the stream (buffers are reused; an O(n) leak would be ~100 KiB/s).
    ASSERT_GT(rss_after_warmup, 0);
    ASSERT_LT(rss_peak - rss_after_warmup, 4 * 1024 * 1024);
  }
}

TEST(ReliabilityLongStream, SampleCountsDoNotOverflowOverDays) {
  // The stream counts windows in int64 and multiplies by the hop in int64: a month of
  // 10 ms hops at 48 kHz is far inside the range, unlike int32 (overflows after 37 h at
  // 16 kHz). The same arithmetic as the runtime's, at the end of 30 days:
  const int64_t windows = 30LL * 24 * 3600 * 100;
  const int hop = 480;
  const int64_t start = windows * hop;  // int64 * int -> int64
  ASSERT_EQ(start, 124416000000LL);
  ASSERT_TRUE(start > std::numeric_limits<int32_t>::max());
  // Times in ms derived from it, and RecognizeCommands fed at such times, stay exact.
  kws::RecognizeCommandsOptions opts;
  opts.average_window_duration_ms = 500;
  opts.minimum_count = 1;
  kws::RecognizeCommands rc({"_silence_", "_unknown_", "yes"}, opts);
  const int64_t base_ms = start / 48;  // 30 days of 48 kHz audio in ms
  const std::vector<float> yes = {0.0f, 0.0f, 1.0f};
  bool detected = false;
  for (int k = 0; k < 40; ++k) {
    const kws::RecognizeResult r = rc.Process(yes, base_ms + 30 * k);
    ASSERT_EQ(r.time_ms, base_ms + 30 * k);
    detected = detected || (r.is_new && r.label == "yes");
  }
  ASSERT_TRUE(detected);
}

TEST(ReliabilityLongStream, NanAndInfBurstsOnlyAffectTheWindowsThatHoldThem) {
  const auto model = kws_test::SvdfModel();
  const int hop = 2 * model->frame_stride_samples();
  const int64_t total = 6 * 16000;
  std::vector<float> audio(static_cast<size_t>(total));
  FillSignal(0, &audio);
  std::vector<float> poisoned = audio;
  const size_t burst = 2 * 16000;  // NaN, +Inf, -Inf at 2.0 s
  poisoned[burst] = std::numeric_limits<float>::quiet_NaN();
  poisoned[burst + 100] = std::numeric_limits<float>::infinity();
  poisoned[burst + 200] = -std::numeric_limits<float>::infinity();
  auto run = [&](const std::vector<float>& x) {
    std::unique_ptr<kws::Stream> s = model->CreateStream(hop);
    s->AcceptWaveform(x.data(), x.size());
    std::vector<kws::StreamResult> out;
    while (s->IsReady()) {
      s->Decode();
      out.push_back(s->GetResult());
    }
    return out;
  };
  const auto clean = run(audio);
  const auto dirty = run(poisoned);
  ASSERT_TRUE(clean.size() == dirty.size() && !clean.empty());
  // MFCC frames reach 480 samples, so a window is touched if it overlaps the burst
  // frames; windows entirely before or after are bit-identical to the clean run.
  const int64_t touched_begin = static_cast<int64_t>(burst) - 480;
  const int64_t touched_end = static_cast<int64_t>(burst) + 200 + 480;
  int before = 0, after = 0, touched = 0;
  for (size_t w = 0; w < clean.size(); ++w) {
    const bool overlaps =
        dirty[w].end_sample > touched_begin && dirty[w].start_sample < touched_end;
    if (!overlaps) {
      ASSERT_TRUE(SameBits(clean[w].scores, dirty[w].scores));
      (dirty[w].end_sample <= touched_begin ? before : after)++;
    } else {
      // Defined but unspecified scores: NaN features may propagate to NaN scores or be
      // zeroed by a ReLU (max(NaN, 0) is 0 in the runtime), depending on the model.
      ++touched;
    }
  }
  ASSERT_GT(touched, 0);
  ASSERT_TRUE(before > 0 && after > 0);  // the stream recovers once the burst has left
}

TEST(ReliabilityLongStream, EmptyInputAndAbsurdArgumentsAreDefined) {
  const auto model = kws_test::ConvModel();
  std::unique_ptr<kws::Stream> s = model->CreateStream(model->frame_stride_samples());
  s->AcceptWaveform(nullptr, 0);
  ASSERT_TRUE(!s->IsReady());
  s->InputFinished();
  ASSERT_TRUE(!s->IsReady());
  KWS_EXPECT_THROW_MSG(s->AcceptWaveform(nullptr, 0), kws::InvalidArgument, "InputFinished");
  s->Reset();
  std::vector<float> clip(static_cast<size_t>(model->clip_samples()), 0.0f);
  s->AcceptWaveform(clip.data(), clip.size());
  ASSERT_TRUE(s->IsReady());

  std::vector<float> scores(model->num_labels());
  KWS_EXPECT_THROW_MSG(model->Predict(nullptr, 0, scores.data()), kws::InvalidArgument, "samples");
  KWS_EXPECT_THROW_MSG(model->Predict(clip.data(), clip.size() - 1, scores.data()),
                       kws::InvalidArgument, "samples");
  KWS_EXPECT_THROW_MSG(model->CreateStream(0), kws::InvalidArgument, "hop");
  KWS_EXPECT_THROW_MSG(model->CreateStream(-160), kws::InvalidArgument, "hop");
  KWS_EXPECT_THROW_MSG(model->CreateStream(161), kws::InvalidArgument, "hop");
  // A hop of hours is legal (windows far apart) and must not reserve memory for it.
  const int64_t rss_before = RssBytes();
  const int huge_hop = (std::numeric_limits<int>::max() / 160) * 160;
  std::unique_ptr<kws::Stream> far;
  try {
    far = model->CreateStream(huge_hop);
  } catch (const kws::InvalidArgument&) {
    // Refusing it with a clear error is fine too.
  }
  ASSERT_LT(RssBytes() - rss_before, 64 * 1024 * 1024);
  if (far) {
    far->AcceptWaveform(clip.data(), clip.size());
    ASSERT_TRUE(far->IsReady());
    far->Decode();
    ASSERT_TRUE(far->GetResult().start_sample == 0);
  }
}
