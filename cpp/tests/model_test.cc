// model.kws loading, validation and inference on small models built in memory.
#include "kws/model.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kws/error.h"
#include "kws/mfcc.h"
#include "kws/recognize_commands.h"
#include "test_support.h"

namespace {

// A tiny model for 0.1 s clips at 16 kHz (8 frames x 10 coefficients): reshape, conv
// `filters` (4) @ 3x3 SAME + relu, max-pool 2x2, flatten, dense to 3 labels.
struct TinyModel {
  int filters = 4;
  std::map<std::string, std::vector<float>> tensors;
  std::map<std::string, std::vector<int>> shapes;
  std::string version = "1";
  std::string conv_kernel_shape_in_meta = "[3, 3, 1, 4]";  // only documents
  std::string labels = R"(["_silence_", "_unknown_", "yes"])";
  std::string window_size_ms = "30";
  std::string extra_op;  // appended raw op JSON (tampering)
  std::string dense_type = "dense";
  std::string meta_override;  // metadata written instead of Meta() when not empty
  std::string identity;       // raw members after "architecture" (name, version, ...)
  bool checksum = false;      // write kws_crc32c (as kws export does)
  std::string crc_override;   // kws_crc32c text written instead of the right one

  explicit TinyModel(int conv_filters = 4) : filters(conv_filters) {
    std::mt19937 gen(7);
    std::normal_distribution<float> n(0.0f, 0.3f);
    auto fill = [&](const std::string& name, std::vector<int> shape) {
      size_t count = 1;
      for (int d : shape) count *= d;
      std::vector<float> v(count);
      for (auto& x : v) x = n(gen);
      tensors[name] = v;
      shapes[name] = shape;
    };
    fill("conv.kernel", {3, 3, 1, filters});
    fill("conv.bias", {filters});
    fill("dense.kernel", {4 * 5 * filters, 3});
    fill("dense.bias", {3});
  }

  std::string Meta() const {
    return std::string(R"({"format_version": )") + version + R"(, "architecture": "tiny")" +
           identity + R"(, "labels": )" + labels +
           R"(, "sample_rate": 16000, "clip_duration_ms": 100, "clip_samples": 1600,)"
           R"( "frontend": {"type": "mfcc", "window_size_ms": )" +
           window_size_ms +
           R"(, "window_stride_ms": 10, "filterbank_channel_count": 40,)"
           R"( "lower_frequency_limit": 20, "upper_frequency_limit": 4000,)"
           R"( "dct_coefficient_count": 10}, "input_shape": [8, 10], "ops": [)"
           R"({"name": "reshape", "type": "reshape", "inputs": [0],)"
           R"( "attrs": {"target_shape": [8, 10, 1]}, "output_shape": [8, 10, 1]},)"
           R"({"name": "conv", "type": "conv2d", "inputs": [1], "attrs": {"filters": )" +
           std::to_string(filters) +
           R"(, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "activation": "relu"},)"
           R"( "tensors": {"kernel": "conv.kernel", "bias": "conv.bias"}, "output_shape": [8, 10, )" +
           std::to_string(filters) +
           R"(]},)"
           R"({"name": "pool", "type": "max_pool2d", "inputs": [2], "attrs": {"pool_size": [2, 2],)"
           R"( "strides": [2, 2], "padding": "valid"}, "output_shape": [4, 5, )" +
           std::to_string(filters) +
           R"(]},)"
           R"({"name": "flatten", "type": "flatten", "inputs": [3], "output_shape": [)" +
           std::to_string(20 * filters) +
           R"(]},)"
           R"({"name": "dense", "type": ")" +
           dense_type +
           R"(", "inputs": [4], "attrs": {"units": 3},)"
           R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]})" +
           extra_op + "]}";
  }

  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }

  // The safetensors image; `offsets` may override a tensor's data_offsets text.
  std::vector<uint8_t> Bytes(const std::map<std::string, std::string>& offsets = {}) const {
    const std::string meta = meta_override.empty() ? Meta() : meta_override;
    std::string entries;
    size_t cursor = 0;
    std::vector<uint8_t> data;
    for (const auto& kv : tensors) {
      const size_t bytes = kv.second.size() * 4;
      std::string shape = "[";
      for (size_t i = 0; i < shapes.at(kv.first).size(); ++i)
        shape += (i ? ", " : "") + std::to_string(shapes.at(kv.first)[i]);
      shape += "]";
      std::string off = "[" + std::to_string(cursor) + ", " + std::to_string(cursor + bytes) + "]";
      auto it = offsets.find(kv.first);
      if (it != offsets.end()) off = it->second;
      entries += ", \"" + kv.first + "\": {\"dtype\": \"F32\", \"shape\": " + shape +
                 ", \"data_offsets\": " + off + "}";
      const uint8_t* p = reinterpret_cast<const uint8_t*>(kv.second.data());
      data.insert(data.end(), p, p + bytes);
      cursor += bytes;
    }
    std::string header = "{\"__metadata__\": {\"kws\": \"" + Escape(meta) + "\"";
    if (checksum) {
      uint32_t crc = kws::Crc32c(reinterpret_cast<const uint8_t*>(meta.data()), meta.size());
      crc = kws::Crc32c(data.data(), data.size(), crc);
      char hex[9];
      std::snprintf(hex, sizeof(hex), "%08x", crc);
      header += ", \"kws_crc32c\": \"" + (crc_override.empty() ? hex : crc_override) + "\"";
    }
    header += "}" + entries + "}";
    std::vector<uint8_t> out(8);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }
};

std::shared_ptr<const kws::Model> Load(const std::vector<uint8_t>& bytes) {
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "tiny.kws");
}

// Straightforward reference of TinyModel's forward pass (logits -> softmax).
std::vector<float> Reference(const TinyModel& t, const std::vector<float>& f) {
  const auto& k = t.tensors.at("conv.kernel");
  const auto& kb = t.tensors.at("conv.bias");
  const int F = t.filters;
  std::vector<float> conv(8 * 10 * F);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 10; ++x)
      for (int c = 0; c < F; ++c) {
        double s = kb[c];
        for (int dy = 0; dy < 3; ++dy)
          for (int dx = 0; dx < 3; ++dx) {
            int yy = y + dy - 1, xx = x + dx - 1;
            if (yy < 0 || yy >= 8 || xx < 0 || xx >= 10) continue;
            s += f[yy * 10 + xx] * k[(dy * 3 + dx) * F + c];
          }
        if (t.tensors.count("bn.scale"))  // conv (linear) -> batch norm -> relu
          s = s * t.tensors.at("bn.scale")[c] + t.tensors.at("bn.shift")[c];
        conv[(y * 10 + x) * F + c] = s > 0 ? static_cast<float>(s) : 0.0f;
      }
  std::vector<float> pool(4 * 5 * F);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < F; ++c) {
        float m = -1e30f;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx)
            m = std::max(m, conv[((2 * y + dy) * 10 + 2 * x + dx) * F + c]);
        pool[(y * 5 + x) * F + c] = m;
      }
  const auto& w = t.tensors.at("dense.kernel");
  const auto& b = t.tensors.at("dense.bias");
  std::vector<double> logits(3);
  double mx = -1e30;
  for (int j = 0; j < 3; ++j) {
    double s = b[j];
    for (int i = 0; i < 20 * F; ++i) s += pool[i] * w[i * 3 + j];
    logits[j] = s;
    mx = std::max(mx, s);
  }
  double sum = 0;
  for (auto& l : logits) sum += (l = std::exp(l - mx));
  std::vector<float> out;
  for (auto l : logits) out.push_back(static_cast<float>(l / sum));
  return out;
}

// PredictFeatures(f) against the double-precision reference, within 1e-5.
void ExpectMatchesReference(const kws::Model& model, const TinyModel& t,
                            const std::vector<float>& f) {
  std::vector<float> scores(3);
  model.PredictFeatures(f.data(), scores.data());
  const auto ref = Reference(t, f);
  for (int i = 0; i < 3; ++i) ASSERT_NEAR(scores[i], ref[i], 1e-5);
}

// A stream at `hop` over `audio` gives `windows` windows, each bit-identical to the whole
// clip's scores.
void ExpectStreamEqualsWholeClip(const kws::Model& model, const std::vector<float>& audio, int hop,
                                 int windows) {
  auto stream = model.CreateStream(hop);
  stream->AcceptWaveform(audio.data(), audio.size());
  int seen = 0;
  while (stream->IsReady()) {
    stream->Decode();
    const auto& r = stream->GetResult();
    const auto whole = model.Predict(
        std::vector<float>(audio.begin() + r.start_sample, audio.begin() + r.end_sample));
    for (int k = 0; k < 3; ++k) ASSERT_EQ(r.scores[k], whole[k]);
    ++seen;
  }
  ASSERT_EQ(seen, windows);
}

}  // namespace

TEST(Model, LoadsAndMatchesReference) {
  TinyModel t;
  auto model = Load(t.Bytes());
  ASSERT_TRUE(model->architecture() == "tiny");
  ASSERT_TRUE(model->num_labels() == 3);
  ASSERT_TRUE(model->labels()[2] == "yes");
  ASSERT_TRUE(model->num_frames() == 8);
  ASSERT_TRUE(model->num_coefficients() == 10);
  ASSERT_TRUE(model->clip_samples() == 1600);
  ASSERT_TRUE(model->Summary().find("conv2d") != std::string::npos);
  std::mt19937 gen(1);
  std::normal_distribution<float> n(0.0f, 2.0f);
  std::vector<float> f(80);
  for (auto& x : f) x = n(gen);
  ExpectMatchesReference(*model, t, f);
}

// A dense layer narrower than one panel whose padded weights would pass 1 MB (here
// 20480 x 3) is packed without padding: the scores still match the reference, and a
// stream gives the whole clip's bits.
TEST(Model, WideNarrowDenseMatchesReference) {
  TinyModel t(1024);
  auto model = Load(t.Bytes());
  std::mt19937 gen(3);
  std::normal_distribution<float> n(0.0f, 2.0f);
  std::vector<float> audio(1600 + 3 * 160);
  for (auto& x : audio) x = n(gen) * 0.05f;
  std::vector<float> f(80);
  for (auto& x : f) x = n(gen);
  ExpectMatchesReference(*model, t, f);
  ExpectStreamEqualsWholeClip(*model, audio, 160, 4);
}

// A stream at each hop (samples) gives the whole-clip scores of each window, also after
// a reset.
class ModelStream : public ::testing::TestWithParam<int> {};

TEST_P(ModelStream, MatchesWholeClipAndResets) {
  const int hop = GetParam();
  TinyModel t;
  auto model = Load(t.Bytes());
  std::mt19937 gen(2);
  std::normal_distribution<float> n(0.0f, 0.1f);
  std::vector<float> audio(1600 + 20 * 160);
  for (auto& x : audio) x = n(gen);
  auto stream = model->CreateStream(hop);
  for (int pass = 0; pass < 2; ++pass) {
    stream->Reset();
    int windows = 0;
    for (size_t i = 0; i < audio.size(); i += 37) {
      stream->AcceptWaveform(audio.data() + i, std::min<size_t>(37, audio.size() - i));
      while (stream->IsReady()) {
        stream->Decode();
        const auto& r = stream->GetResult();
        ASSERT_TRUE(r.start_sample == static_cast<int64_t>(windows) * hop);
        ASSERT_EQ(r.end_sample, r.start_sample + 1600);
        auto whole = model->Predict(
            std::vector<float>(audio.begin() + r.start_sample, audio.begin() + r.end_sample));
        for (int k = 0; k < 3; ++k) ASSERT_NEAR(r.scores[k], whole[k], 1e-6);
        ++windows;
      }
    }
    ASSERT_TRUE(windows == static_cast<int>((audio.size() - 1600) / hop + 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Model, ModelStream, ::testing::Values(160, 320, 480),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return "Hop" + std::to_string(info.param);
                         });

TEST(Model, StreamAndPredictRejectBadSizes) {
  TinyModel t;
  auto model = Load(t.Bytes());
  KWS_EXPECT_THROW_MSG(model->CreateStream(100), kws::InvalidArgument, "whole number");
  KWS_EXPECT_THROW_MSG(model->Predict(std::vector<float>(1599)), kws::InvalidArgument, "1600");
}

TEST(Model, EveryTruncationIsAModelError) {
  TinyModel t;
  auto bytes = t.Bytes();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    KWS_EXPECT_THROW_MSG(Load(cut), kws::ModelError, "tiny.kws");
  }
}

TEST(Model, FlippedBytesNeverCrash) {
  TinyModel t;
  auto bytes = t.Bytes();
  std::mt19937 gen(3);
  int errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    auto copy = bytes;
    size_t pos = gen() % copy.size();
    copy[pos] ^= static_cast<uint8_t>(1u << (gen() % 8));
    try {
      auto m = Load(copy);
      std::vector<float> f(80, 0.5f), s(3);
      m->PredictFeatures(f.data(), s.data());  // loaded: must still run
    } catch (const kws::ModelError& e) {
      ++errors;
      ASSERT_EQ(std::string(e.what()).find("tiny.kws"), 0);
    }
  }
  ASSERT_GT(errors, 100);
}

TEST(Model, HeaderLengthPastTheEnd) {
  TinyModel t;
  auto bytes = t.Bytes();
  bytes[2] = static_cast<uint8_t>(bytes[2] + 1);  // +65536 bytes
  KWS_EXPECT_THROW_MSG(Load(bytes), kws::ModelError, "runs past the end");
}

TEST(Model, WrongFormatVersion) {
  TinyModel t;
  t.version = "2";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "format_version");
}

TEST(Model, WrongTensorShape) {
  TinyModel t;
  t.shapes["conv.kernel"] = {3, 3, 4, 1};
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "expected [3, 3, 1, 4]");
}

TEST(Model, OffsetsOutOfRangeOrOverlapping) {
  TinyModel t;
  KWS_EXPECT_THROW_MSG(Load(t.Bytes({{"dense.bias", "[0, 1000000]"}})), kws::ModelError,
                       "past the end");
  KWS_EXPECT_THROW_MSG(Load(t.Bytes({{"dense.bias", "[0, 12]"}})), kws::ModelError, "overlaps");
  KWS_EXPECT_THROW_MSG(Load(t.Bytes({{"dense.bias", "[-4, 8]"}})), kws::ModelError, "non-negative");
  // Offsets beyond any integer type are reported, not converted.
  KWS_EXPECT_THROW_MSG(Load(t.Bytes({{"dense.bias", "[2e28, 2e28]"}})), kws::ModelError,
                       "[2e+28, 2e+28] run past");
  KWS_EXPECT_THROW_MSG(Load(t.Bytes({{"dense.bias", "[0.5, 8]"}})), kws::ModelError,
                       "non-negative integers");
}

TEST(Model, UnknownOpAndUnusedTensors) {
  TinyModel t;
  t.dense_type = "lstm";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "unknown op type 'lstm'");
  TinyModel u;
  u.tensors["stray"] = {1.0f};
  u.shapes["stray"] = {1};
  KWS_EXPECT_THROW_MSG(Load(u.Bytes()), kws::ModelError, "not used");
}

TEST(Model, LabelsMustMatchTheLastLayer) {
  TinyModel t;
  t.labels = R"(["a", "b"])";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "2 labels but the last layer has 3");
}

TEST(Model, InvalidFrontEnd) {
  TinyModel t;
  t.window_size_ms = "0";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "front-end");
}

TEST(Model, NameVersionProvenanceFromMetadata) {
  TinyModel t;
  auto plain = Load(t.Bytes());
  ASSERT_TRUE(plain->name().empty() && plain->version().empty() && plain->provenance().empty());
  ASSERT_TRUE(plain->Summary().find("provenance") == std::string::npos);
  // 3x3x1x4 + 4 conv, 80x3 + 3 dense.
  ASSERT_TRUE(plain->num_parameters() == 36 + 4 + 240 + 3);
  t.identity = R"(, "name": "tiny_words", "version": "3", "provenance": "recipe x, seed 1")";
  auto m = Load(t.Bytes());
  ASSERT_TRUE(m->name() == "tiny_words");
  ASSERT_TRUE(m->version() == "3");
  ASSERT_TRUE(m->provenance() == "recipe x, seed 1");
  const std::string summary = m->Summary();
  ASSERT_TRUE(summary.rfind("tiny_words version 3: kws model 'tiny'", 0) == 0);
  ASSERT_TRUE(summary.find("\n  provenance: recipe x, seed 1") != std::string::npos);
  ASSERT_TRUE(summary.find("283 in the file") != std::string::npos);
}

TEST(Model, BadNameVersionProvenance) {
  TinyModel t;
  t.identity = R"(, "name": 5)";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "name");
  t.identity = R"(, "version": ")" + std::string(65, '1') + "\"";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "'version' is 65 bytes long (at most 64)");
  t.identity = R"(, "provenance": ")" + std::string(1001, 'p') + "\"";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "at most 1000");
  t.identity = R"(, "provenance": ")" + std::string(1000, 'p') + "\"";
  ASSERT_TRUE(Load(t.Bytes())->provenance().size() == 1000);
}

TEST(Model, LoadBundledFindsModelsByName) {
  namespace fs = std::filesystem;
  unsetenv("KWS_MODELS_DIR");
  const fs::path dir = fs::temp_directory_path() / ("kws_bundled_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  TinyModel t;
  t.identity = R"(, "name": "tiny_words", "version": "1")";
  const auto bytes = t.Bytes();
  for (const char* name : {"tiny_words.kws", "other.kws"}) {
    std::ofstream f(dir / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }
  {
    std::ofstream f(dir / "tiny_words.json");
    f << "{}";
  }  // the card's figures: not a model
  ASSERT_TRUE((kws::Model::BundledModelNames(dir.string()) ==
               std::vector<std::string>{"other", "tiny_words"}));
  auto m = kws::Model::LoadBundled("tiny_words", dir.string());
  ASSERT_TRUE(m->name() == "tiny_words" && m->num_labels() == 3);
  KWS_EXPECT_THROW_MSG(
      kws::Model::LoadBundled("nope", dir.string()), kws::IoError,
      "no bundled model 'nope' in " + dir.string() + " (bundled: other, tiny_words)");
  KWS_EXPECT_THROW_MSG(kws::Model::LoadBundled("../tiny_words", dir.string()), kws::InvalidArgument,
                       "not a bundled model name");
  KWS_EXPECT_THROW_MSG(kws::Model::LoadBundled("sub/x", dir.string()), kws::InvalidArgument,
                       "not a bundled model name");
  KWS_EXPECT_THROW_MSG(kws::Model::LoadBundled(std::string(65, 'a'), dir.string()),
                       kws::InvalidArgument, "at most 64");
  ASSERT_TRUE(kws::Model::BundledModelNames((dir / "missing").string()).empty());
  // The environment variable overrides the folder.
  setenv("KWS_MODELS_DIR", dir.string().c_str(), 1);
  ASSERT_TRUE(kws::Model::BundledModelsDir("/elsewhere") == dir.string());
  ASSERT_TRUE(kws::Model::LoadBundled("other", "/elsewhere")->name() == "tiny_words");
  ASSERT_TRUE(kws::Model::LoadBundled("tiny_words")->num_labels() == 3);
  setenv("KWS_MODELS_DIR", (dir / "sub").string().c_str(), 1);
  KWS_EXPECT_THROW_MSG(kws::Model::LoadBundled("tiny_words"), kws::IoError, "(bundled: none)");
  unsetenv("KWS_MODELS_DIR");
  fs::remove_all(dir);
}

TEST(Model, BundledCardDecoderReadsTheCardsRecommendation) {
  namespace fs = std::filesystem;
  unsetenv("KWS_MODELS_DIR");
  const fs::path dir = fs::temp_directory_path() / ("kws_card_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto card = [&](const std::string& text) {
    std::ofstream f(dir / "words.json", std::ios::binary);
    f << text;
  };
  const auto read = [&] { return kws::Model::BundledCardDecoder("words", dir.string()); };
  // No card, a card without a stream, a stream without the fields: nothing recommended.
  kws::CardDecoderOptions got = read();
  ASSERT_TRUE(!got.detection_threshold && !got.decision_delay_ms);
  card(R"({"name": "words"})");
  got = read();
  ASSERT_TRUE(!got.detection_threshold && !got.decision_delay_ms);
  card(R"({"stream": {"recommended_threshold": 0.8}})");
  got = read();
  ASSERT_TRUE(got.detection_threshold == 0.8f && !got.decision_delay_ms);
  ASSERT_TRUE(!got.average_window_duration_ms);
  card(R"({"stream": {"recommended_threshold": 0.65, "recommended_decision_delay_ms": 750,
           "sweep": [1, 2]}})");
  got = read();
  ASSERT_TRUE(got.detection_threshold == 0.65f && got.decision_delay_ms == 750);
  ASSERT_TRUE(!got.average_window_duration_ms);
  card(R"({"stream": {"recommended_threshold": 0.8, "recommended_decision_delay_ms": 850,
           "recommended_average_window_ms": 250}})");
  got = read();
  ASSERT_TRUE(got.detection_threshold == 0.8f && got.decision_delay_ms == 850 &&
              got.average_window_duration_ms == 250);
  ASSERT_TRUE(!got.allow_repeats);
  card(R"({"stream": {"recommended_allow_repeats": true}})");
  ASSERT_TRUE(read().allow_repeats == true);
  card(R"({"stream": {"recommended_allow_repeats": false}})");
  ASSERT_TRUE(read().allow_repeats == false);
  card(R"({"stream": {"recommended_allow_repeats": 1}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, "stream.recommended_allow_repeats");
  // The window is one the decoder takes.
  kws::RecognizeCommandsOptions options;
  options.average_window_duration_ms = *got.average_window_duration_ms;
  options.Validate();
  // Bad cards: ModelError naming the card and the problem.
  const std::string path = (dir / "words.json").string();
  card("{not json");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, path + ": ");
  card(R"({"stream": {"recommended_threshold": "high"}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, path + ": stream.recommended_threshold");
  card(R"({"stream": {"recommended_threshold": 1.5}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, "must be in [0, 1], got 1.5");
  card(R"({"stream": {"recommended_decision_delay_ms": 750.5}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, "recommended_decision_delay_ms must be an integer");
  card(R"({"stream": {"recommended_decision_delay_ms": 10001}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, "in [0, 10000]");
  card(R"({"stream": {"recommended_average_window_ms": 0}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError,
                       "stream.recommended_average_window_ms must be an integer in [1, 600000]");
  card(R"({"stream": {"recommended_average_window_ms": 250.5}})");
  KWS_EXPECT_THROW_MSG(read(), kws::ModelError, "recommended_average_window_ms");
  card("{\"pad\": \"" + std::string(kws::kMaxModelCardBytes, 'x') + "\"}");
  KWS_EXPECT_THROW_MSG(read(), kws::InputError, path);
  KWS_EXPECT_THROW_MSG(kws::Model::BundledCardDecoder("../words", dir.string()),
                       kws::InvalidArgument, "not a bundled model name");
  // The environment variable's folder, as LoadBundled reads it.
  card(R"({"stream": {"recommended_decision_delay_ms": 0}})");
  setenv("KWS_MODELS_DIR", dir.string().c_str(), 1);
  got = kws::Model::BundledCardDecoder("words", "/elsewhere");
  ASSERT_TRUE(!got.detection_threshold && got.decision_delay_ms == 0);
  unsetenv("KWS_MODELS_DIR");
  fs::remove_all(dir);
}

TEST(Model, Crc32cMatchesTheStandardCheckValue) {
  const std::string check = "123456789";
  const auto* p = reinterpret_cast<const uint8_t*>(check.data());
  ASSERT_EQ(kws::Crc32c(p, check.size()), 0xE3069283u);
  // Continuing from a piece's CRC gives the CRC of the whole.
  ASSERT_EQ(kws::Crc32c(p + 4, 5, kws::Crc32c(p, 4)), 0xE3069283u);
  ASSERT_EQ(kws::Crc32c(p, 0), 0u);
}

TEST(Model, ChecksumIsVerifiedWhenPresent) {
  TinyModel t;
  t.checksum = true;
  const std::vector<uint8_t> good = t.Bytes();
  ASSERT_TRUE(Load(good)->num_labels() == 3);
  // Every single-bit flip in the tensor data is caught (the data is the last 1004 floats).
  const size_t data_bytes = 4 * (3 * 3 * 4 + 4 + 80 * 3 + 3);
  for (size_t i = good.size() - data_bytes; i < good.size(); i += 7) {
    std::vector<uint8_t> bad = good;
    bad[i] ^= static_cast<uint8_t>(1u << (i % 8));
    KWS_EXPECT_THROW_MSG(Load(bad), kws::ModelError, "tiny.kws: checksum mismatch");
  }
  // A change in the description is caught too: a label renamed to one of the same length.
  std::vector<uint8_t> renamed = good;
  const std::string text(renamed.begin(), renamed.end());
  const size_t yes = text.find("\\\"yes\\\"");
  ASSERT_NE(yes, std::string::npos);
  renamed[yes + 3] = 'x';  // "yes" -> "yxs"
  KWS_EXPECT_THROW_MSG(Load(renamed), kws::ModelError, "checksum mismatch");
  // Skipping the check (for the fuzzer) loads the altered weights.
  std::vector<uint8_t> flipped = good;
  flipped[good.size() - 1] ^= 0x01;
  ASSERT_NE(kws::Model::LoadFromMemory(flipped.data(), flipped.size(), "x", false), nullptr);
  // A malformed field is an error, not ignored.
  t.crc_override = "12345678z";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "kws_crc32c");
  t.crc_override = "DEADBEEF";
  KWS_EXPECT_THROW_MSG(Load(t.Bytes()), kws::ModelError, "kws_crc32c");
  // Files written before the field existed still load.
  t.checksum = false;
  ASSERT_TRUE(Load(t.Bytes())->num_labels() == 3);
}

TEST(Model, ChecksumMismatchFromAFileNamesTheFile) {
  TinyModel t;
  t.checksum = true;
  std::vector<uint8_t> bytes = t.Bytes();
  bytes.back() ^= 0x40;
  char dir_template[] = "/tmp/kws_model_test_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string path = dir + "/flipped.kws";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  KWS_EXPECT_THROW_MSG(kws::Model::Load(path), kws::ModelError, path + ": checksum mismatch");
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST(Model, OnlyRegularFilesAreOpened) {
  char dir_template[] = "/tmp/kws_model_test_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  // A FIFO would block open() until a writer appears: it must be refused at once.
  const std::string fifo = dir + "/model.kws";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  KWS_EXPECT_THROW_MSG(kws::Model::Load(fifo), kws::IoError, "it is a FIFO");
  // A device gives endless bytes: refused before reading.
  KWS_EXPECT_THROW_MSG(kws::Model::Load("/dev/zero"), kws::IoError,
                       "cannot open model file '/dev/zero': it is a character device");
  KWS_EXPECT_THROW_MSG(kws::Model::Load(dir), kws::IoError, "it is a directory");
  // The OS's reason is given.
  KWS_EXPECT_THROW_MSG(kws::Model::Load(dir + "/none.kws"), kws::IoError,
                       "cannot open model file '" + dir + "/none.kws': No such file or directory");
  // A (sparse) file over the size limit is refused without being read.
  const std::string big = dir + "/big.kws";
  FILE* f = std::fopen(big.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(ftruncate(fileno(f), static_cast<off_t>(kws::kMaxModelFileBytes + 1)), 0);
  std::fclose(f);
  KWS_EXPECT_THROW_MSG(kws::Model::Load(big), kws::InputError, "larger than the 1 GiB limit");
  std::remove(big.c_str());
  std::remove(fifo.c_str());
  rmdir(dir.c_str());
}

TEST(Model, MissingFileIsIoError) {
  KWS_EXPECT_THROW_MSG(kws::Model::Load("/nonexistent/model.kws"), kws::IoError, "model.kws");
}

// A linear conv followed by batch norm (scale_shift) and relu ops, as Keras exports them:
// the loader folds both into the conv; scores, streaming and FLOP count are unchanged.
TEST(Model, BatchNormAndReluFoldIntoConv) {
  TinyModel t;
  t.tensors["bn.scale"] = {0.5f, -1.25f, 2.0f, 0.75f};
  t.shapes["bn.scale"] = {4};
  t.tensors["bn.shift"] = {0.1f, -0.2f, 0.05f, 0.3f};
  t.shapes["bn.shift"] = {4};
  std::string meta = t.Meta();
  auto replace = [&meta](const std::string& from, const std::string& to) {
    const size_t at = meta.find(from);
    ASSERT_NE(at, std::string::npos);
    meta.replace(at, from.size(), to);
  };
  replace(R"("padding": "same", "activation": "relu"})",
          R"("padding": "same", "activation": "linear"})");
  replace(R"({"name": "pool", "type": "max_pool2d", "inputs": [2])",
          R"({"name": "bn", "type": "scale_shift", "inputs": [2], "tensors": {"scale": "bn.scale",)"
          R"( "shift": "bn.shift"}, "output_shape": [8, 10, 4]},)"
          R"({"name": "relu", "type": "relu", "inputs": [3], "output_shape": [8, 10, 4]},)"
          R"({"name": "pool", "type": "max_pool2d", "inputs": [4])");
  replace(R"("type": "flatten", "inputs": [3])", R"("type": "flatten", "inputs": [5])");
  replace(R"("type": "dense", "inputs": [4])", R"("type": "dense", "inputs": [6])");
  t.meta_override = meta;
  auto model = Load(t.Bytes());
  const std::string summary = model->Summary();
  ASSERT_NE(summary.find("conv+bn+relu"), std::string::npos);
  ASSERT_EQ(summary.find("[scale_shift]"), std::string::npos);
  // FLOPs still count the folded ops: conv 2*8*10*4*9, scale_shift 2*320, pool 4*5*4*4,
  // dense 2*80*3.
  ASSERT_TRUE(model->flops_per_window() == 5760 + 640 + 320 + 480);

  std::mt19937 gen(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> f(80);
  for (auto& x : f) x = n(gen);
  ExpectMatchesReference(*model, t, f);

  std::vector<float> audio(1600 + 12 * 160);
  for (auto& x : audio) x = 0.1f * n(gen);
  ExpectStreamEqualsWholeClip(*model, audio, 480, 5);
}
