// The "average" front end (MfccOptions::average_window_width > 0: the power spectrogram
// averaged over groups of bins, as the speech-commands `--preprocess average`) against a
// reference computed here from a direct DFT, and a model.kws with that front end (and the
// log and leaky_relu ops): whole-clip scores against a reference computed here, and the
// cached Stream and the streaming evaluator equal to whole-clip inference bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kws/error.h"
#include "kws/mfcc.h"
#include "kws/model.h"
#include "kws/streaming_evaluator.h"
#include "kws/wav_io.h"
#include "reliability_models.h"
#include "test_support.h"

namespace {

constexpr int kRate = 16000;
constexpr int kWindow = 512;  // 32 ms
constexpr int kStride = 160;  // 10 ms
constexpr int kBins = 257;    // 512-point FFT

kws::MfccOptions AverageOptions(int width) {
  kws::MfccOptions o;
  o.window_size_ms = 32.0;
  o.window_stride_ms = 10.0;
  o.average_window_width = width;
  return o;
}

// |DFT|^2 of one periodic-Hann-windowed frame of 512 samples, by the definition (no FFT),
// in double; each bin rounded to float32 as tf.raw_ops.AudioSpectrogram returns it.
std::vector<float> DirectPower(const float* x) {
  static std::vector<double> c, s;
  if (c.empty()) {
    for (int i = 0; i < kWindow; ++i) {
      c.push_back(std::cos(2.0 * M_PI * i / kWindow));
      s.push_back(std::sin(2.0 * M_PI * i / kWindow));
    }
  }
  std::vector<double> w(kWindow);
  for (int i = 0; i < kWindow; ++i) w[i] = x[i] * (0.5 - 0.5 * c[i]);
  std::vector<float> p(kBins);
  for (int k = 0; k < kBins; ++k) {
    double re = 0, im = 0;
    for (int i = 0; i < kWindow; ++i) {
      const int a = (k * i) % kWindow;
      re += w[i] * c[a];
      im -= w[i] * s[a];
    }
    p[k] = static_cast<float>(re * re + im * im);
  }
  return p;
}

// tf.nn.pool(AVG, window [1, width], strides [1, width], SAME) over one row of bins:
// ceil(bins / width) outputs; TensorFlow pads max((out - 1) * width + width - bins, 0)
// in total, the smaller half before; each output averages its window's real bins.
std::vector<double> SamePoolAverage(const std::vector<float>& p, int width) {
  const int n = static_cast<int>(p.size());
  const int out = (n + width - 1) / width;
  const int pad_before = std::max((out - 1) * width + width - n, 0) / 2;
  std::vector<double> r(out);
  for (int j = 0; j < out; ++j) {
    double sum = 0;
    int count = 0;
    for (int i = j * width - pad_before; i < j * width - pad_before + width; ++i) {
      if (i < 0 || i >= n) continue;
      sum += p[i];
      ++count;
    }
    r[j] = sum / count;
  }
  return r;
}

// Reference features of a signal: frames x ceil(257 / width).
std::vector<double> ReferenceFeatures(const float* x, size_t n, int width) {
  std::vector<double> f;
  for (size_t start = 0; start + kWindow <= n; start += kStride) {
    const std::vector<double> row = SamePoolAverage(DirectPower(x + start), width);
    f.insert(f.end(), row.begin(), row.end());
  }
  return f;
}

std::vector<float> RealClip() {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(kws_test::SampleDir() + "/yes"))
    if (e.path().extension() == ".wav") paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) throw std::runtime_error("no clips in " + kws_test::SampleDir() + "/yes");
  return kws::ReadWavMono(paths[0]).samples;
}

// Relative error, with an absolute floor far below any real bin's power.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  double peak = 0;
  for (double v : want) peak = std::max(peak, std::fabs(v));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - want[i]), rel * std::fabs(want[i]) + 1e-12 * peak)
        << "value " << i << ": " << got[i] << " vs " << want[i];
}

TEST(AverageFrontend, OptionsCountBinsAndValidate) {
  kws::MfccOptions o = AverageOptions(1);
  o.Validate();
  ASSERT_EQ(o.spectrogram_bins(), 257);
  ASSERT_EQ(o.num_features(), 257);
  ASSERT_EQ(AverageOptions(2).num_features(), 129);
  ASSERT_EQ(AverageOptions(3).num_features(), 86);
  ASSERT_EQ(AverageOptions(257).num_features(), 1);
  ASSERT_EQ(kws::MfccOptions().num_features(), 40);  // the MFCC: dct_coefficient_count
  ASSERT_NE(o.ToString().find("average_window_width=1"), std::string::npos);
  // The MFCC's own options are not used, so not checked.
  o.filterbank_channel_count = 0;
  o.upper_frequency_limit = 1e9;
  o.dct_coefficient_count = -3;
  o.Validate();
  ASSERT_EQ(kws::MfccFrontend(o).num_coefficients(), 257);
  KWS_EXPECT_THROW_MSG(AverageOptions(-1).Validate(), kws::InvalidArgument,
                       "average_window_width = -1");
  KWS_EXPECT_THROW_MSG(kws::MfccFrontend(AverageOptions(258)), kws::InvalidArgument,
                       "257 spectrogram bins");
}

// Width 1 is the power spectrogram; 2 and 3 leave the last group one bin short; 4, 5, 64
// and 256 pad before the first group too (1, 1, 31 and 127 bins); 257 is one group.
TEST(AverageFrontend, EqualsTheDirectDftAveragedWithSamePadding) {
  const std::vector<float> x = RealClip();
  for (int width : {1, 2, 3, 4, 5, 64, 256, 257}) {
    SCOPED_TRACE("width " + std::to_string(width));
    const kws::MfccFrontend f(AverageOptions(width));
    const int out = (kBins + width - 1) / width;
    ASSERT_EQ(f.num_coefficients(), out);
    const std::vector<float> got = f.Compute(x.data(), x.size());
    ASSERT_EQ(got.size(), static_cast<size_t>(1 + (x.size() - kWindow) / kStride) * out);
    ExpectClose(got, ReferenceFeatures(x.data(), x.size(), width), 1e-5);
  }
}

TEST(AverageFrontend, GroupsFollowTensorFlowSamePlacement) {
  const std::vector<float> x = RealClip();
  const size_t start = 40 * kStride;  // a frame inside the word
  const std::vector<float> p = DirectPower(x.data() + start);
  auto frame = [&](int width) {
    const kws::MfccFrontend f(AverageOptions(width));
    std::vector<float> row(f.num_coefficients());
    f.ComputeFrame(x.data() + start, row.data());
    return row;
  };
  auto mean = [&](int a, int b) {  // bins [a, b)
    double s = 0;
    for (int i = a; i < b; ++i) s += p[i];
    return s / (b - a);
  };
  const std::vector<float> w1 = frame(1);
  for (int i = 0; i < kBins; ++i) ASSERT_NEAR(w1[i], p[i], 1e-5 * p[i] + 1e-20);
  // 257 bins in groups of 3: 86 groups, one bin of padding at the end.
  const std::vector<float> w3 = frame(3);
  ASSERT_NEAR(w3[0], mean(0, 3), 1e-5 * mean(0, 3));
  ASSERT_NEAR(w3[85], mean(255, 257), 1e-5 * mean(255, 257));
  // Groups of 4: 65 groups, 3 bins of padding: 1 before, 2 after.
  const std::vector<float> w4 = frame(4);
  ASSERT_NEAR(w4[0], mean(0, 3), 1e-5 * mean(0, 3));
  ASSERT_NEAR(w4[1], mean(3, 7), 1e-5 * mean(3, 7));
  ASSERT_NEAR(w4[64], mean(255, 257), 1e-5 * mean(255, 257));
}

TEST(AverageFrontend, StreamFramesEqualWholeSignalFrames) {
  const std::vector<float> x = RealClip();
  const kws::MfccOptions o = AverageOptions(3);
  const auto f = std::make_shared<const kws::MfccFrontend>(o);
  const std::vector<float> whole = f->Compute(x.data(), x.size());
  kws::MfccStream stream(f);
  for (size_t i = 0; i < x.size(); i += 777)
    stream.AcceptWaveform(x.data() + i, std::min<size_t>(777, x.size() - i));
  ASSERT_EQ(stream.PopAllFrames(), whole);
}

// ---- a model with the average front end ----------------------------------------------

constexpr int kClip = 8000;  // 0.5 s: 47 frames
constexpr int kFrames = 47;

// log (scale 0.1, shift 0.5, floor 1e-8), reshape, conv 2 @ 3x3 SAME + bias, leaky_relu
// (alpha 0.2, floor -0.3), max-pool 2x2 VALID, global average pool, dense 3.
struct AverageModel {
  int width;
  int bins;  // features per frame
  std::map<std::string, kws_test::TensorData> tensors;

  explicit AverageModel(int w) : width(w), bins((kBins + w - 1) / w) {
    std::mt19937 gen(21 + w);
    std::normal_distribution<float> normal(0.0f, 0.4f);
    auto fill = [&](const std::string& name, std::vector<int> shape) {
      size_t n = 1;
      for (int d : shape) n *= static_cast<size_t>(d);
      kws_test::TensorData t{shape, std::vector<float>(n)};
      for (float& v : t.values) v = normal(gen);
      tensors[name] = t;
    };
    fill("conv.kernel", {3, 3, 1, 2});
    fill("conv.bias", {2});
    fill("dense.kernel", {2, 3});
    fill("dense.bias", {3});
  }

  std::string Meta(const std::string& frontend, const std::string& input_shape) const {
    const std::string f = std::to_string(bins), t = std::to_string(kFrames);
    const std::string pooled = std::to_string(kFrames / 2) + ", " + std::to_string(bins / 2);
    return R"({"format_version": 1, "architecture": "average_test", "labels": ["_silence_", "_unknown_", "yes"],)"
           R"( "sample_rate": 16000, "clip_duration_ms": 500, "clip_samples": 8000, "frontend": )" +
           frontend + R"(, "input_shape": )" + input_shape +
           R"(, "ops": [)"
           R"({"name": "lg", "type": "log", "inputs": [0], "attrs": {"scale": 0.1, "shift": 0.5, "floor": 1e-8}, "output_shape": [)" +
           t + ", " + f +
           R"(]},)"
           R"({"name": "reshape", "type": "reshape", "inputs": [1], "attrs": {"target_shape": [)" +
           t + ", " + f + R"(, 1]}, "output_shape": [)" + t + ", " + f +
           R"(, 1]},)"
           R"({"name": "conv", "type": "conv2d", "inputs": [2], "attrs": {"filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "activation": "linear"},)"
           R"( "tensors": {"kernel": "conv.kernel", "bias": "conv.bias"}, "output_shape": [)" +
           t + ", " + f +
           R"(, 2]},)"
           R"({"name": "leaky", "type": "leaky_relu", "inputs": [3], "attrs": {"alpha": 0.2, "floor": -0.3}, "output_shape": [)" +
           t + ", " + f +
           R"(, 2]},)"
           R"({"name": "pool", "type": "max_pool2d", "inputs": [4], "attrs": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}, "output_shape": [)" +
           pooled +
           R"(, 2]},)"
           R"({"name": "gap", "type": "global_avg_pool2d", "inputs": [5], "output_shape": [2]},)"
           R"({"name": "dense", "type": "dense", "inputs": [6], "attrs": {"units": 3, "activation": "linear"},)"
           R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  }
  std::string Frontend() const {
    return R"({"type": "average", "window_size_ms": 32.0, "window_stride_ms": 10.0, "average_window_width": )" +
           std::to_string(width) + "}";
  }
  std::string InputShape() const {
    return "[" + std::to_string(kFrames) + ", " + std::to_string(bins) + "]";
  }
  std::shared_ptr<const kws::Model> Load() const {
    return LoadMeta(Meta(Frontend(), InputShape()));
  }
  std::shared_ptr<const kws::Model> LoadMeta(const std::string& meta) const {
    const std::vector<uint8_t> bytes = kws_test::SafetensorsImage(meta, tensors);
    return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "average_test.kws");
  }

  // The scores of one clip, computed here in double from the reference features.
  std::vector<double> Reference(const float* clip) const {
    const std::vector<double> feat = ReferenceFeatures(clip, kClip, width);
    const int T = kFrames, F = bins;
    std::vector<double> lg(feat.size());
    for (size_t i = 0; i < feat.size(); ++i) lg[i] = 0.1 * std::log(std::max(feat[i], 1e-8)) + 0.5;
    const std::vector<float>& k = tensors.at("conv.kernel").values;  // (3, 3, 1, 2)
    const std::vector<float>& b = tensors.at("conv.bias").values;
    std::vector<double> act(static_cast<size_t>(T) * F * 2);
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < F; ++j)
        for (int c = 0; c < 2; ++c) {
          double s = b[c];
          for (int dy = 0; dy < 3; ++dy)
            for (int dx = 0; dx < 3; ++dx) {
              const int tt = t + dy - 1, jj = j + dx - 1;
              if (tt < 0 || tt >= T || jj < 0 || jj >= F) continue;
              s += k[(dy * 3 + dx) * 2 + c] * lg[static_cast<size_t>(tt) * F + jj];
            }
          const double y = s >= 0 ? s : 0.2 * s;
          act[(static_cast<size_t>(t) * F + j) * 2 + c] = std::max(y, -0.3);
        }
    double pooled[2] = {0, 0};
    const int To = T / 2, Fo = F / 2;
    for (int t = 0; t < To; ++t)
      for (int j = 0; j < Fo; ++j)
        for (int c = 0; c < 2; ++c) {
          double m = -1e300;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx)
              m = std::max(m, act[(static_cast<size_t>(2 * t + dy) * F + 2 * j + dx) * 2 + c]);
          pooled[c] += m / (To * Fo);
        }
    const std::vector<float>& dk = tensors.at("dense.kernel").values;  // (2, 3)
    const std::vector<float>& db = tensors.at("dense.bias").values;
    std::vector<double> logits(3);
    double peak = -1e300;
    for (int u = 0; u < 3; ++u) {
      logits[u] = db[u] + pooled[0] * dk[u] + pooled[1] * dk[3 + u];
      peak = std::max(peak, logits[u]);
    }
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l - peak));
    for (double& l : logits) l /= sum;
    return logits;
  }
};

// 3 s of a chirp under noise bursts.
std::vector<float> Signal() {
  std::mt19937 gen(9);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> x(3 * kRate);
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / kRate;
    const double burst = std::fmod(t, 0.7) < 0.2 ? 0.3 : 0.01;
    x[i] = static_cast<float>(0.3 * std::sin(2 * M_PI * (300 + 500 * t) * t) + burst * noise(gen));
  }
  return x;
}

class AverageModelTest : public ::testing::TestWithParam<int> {};

TEST_P(AverageModelTest, LoadsAndScoresAsTheReference) {
  const AverageModel spec(GetParam());
  const auto model = spec.Load();
  ASSERT_EQ(model->num_frames(), kFrames);
  ASSERT_EQ(model->num_coefficients(), spec.bins);
  ASSERT_EQ(model->frontend_options().average_window_width, spec.width);
  ASSERT_EQ(model->frame_stride_samples(), kStride);
  std::vector<float> clip = RealClip();
  clip.resize(kClip);
  const std::vector<float> got = model->Predict(clip);
  const std::vector<double> want = spec.Reference(clip.data());
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << "label " << i;
  // The scores are not a trivial answer: they differ between two clips.
  const std::vector<float> x = Signal();
  const std::vector<float> other = model->Predict(std::vector<float>(x.begin(), x.begin() + kClip));
  const std::vector<double> other_want = spec.Reference(x.data());
  for (int i = 0; i < 3; ++i) ASSERT_NEAR(other[i], other_want[i], 1e-4) << "label " << i;
  ASSERT_GT(std::fabs(other[0] - got[0]) + std::fabs(other[2] - got[2]), 1e-3);
}

// Live Stream scores at several hops: whole-clip inference of each window, bit for bit;
// the streaming evaluator (batched and by streams): the live stream's, bit for bit.
TEST_P(AverageModelTest, StreamAndEvaluatorEqualWholeClip) {
  const AverageModel spec(GetParam());
  const auto model = spec.Load();
  const std::vector<float> x = Signal();
  for (int hop_frames : {1, 2, 3}) {
    SCOPED_TRACE("hop " + std::to_string(hop_frames) + " frames");
    const int hop = hop_frames * kStride;
    auto stream = model->CreateStream(hop);
    std::vector<float> live;
    size_t windows = 0;
    for (size_t i = 0; i < x.size(); i += 1000) {
      stream->AcceptWaveform(x.data() + i, std::min<size_t>(1000, x.size() - i));
      while (stream->IsReady()) {
        stream->Decode();
        const kws::StreamResult& r = stream->GetResult();
        ASSERT_EQ(r.start_sample, static_cast<int64_t>(windows) * hop);
        const std::vector<float> whole = model->Predict(
            std::vector<float>(x.begin() + r.start_sample, x.begin() + r.end_sample));
        ASSERT_EQ(r.scores, whole) << "window " << windows;
        live.insert(live.end(), r.scores.begin(), r.scores.end());
        ++windows;
      }
    }
    ASSERT_EQ(windows, (x.size() - kClip) / hop + 1);
    // Later hops reuse cached rows: fewer FLOPs than a whole window.
    ASSERT_LT(stream->last_decode_flops(), model->flops_per_window());

    kws::StreamingOptions o;
    o.clip_duration_ms = 500;
    o.clip_stride_ms = 10 * hop_frames;
    const kws::StreamingEvaluator batched = [&] {
      setenv("KWS_EVAL_SCORING", "batched", 1);  // read at construction
      kws::StreamingEvaluator ev(model, o);
      unsetenv("KWS_EVAL_SCORING");
      return ev;
    }();
    ASSERT_TRUE(batched.batched()) << batched.scoring_method();
    for (int threads : {1, 2})
      ASSERT_EQ(batched.ComputeScores(x.data(), x.size(), threads).scores, live);
    ASSERT_EQ(batched.ComputeScoresWithStream(x.data(), x.size(), 2).scores, live);
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, AverageModelTest, ::testing::Values(1, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return "Width" + std::to_string(info.param);
                         });

TEST(AverageModel, RefusesBadFrontEnds) {
  const AverageModel spec(3);
  // input_shape must be (frames, ceil(bins / width)).
  KWS_EXPECT_THROW_MSG(spec.LoadMeta(spec.Meta(spec.Frontend(), "[47, 85]")), kws::ModelError,
                       "input_shape does not match the front end: expected [47, 86]");
  // A width above the 257 bins, or below 1, or missing.
  const std::string base =
      R"({"type": "average", "window_size_ms": 32.0, "window_stride_ms": 10.0)";
  KWS_EXPECT_THROW_MSG(
      spec.LoadMeta(spec.Meta(base + R"(, "average_window_width": 300})", spec.InputShape())),
      kws::ModelError, "average_test.kws: invalid front-end options");
  KWS_EXPECT_THROW_MSG(
      spec.LoadMeta(spec.Meta(base + R"(, "average_window_width": 0})", spec.InputShape())),
      kws::ModelError, "average_window_width");
  KWS_EXPECT_THROW_MSG(spec.LoadMeta(spec.Meta(base + "}", spec.InputShape())), kws::ModelError,
                       "lacks 'average_window_width'");
  // Unknown types are still refused, naming the file and the type.
  KWS_EXPECT_THROW_MSG(
      spec.LoadMeta(spec.Meta(R"({"type": "micro", "window_size_ms": 30, "window_stride_ms": 10})",
                              spec.InputShape())),
      kws::ModelError, "average_test.kws: front end 'micro' is not supported");
}

}  // namespace
