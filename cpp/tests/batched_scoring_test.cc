// The streaming evaluator's batched scoring against the model's live Stream, on small
// models built in memory (conv + strided pool, SVDF, and a strided residual block with a
// depthwise conv, an add and global pooling): identical scores at several hops, over
// several chunks of windows and thread splits. Runs under ASan/UBSan in scripts/test.sh.
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kws/error.h"
#include "kws/model.h"
#include "kws/streaming_evaluator.h"
#include "reliability_models.h"
#include "test_support.h"

namespace {

// conv 4 @ 3x3 stride 2 SAME, depthwise 3x3 SAME, add, relu, global pool, dense 3.
std::shared_ptr<const kws::Model> ResidualModel() {
  const std::string meta =
      kws_test::Preamble() +
      R"({"name": "reshape", "type": "reshape", "inputs": [0], "attrs": {"target_shape": [98, 10, 1]}, "output_shape": [98, 10, 1]},)"
      R"({"name": "conv", "type": "conv2d", "inputs": [1], "attrs": {"filters": 8, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "activation": "relu"},)"
      R"( "tensors": {"kernel": "conv.kernel", "bias": "conv.bias"}, "output_shape": [49, 5, 8]},)"
      R"({"name": "dw", "type": "depthwise_conv2d", "inputs": [2], "attrs": {"kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "depth_multiplier": 1},)"
      R"( "tensors": {"kernel": "dw.kernel", "bias": "dw.bias"}, "output_shape": [49, 5, 8]},)"
      R"({"name": "add", "type": "add", "inputs": [2, 3], "output_shape": [49, 5, 8]},)"
      R"({"name": "relu", "type": "relu", "inputs": [4], "output_shape": [49, 5, 8]},)"
      R"({"name": "pool", "type": "global_avg_pool2d", "inputs": [5], "output_shape": [8]},)"
      R"({"name": "dense", "type": "dense", "inputs": [6], "attrs": {"units": 3, "activation": "linear"},)"
      R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  const auto bytes = kws_test::SafetensorsImage(meta,
                                                {{"conv.kernel", {3, 3, 1, 8}},
                                                 {"conv.bias", {8}},
                                                 {"dw.kernel", {3, 3, 8, 1}},
                                                 {"dw.bias", {8}},
                                                 {"dense.kernel", {8, 3}},
                                                 {"dense.bias", {3}}},
                                                13);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "residual_test.kws");
}

// Time rows after a collapse (flatten, reshape back to rows, per-row dense, flatten,
// dense 3): a graph the batch planner does not take, scored by cached streams.
std::shared_ptr<const kws::Model> RowsAfterCollapseModel() {
  const std::string meta =
      kws_test::Preamble() +
      R"({"name": "flat", "type": "flatten", "inputs": [0], "output_shape": [980]},)"
      R"({"name": "back", "type": "reshape", "inputs": [1], "attrs": {"target_shape": [98, 10]}, "output_shape": [98, 10]},)"
      R"({"name": "rowdense", "type": "dense", "inputs": [2], "attrs": {"units": 4, "activation": "relu"},)"
      R"( "tensors": {"kernel": "rd.kernel", "bias": "rd.bias"}, "output_shape": [98, 4]},)"
      R"({"name": "flat2", "type": "flatten", "inputs": [3], "output_shape": [392]},)"
      R"({"name": "dense", "type": "dense", "inputs": [4], "attrs": {"units": 3, "activation": "linear"},)"
      R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  const auto bytes = kws_test::SafetensorsImage(
      meta,
      {{"rd.kernel", {10, 4}}, {"rd.bias", {4}}, {"dense.kernel", {392, 3}}, {"dense.bias", {3}}},
      14);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "rows_after_collapse.kws");
}

// SVDF with 24 filters (12 units, rank 2, memory 60): not a whole number of 16-channel
// panels, so its time filter reads rows in place instead of from fused strips.
std::shared_ptr<const kws::Model> OddSvdfModel() {
  const std::string meta =
      kws_test::Preamble() +
      R"({"name": "svdf", "type": "svdf", "inputs": [0], "attrs": {"units": 12, "rank": 2, "memory_size": 60, "activation": "relu"},)"
      R"( "tensors": {"feature_filter": "svdf.ff", "time_filter": "svdf.tf", "bias": "svdf.bias"}, "output_shape": [12]},)"
      R"({"name": "dense", "type": "dense", "inputs": [1], "attrs": {"units": 3, "activation": "linear"},)"
      R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  const auto bytes = kws_test::SafetensorsImage(meta,
                                                {{"svdf.ff", {10, 24}},
                                                 {"svdf.tf", {60, 24}},
                                                 {"svdf.bias", {12}},
                                                 {"dense.kernel", {12, 3}},
                                                 {"dense.bias", {3}}},
                                                15);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "odd_svdf_test.kws");
}

// conv 24 @ 5x3 SAME, max pool 2x2, conv 4 @ 5x3 SAME (kernel rows of 3 x 24 floats: row
// partials, with edge rows at every hop), flatten, dense 6 linear, dense 3 (merged into
// one layer at load).
std::shared_ptr<const kws::Model> TwoConvModel() {
  const std::string meta =
      kws_test::Preamble() +
      R"({"name": "reshape", "type": "reshape", "inputs": [0], "attrs": {"target_shape": [98, 10, 1]}, "output_shape": [98, 10, 1]},)"
      R"({"name": "conv1", "type": "conv2d", "inputs": [1], "attrs": {"filters": 24, "kernel_size": [5, 3], "strides": [1, 1], "padding": "same", "activation": "relu"},)"
      R"( "tensors": {"kernel": "conv1.kernel", "bias": "conv1.bias"}, "output_shape": [98, 10, 24]},)"
      R"({"name": "pool", "type": "max_pool2d", "inputs": [2], "attrs": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}, "output_shape": [49, 5, 24]},)"
      R"({"name": "conv2", "type": "conv2d", "inputs": [3], "attrs": {"filters": 4, "kernel_size": [5, 3], "strides": [1, 1], "padding": "same", "activation": "relu"},)"
      R"( "tensors": {"kernel": "conv2.kernel", "bias": "conv2.bias"}, "output_shape": [49, 5, 4]},)"
      R"({"name": "flatten", "type": "flatten", "inputs": [4], "output_shape": [980]},)"
      R"({"name": "hidden", "type": "dense", "inputs": [5], "attrs": {"units": 6, "activation": "linear"},)"
      R"( "tensors": {"kernel": "hidden.kernel", "bias": "hidden.bias"}, "output_shape": [6]},)"
      R"({"name": "dense", "type": "dense", "inputs": [6], "attrs": {"units": 3, "activation": "linear"},)"
      R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  const auto bytes = kws_test::SafetensorsImage(meta,
                                                {{"conv1.kernel", {5, 3, 1, 24}},
                                                 {"conv1.bias", {24}},
                                                 {"conv2.kernel", {5, 3, 24, 4}},
                                                 {"conv2.bias", {4}},
                                                 {"hidden.kernel", {980, 6}},
                                                 {"hidden.bias", {6}},
                                                 {"dense.kernel", {6, 3}},
                                                 {"dense.bias", {3}}},
                                                16);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "two_conv_test.kws");
}

// 13 s of a chirp with noise bursts: more than one chunk of windows at any hop.
std::vector<float> Signal() {
  std::mt19937 gen(5);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> x(13 * 16000);
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / 16000;
    const double burst = std::fmod(t, 1.7) < 0.4 ? 0.3 : 0.02;
    x[i] = static_cast<float>(0.3 * std::sin(2 * M_PI * (200 + 150 * t) * t) + burst * noise(gen));
  }
  return x;
}

// Scores of a live Stream fed 100 ms at a time.
std::vector<float> LiveScores(const kws::Model& model, const std::vector<float>& x, int hop) {
  auto stream = model.CreateStream(hop);
  std::vector<float> scores;
  for (size_t i = 0; i < x.size(); i += 1600) {
    stream->AcceptWaveform(x.data() + i, std::min<size_t>(1600, x.size() - i));
    while (stream->IsReady()) {
      stream->Decode();
      const auto& r = stream->GetResult();
      scores.insert(scores.end(), r.scores.begin(), r.scores.end());
    }
  }
  return scores;
}

// KWS_EVAL_SCORING for the evaluators constructed in one scope.
class ScoringMode {
 public:
  explicit ScoringMode(const char* mode) { setenv("KWS_EVAL_SCORING", mode, 1); }
  ~ScoringMode() { unsetenv("KWS_EVAL_SCORING"); }
};

// Batched scoring (forced where the graph can be batched) and the automatic choice, at
// several hops and thread splits: the live stream's scores, bit for bit.
void CheckModel(const std::shared_ptr<const kws::Model>& model, bool batched = true) {
  const std::vector<float> x = Signal();
  for (int stride_ms : {30, 20, 10, 50}) {
    kws::StreamingOptions o;
    o.clip_stride_ms = stride_ms;
    std::unique_ptr<kws::StreamingEvaluator> forced;
    {
      ScoringMode mode("batched");
      forced = std::make_unique<kws::StreamingEvaluator>(model, o);
    }
    const kws::StreamingEvaluator& ev = *forced;
    ASSERT_EQ(ev.batched(), batched);
    ASSERT_TRUE(ev.scoring_method().find(batched ? "batched" : "not batched") != std::string::npos);
    const std::vector<float> live = LiveScores(*model, x, ev.hop_samples());
    for (int threads : {1, 3}) {
      kws::WindowScores w = ev.ComputeScores(x.data(), x.size(), threads);
      ASSERT_EQ(w.num_windows(), (x.size() - 16000) / ev.hop_samples() + 1);
      ASSERT_EQ(w.scores, live);  // bit for bit
    }
    ASSERT_EQ(ev.ComputeScoresWithStream(x.data(), x.size()).scores, live);
    kws::StreamingEvaluator automatic(model, o);
    ASSERT_TRUE(!automatic.batched() || batched);
    ASSERT_TRUE(automatic.scoring_method().find("per window, row layers") != std::string::npos ||
                !batched);
    ASSERT_EQ(automatic.ComputeScores(x.data(), x.size(), 2).scores, live);
  }
}

TEST(BatchedScoring, BatchedConvScoresEqualTheLiveStream) { CheckModel(kws_test::ConvModel()); }
TEST(BatchedScoring, BatchedSvdfScoresEqualTheLiveStream) { CheckModel(kws_test::SvdfModel()); }
TEST(BatchedScoring, BatchedResidualScoresEqualTheLiveStream) { CheckModel(ResidualModel()); }
TEST(BatchedScoring, BatchedUnfusedSvdfScoresEqualTheLiveStream) { CheckModel(OddSvdfModel()); }
TEST(BatchedScoring, BatchedRowPartialConvScoresEqualTheLiveStream) {
  const auto model = TwoConvModel();
  ASSERT_TRUE(model->Summary().find("hidden+dense") != std::string::npos);  // merged
  kws::StreamingEvaluator ev(model, kws::StreamingOptions());
  ASSERT_NE(ev.scoring_method().find("kernel-row partial sums"), std::string::npos);
  CheckModel(model);
}
// Automatic choice: batched where the layers after the rows dominate (the SVDF's dense
// layers), live streams where row layers are nearly all the work and batching saves few
// of their FLOPs (the residual block); KWS_EVAL_SCORING forces either, and a bad value is
// an error naming the variable.
TEST(BatchedScoring, EvaluatorBatchesWhereBatchingPays) {
  const kws::StreamingOptions o;
  ASSERT_TRUE(kws::StreamingEvaluator(kws_test::SvdfModel(), o).batched());
  const kws::StreamingEvaluator residual(ResidualModel(), o);
  ASSERT_TRUE(!residual.batched());
  ASSERT_TRUE(residual.scoring_method().find("live streams are expected to be faster") !=
              std::string::npos);
  {
    ScoringMode mode("stream");
    const kws::StreamingEvaluator ev(kws_test::SvdfModel(), o);
    ASSERT_TRUE(!ev.batched());
    ASSERT_NE(ev.scoring_method().find("KWS_EVAL_SCORING=stream"), std::string::npos);
  }
  {
    ScoringMode mode("fastest");
    KWS_EXPECT_THROW_MSG((kws::StreamingEvaluator(kws_test::SvdfModel(), o)), kws::InvalidArgument,
                         "KWS_EVAL_SCORING is 'fastest'");
  }
}
TEST(BatchedScoring, UnplannableGraphFallsBackToCachedStreams) {
  CheckModel(RowsAfterCollapseModel(), /*batched=*/false);
  kws::StreamingEvaluator ev(RowsAfterCollapseModel(), kws::StreamingOptions());
  ASSERT_NE(ev.scoring_method().find("time rows after a collapsing layer"), std::string::npos);
}

}  // namespace
