// StreamingEvaluator::Evaluate reads, scores and decodes long WAVs in blocks: its
// detections and figures must equal those of scoring the whole file at once and decoding
// each threshold on its own, and its peak memory must not grow with the file's length.
// KWS_LONG_STREAM_SECONDS (set by scripts/sanitize.sh) shortens the files.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "kws/error.h"
#include "kws/streaming_evaluator.h"
#include "kws/wav_io.h"
#include "reliability_models.h"
#include "test_support.h"

namespace {

bool Shortened() { return std::getenv("KWS_LONG_STREAM_SECONDS") != nullptr; }

// AddressSanitizer keeps freed blocks in its quarantine (resident), so the resident set
// grows with the work done, not with what is live: memory is measured without it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

std::string TempDir() {
  char tmpl[] = "/tmp/kws_chunked_eval_XXXXXX";
  return mkdtemp(tmpl);
}

// `seconds` of noise with loud tone bursts (so the random models change their mind),
// written piece by piece: never held in memory.
void WriteLongWav(const std::string& path, int seconds, uint32_t seed) {
  const int rate = 16000;
  kws::WavWriter writer(path, rate, static_cast<uint64_t>(seconds) * rate);
  std::mt19937 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> second(rate);
  for (int s = 0; s < seconds; ++s) {
    const float freq = 200.0f + 150.0f * (s % 7);
    const bool burst = (s % 3) != 0;
    for (int i = 0; i < rate; ++i) {
      float v = noise(gen);
      if (burst && i > 2000 && i < 12000) v += 0.5f * std::sin(6.2831853f * freq * i / rate);
      second[i] = std::max(-1.0f, std::min(1.0f, v));
    }
    writer.Write(second.data(), second.size());
  }
  writer.Commit();
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Peak resident set of this process (VmHWM), in KiB.
long PeakRssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Runs first (registration order): nothing before it has held a long file in memory.
TEST(StreamingEvaluatorChunked, PeakMemoryDoesNotGrowWithTheFileLength) {
  const std::string dir = TempDir();
  const int short_s = Shortened() ? 120 : 150, long_s = Shortened() ? 480 : 900;
  WriteLongWav(dir + "/short.wav", short_s, 1);
  WriteLongWav(dir + "/long.wav", long_s, 2);
  WriteText(dir + "/truth.txt", "yes, 1000\n");
  kws::StreamingOptions o;
  o.detection_threshold = 0.4f;
  kws::StreamingEvaluator ev(kws_test::ConvModel(), o);
  std::vector<float> sweep;
  for (int k = 1; k < 20; ++k) sweep.push_back(0.05f * k);
  const auto a = ev.Evaluate(dir + "/short.wav", dir + "/truth.txt", sweep, 2);
  const long after_short = PeakRssKiB();
  const auto b = ev.Evaluate(dir + "/long.wav", dir + "/truth.txt", sweep, 2);
  const long after_long = PeakRssKiB();
  std::cout << "peak RSS after " << short_s << " s: " << after_short << " KiB, after " << long_s
            << " s: " << after_long << " KiB\n";
  ASSERT_TRUE(a.num_windows > 0 && b.num_windows > a.num_windows * 4);
  // A whole-file read of the long file alone would add 4 bytes per sample (57 MiB at
  // 900 s) plus its encoded copy.
  if (!kAddressSanitizer) ASSERT_LT(after_long - after_short, 6 * 1024);
  for (const char* f : {"/short.wav", "/long.wav", "/truth.txt"}) std::remove((dir + f).c_str());
  rmdir(dir.c_str());
}

TEST(StreamingEvaluatorChunked, ChunkedEvaluationEqualsWholeFileScoring) {
  const std::string dir = TempDir();
  const std::string wav = dir + "/long.wav", truth_path = dir + "/truth.txt";
  // Over two blocks of 2^21 samples.
  WriteLongWav(wav, Shortened() ? 150 : 300, 3);
  WriteText(truth_path, "yes, 1000\n_unknown_, 4000\nyes, 100000\nyes, 140000\n");
  const kws::WavData all = kws::ReadWav(wav);
  const kws::GroundTruth truth = kws::ReadGroundTruth(truth_path);
  std::vector<float> sweep;
  for (int k = 0; k <= 20; ++k) sweep.push_back(0.05f * k);
  int with_detections = 0;
  for (auto model : {kws_test::ConvModel(), kws_test::SvdfModel()}) {
    for (int stride : {30, 1500}) {  // 1500 ms: longer than the clip, samples are skipped
      kws::StreamingOptions o;
      o.clip_stride_ms = stride;
      o.detection_threshold = 0.4f;
      o.average_window_ms = stride > 1000 ? 6000 : 500;
      kws::StreamingEvaluator ev(model, o);
      for (int threads : {1, 2}) {
        const kws::StreamEvaluation chunked = ev.Evaluate(wav, truth_path, sweep, threads);
        const kws::WindowScores scores = ev.ComputeScores(all.samples.data(), all.samples.size());
        ASSERT_TRUE(chunked.num_windows == static_cast<int64_t>(scores.num_windows()));
        // Reference: the whole file's scores, one decoder per threshold.
        std::vector<kws::Detection> main =
            kws::DecodeWindowScores(scores, ev.labels(), o.DecoderOptions());
        kws::StreamingAccuracy main_acc = kws::ScoreDetections(
            truth.entries, &main, o.time_tolerance_ms, scores.audio_duration_ms);
        ASSERT_EQ(chunked.detections.size(), main.size());
        for (size_t i = 0; i < main.size(); ++i) {
          ASSERT_EQ(chunked.detections[i].label, main[i].label);
          ASSERT_EQ(chunked.detections[i].time_ms, main[i].time_ms);
          ASSERT_EQ(chunked.detections[i].score, main[i].score);  // bit for bit
          ASSERT_EQ(chunked.detections[i].verdict, main[i].verdict);
        }
        ASSERT_TRUE(chunked.accuracy.correct == main_acc.correct &&
                    chunked.accuracy.false_positives == main_acc.false_positives &&
                    chunked.accuracy.audio_duration_ms == main_acc.audio_duration_ms);
        for (size_t k = 0; k < sweep.size(); ++k) {
          std::vector<kws::Detection> d =
              kws::DecodeWindowScores(scores, ev.labels(), o.DecoderOptions(sweep[k]));
          const auto acc = kws::ScoreDetections(truth.entries, &d, o.time_tolerance_ms,
                                                scores.audio_duration_ms);
          ASSERT_TRUE(chunked.sweep[k].correct == acc.correct &&
                      chunked.sweep[k].wrong == acc.wrong &&
                      chunked.sweep[k].false_positives == acc.false_positives &&
                      chunked.sweep[k].matched == acc.matched);
        }
        if (!main.empty()) ++with_detections;
      }
    }
  }
  ASSERT_GE(with_detections, 4);  // the comparison is not between empty lists
  std::remove(wav.c_str());
  std::remove(truth_path.c_str());
  rmdir(dir.c_str());
}

TEST(StreamingEvaluatorChunked, NonFiniteSampleAnywhereIsAnError) {
  // A float file with a NaN after the last whole window: still refused, as ReadWav does.
  const std::string dir = TempDir();
  const std::string wav = dir + "/nan.wav", truth_path = dir + "/truth.txt";
  const std::vector<float> samples(16000 * 3 + 50, 0.1f);
  std::vector<uint8_t> full =
      kws::EncodeWav(samples.data(), samples.size(), 16000, kws::WavSampleFormat::kFloat32);
  // Patch in a NaN after encoding (EncodeWav refuses non-finite samples).
  const uint32_t nan_bits = 0x7FC00000u;
  const size_t at = full.size() - 4 * 10;  // the 10th sample from the end
  std::memcpy(full.data() + at, &nan_bits, 4);
  std::ofstream(wav, std::ios::binary)
      .write(reinterpret_cast<const char*>(full.data()), static_cast<std::streamsize>(full.size()));
  WriteText(truth_path, "yes, 1000\n");
  kws::StreamingEvaluator ev(kws_test::ConvModel(), kws::StreamingOptions());
  KWS_EXPECT_THROW_MSG(ev.Evaluate(wav, truth_path), kws::WavError, "is NaN");
  std::remove(wav.c_str());
  std::remove(truth_path.c_str());
  rmdir(dir.c_str());
}

}  // namespace
