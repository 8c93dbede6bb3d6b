// Tests of the MFCC front end: option checks, frame counts, values against TensorFlow's
// (tests/data/mfcc_fixture.txt, shared with tests/test_mfcc.py), streaming invariance.
#include "kws/mfcc.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kws/error.h"
#include "kws/version.h"
#include "test_support.h"

namespace {

std::string TestDataDir() {
  const char* d = std::getenv("KWS_TESTDATA_DIR");
  return d ? d : "tests/data";
}

struct FixtureCase {
  kws::MfccOptions options;
  int frames = 0;
  std::vector<float> expected;  // frames x coefficients
};

struct Fixture {
  std::vector<float> samples;
  std::vector<FixtureCase> cases;
};

// Reads the text fixture written by tests/data/make_mfcc_fixture.py.
Fixture LoadFixture() {
  const std::string path = TestDataDir() + "/mfcc_fixture.txt";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  Fixture fx;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string head;
    words >> head;
    if (head == "samples") {
      size_t n = 0;
      words >> n;
      fx.samples.reserve(n);
      while (fx.samples.size() < n && std::getline(in, line)) {
        std::istringstream values(line);
        int v;
        while (values >> v) fx.samples.push_back(static_cast<float>(v) / 32768.0f);
      }
      if (fx.samples.size() != n) throw std::runtime_error(path + ": short sample block");
    } else if (head == "case") {
      std::map<std::string, double> kv;
      std::string item;
      while (words >> item) {
        const size_t eq = item.find('=');
        kv[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
      }
      FixtureCase c;
      c.options.sample_rate = static_cast<int>(kv.at("sample_rate"));
      c.options.window_size_ms = kv.at("window_size_ms");
      c.options.window_stride_ms = kv.at("window_stride_ms");
      c.options.dct_coefficient_count = static_cast<int>(kv.at("feature_bin_count"));
      c.options.filterbank_channel_count = static_cast<int>(kv.at("filterbank_channel_count"));
      c.options.lower_frequency_limit = kv.at("lower_frequency_limit");
      c.options.upper_frequency_limit = kv.at("upper_frequency_limit");
      c.frames = static_cast<int>(kv.at("frames"));
      for (int f = 0; f < c.frames && std::getline(in, line); ++f) {
        std::istringstream values(line);
        double v;
        while (values >> v) c.expected.push_back(static_cast<float>(v));
      }
      if (c.expected.size() != static_cast<size_t>(c.frames) * c.options.dct_coefficient_count) {
        throw std::runtime_error(path + ": short frame block");
      }
      fx.cases.push_back(c);
    }
  }
  if (fx.samples.empty() || fx.cases.empty()) throw std::runtime_error(path + ": incomplete");
  return fx;
}

std::vector<float> Noise(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = u(rng);
  return x;
}

// Feeds `x` to a fresh stream in chunks of `chunk` samples, popping as it goes.
std::vector<float> Streamed(const std::shared_ptr<const kws::MfccFrontend>& frontend,
                            const std::vector<float>& x, size_t chunk) {
  kws::MfccStream stream(frontend);
  std::vector<float> out;
  for (size_t i = 0; i < x.size(); i += chunk) {
    stream.AcceptWaveform(x.data() + i, std::min(chunk, x.size() - i));
    if ((i / chunk) % 3 == 0) {  // pop only sometimes, so frames also queue up
      std::vector<float> got = stream.PopAllFrames();
      out.insert(out.end(), got.begin(), got.end());
    }
  }
  std::vector<float> got = stream.PopAllFrames();
  out.insert(out.end(), got.begin(), got.end());
  return out;
}

bool BitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(Mfcc, DefaultsAreTheClassicOnes) {
  kws::MfccOptions o;
  o.Validate();
  ASSERT_EQ(o.window_size_samples(), 480);
  ASSERT_EQ(o.window_stride_samples(), 160);
  ASSERT_EQ(o.fft_length(), 512);
  ASSERT_EQ(o.NumFrames(16000), 98);
  const std::string s = o.ToString();
  ASSERT_NE(s.find("sample_rate=16000"), std::string::npos);
  ASSERT_NE(s.find("dct_coefficient_count=40"), std::string::npos);
  ASSERT_NE(s.find("upper_frequency_limit=4000"), std::string::npos);
  ASSERT_NE(s.find("average_window_width=0"), std::string::npos);
  ASSERT_EQ(o.average_window_width, 0);  // the MFCC
  ASSERT_EQ(o.num_features(), 40);
}

// One bad option value and the field its error must name.
struct BadOption {
  const char* case_name;
  std::function<void(kws::MfccOptions&)> change;
  const char* field;
};

class MfccValidate : public ::testing::TestWithParam<BadOption> {};

TEST_P(MfccValidate, NamesTheBadField) {
  const BadOption& c = GetParam();
  kws::MfccOptions o;
  c.change(o);
  KWS_EXPECT_THROW_MSG(o.Validate(), kws::InvalidArgument, c.field);
  KWS_EXPECT_THROW_MSG(kws::MfccFrontend f(o), kws::InvalidArgument, c.field);
}

INSTANTIATE_TEST_SUITE_P(
    Mfcc, MfccValidate,
    ::testing::Values(
        BadOption{"ZeroSampleRate", [](kws::MfccOptions& o) { o.sample_rate = 0; }, "sample_rate"},
        BadOption{"NegativeWindow", [](kws::MfccOptions& o) { o.window_size_ms = -30; },
                  "window_size_ms"},
        BadOption{"NanWindow", [](kws::MfccOptions& o) { o.window_size_ms = NAN; },
                  "window_size_ms"},
        BadOption{"WindowUnderTwoSamples", [](kws::MfccOptions& o) { o.window_size_ms = 0.05; },
                  "window_size_ms"},
        BadOption{"HugeWindow", [](kws::MfccOptions& o) { o.window_size_ms = 1e9; },
                  "window_size_ms"},
        BadOption{"ZeroStride", [](kws::MfccOptions& o) { o.window_stride_ms = 0; },
                  "window_stride_ms"},
        BadOption{"StrideUnderOneSample", [](kws::MfccOptions& o) { o.window_stride_ms = 0.01; },
                  "window_stride_ms"},
        BadOption{"NoFilterbankChannels",
                  [](kws::MfccOptions& o) { o.filterbank_channel_count = 0; },
                  "filterbank_channel_count"},
        BadOption{"NoCoefficients", [](kws::MfccOptions& o) { o.dct_coefficient_count = 0; },
                  "dct_coefficient_count"},
        BadOption{"MoreCoefficientsThanChannels",
                  [](kws::MfccOptions& o) { o.dct_coefficient_count = 41; },
                  "dct_coefficient_count"},
        BadOption{"NegativeLowerLimit", [](kws::MfccOptions& o) { o.lower_frequency_limit = -1; },
                  "lower_frequency_limit"},
        BadOption{"UpperLimitTooLow", [](kws::MfccOptions& o) { o.upper_frequency_limit = 20; },
                  "upper_frequency_limit"},
        BadOption{"UpperLimitAboveNyquist",
                  [](kws::MfccOptions& o) { o.upper_frequency_limit = 9000; },
                  "upper_frequency_limit"},
        BadOption{"LimitsEqualAsFloat32",
                  [](kws::MfccOptions& o) {
                    o.lower_frequency_limit = 3000.0;
                    // Equal once rounded to float32, as TF holds them.
                    o.upper_frequency_limit = 3000.0001;
                  },
                  "upper_frequency_limit"},
        BadOption{"InfiniteUpperLimit",
                  [](kws::MfccOptions& o) { o.upper_frequency_limit = INFINITY; },
                  "upper_frequency_limit"},
        BadOption{"NegativeAverageWidth", [](kws::MfccOptions& o) { o.average_window_width = -2; },
                  "average_window_width"},
        BadOption{"AverageWidthAboveTheBins",
                  [](kws::MfccOptions& o) { o.average_window_width = 258; },
                  "average_window_width = 258: must be between 0 (the MFCC) and the 257"}),
    [](const ::testing::TestParamInfo<BadOption>& info) { return info.param.case_name; });

TEST(Mfcc, FrameCountFollowsTheFormula) {
  kws::MfccOptions o;
  kws::MfccFrontend f(o);
  ASSERT_EQ(o.NumFrames(0), 0);
  ASSERT_EQ(o.NumFrames(479), 0);
  ASSERT_EQ(o.NumFrames(480), 1);
  ASSERT_EQ(o.NumFrames(639), 1);
  ASSERT_EQ(o.NumFrames(640), 2);
  for (size_t n : {0u, 100u, 479u, 480u, 481u, 640u, 16000u, 16001u}) {
    const size_t expected = n < 480 ? 0 : 1 + (n - 480) / 160;
    ASSERT_EQ(f.Compute(Noise(n, 1).data(), n).size(), expected * 40);
  }
  kws::MfccOptions o8;
  o8.sample_rate = 8000;
  o8.window_size_ms = 25;
  o8.window_stride_ms = 10;
  ASSERT_EQ(o8.window_size_samples(), 200);
  ASSERT_EQ(o8.fft_length(), 256);
  ASSERT_EQ(o8.NumFrames(8000), 1 + (8000 - 200) / 80);
}

TEST(Mfcc, MatchesTensorFlowFixture) {
  const Fixture fx = LoadFixture();
  for (const FixtureCase& c : fx.cases) {
    kws::MfccFrontend f(c.options);
    const std::vector<float> got = f.Compute(fx.samples.data(), fx.samples.size());
    ASSERT_EQ(got.size(), c.expected.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - c.expected[i]));
    }
    ASSERT_NEAR(worst, 0.0, 1e-3);
  }
}

TEST(Mfcc, DigitalSilenceHitsTheLogFloor) {
  // Every channel is floored at 1e-12: c0 = 40 * sqrt(2/40) * ln(1e-12), the rest ~0.
  kws::MfccFrontend f{kws::MfccOptions()};
  const std::vector<float> zeros(16000, 0.0f);
  const std::vector<float> got = f.Compute(zeros.data(), zeros.size());
  const double c0 = 40.0 * std::sqrt(2.0 / 40.0) * std::log(1e-12);
  for (int frame = 0; frame < 98; ++frame) {
    ASSERT_NEAR(got[frame * 40], c0, 1e-3);
    for (int i = 1; i < 40; ++i) ASSERT_NEAR(got[frame * 40 + i], 0.0, 1e-3);
  }
}

// Streaming gives the whole-signal frames bit for bit, whatever the chunk size (samples).
class MfccStreaming : public ::testing::TestWithParam<size_t> {};

TEST_P(MfccStreaming, IsChunkingInvariant) {
  std::vector<kws::MfccOptions> settings(3);
  settings[1].window_size_ms = 40;
  settings[1].window_stride_ms = 20;
  settings[1].dct_coefficient_count = 13;
  settings[2].window_size_ms = 10;  // stride longer than the window: samples are skipped
  settings[2].window_stride_ms = 25;
  settings[2].dct_coefficient_count = 10;
  const std::vector<float> x = Noise(16000 + 123, 7);
  for (const auto& o : settings) {
    auto f = std::make_shared<const kws::MfccFrontend>(o);
    const std::vector<float> whole = f->Compute(x.data(), x.size());
    ASSERT_TRUE(whole.size() ==
                static_cast<size_t>(o.NumFrames(x.size())) * o.dct_coefficient_count);
    const size_t chunk = GetParam() == 0 ? x.size() : GetParam();
    ASSERT_TRUE(BitIdentical(Streamed(f, x, chunk), whole));
  }
}

// 0: the whole signal in one chunk.
INSTANTIATE_TEST_SUITE_P(Mfcc, MfccStreaming, ::testing::Values(1, 7, 160, 479, 0),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return info.param == 0 ? std::string("Whole")
                                                  : "Chunk" + std::to_string(info.param);
                         });

TEST(Mfcc, StreamPopsInOrderAndResets) {
  auto f = std::make_shared<const kws::MfccFrontend>(kws::MfccOptions());
  const std::vector<float> x = Noise(16000, 3);
  const std::vector<float> whole = f->Compute(x.data(), x.size());
  kws::MfccStream s(f);
  s.AcceptWaveform(x.data(), 479);
  ASSERT_EQ(s.NumFramesReady(), 0);
  s.AcceptWaveform(x.data() + 479, 1);
  ASSERT_EQ(s.NumFramesReady(), 1);
  s.AcceptWaveform(x.data() + 480, x.size() - 480);
  ASSERT_EQ(s.NumFramesReady(), 98);
  std::vector<float> first(3 * 40);
  ASSERT_EQ(s.PopFrames(first.data(), 3), 3);
  ASSERT_TRUE(std::equal(first.begin(), first.end(), whole.begin()));
  ASSERT_EQ(s.frames_emitted(), 3);
  ASSERT_EQ(s.NumFramesReady(), 95);
  const std::vector<float> rest = s.PopAllFrames();
  ASSERT_TRUE(std::equal(rest.begin(), rest.end(), whole.begin() + 3 * 40));
  ASSERT_EQ(s.frames_emitted(), 98);

  // Reset drops half-filled windows and queued frames: afterwards it is a new stream.
  s.AcceptWaveform(x.data(), 1000);
  s.Reset();
  ASSERT_EQ(s.NumFramesReady(), 0);
  ASSERT_EQ(s.frames_emitted(), 0);
  s.AcceptWaveform(x.data(), x.size());
  ASSERT_TRUE(BitIdentical(s.PopAllFrames(), whole));
}

TEST(Mfcc, SingleFramesEqualBatchFrames) {
  kws::MfccFrontend f{kws::MfccOptions()};
  const std::vector<float> x = Noise(16000, 5);
  const std::vector<float> whole = f.Compute(x.data(), x.size());
  std::vector<float> one(40);
  for (int frame : {0, 1, 2, 3, 4, 50, 97}) {
    f.ComputeFrame(x.data() + frame * 160, one.data());
    ASSERT_EQ(std::memcmp(one.data(), whole.data() + frame * 40, 40 * sizeof(float)), 0);
  }
}

TEST(Mfcc, ConcurrentUseGivesTheSameFrames) {
  auto f = std::make_shared<const kws::MfccFrontend>(kws::MfccOptions());
  const std::vector<float> x = Noise(32000, 9);
  const std::vector<float> expected = f->Compute(x.data(), x.size());
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 5; ++r) got[t] = f->Compute(x.data(), x.size());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) ASSERT_TRUE(BitIdentical(g, expected));
}

// The frames are compiled once per kernel set (cpp/src/kernels/mfcc_frames.h), each build
// without FMA contraction, and must compute the same bits in every set this CPU runs: the
// MFCC and the averaged spectrogram of a real clip, FFTs with even and odd stage counts
// (512, 256 and 1024 points), frame counts that leave partial groups of four.
TEST(Mfcc, EveryKernelSetComputesTheSameBits) {
  const Fixture fx = LoadFixture();
  std::vector<kws::MfccOptions> settings(5);
  settings[1].window_size_ms = 16;  // 256 points: an odd number of radix-2 stages
  settings[1].window_stride_ms = 7;
  settings[1].dct_coefficient_count = 13;
  settings[2].window_size_ms = 40;  // 1024 points
  settings[2].window_stride_ms = 20;
  settings[2].filterbank_channel_count = 64;
  settings[2].dct_coefficient_count = 64;
  settings[3].window_size_ms = 25;  // the averaged spectrogram
  settings[3].average_window_width = 6;
  settings[4].window_size_ms = 16;
  settings[4].average_window_width = 1;
  const kws::BuildInfo build = kws::GetBuildInfo();
  const std::string active = build.kernel_set;
  for (size_t s = 0; s < settings.size(); ++s) {
    kws::MfccFrontend f(settings[s]);
    ASSERT_TRUE(kws::UseKernelSet("scalar"));
    const std::vector<float> reference = f.Compute(fx.samples.data(), fx.samples.size());
    ASSERT_GT(reference.size(), 0u);
    for (const std::string& set : build.supported_sets) {
      ASSERT_TRUE(kws::UseKernelSet(set));
      const std::vector<float> got = f.Compute(fx.samples.data(), fx.samples.size());
      EXPECT_TRUE(BitIdentical(got, reference))
          << "kernel set " << set << " differs from scalar with " << settings[s].ToString();
    }
  }
  ASSERT_TRUE(kws::UseKernelSet(active));
}
