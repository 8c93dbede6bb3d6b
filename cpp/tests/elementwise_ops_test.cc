// The element-wise ops with attributes, log and leaky_relu: their values on chosen inputs
// (through a model whose scores reveal the op's output), in the row form (on time rows)
// and the vector form (after flatten), and the attribute checks at load.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kws/error.h"
#include "kws/model.h"
#include "reliability_models.h"
#include "test_support.h"

namespace {

// 800 samples with the default MFCC: 3 frames of 10 coefficients = 30 op inputs.
constexpr int kRows = 3, kCols = 10, kValues = kRows * kCols;

std::string Preamble() {
  std::string labels;
  for (int i = 0; i < kValues; ++i) labels += (i ? ", \"l" : "\"l") + std::to_string(i) + "\"";
  return R"({"format_version": 1, "architecture": "elementwise", "labels": [)" + labels +
         R"(], "sample_rate": 16000, "clip_duration_ms": 50, "clip_samples": 800,)"
         R"( "frontend": {"type": "mfcc", "window_size_ms": 30, "window_stride_ms": 10,)"
         R"( "filterbank_channel_count": 40, "lower_frequency_limit": 20,)"
         R"( "upper_frequency_limit": 4000, "dct_coefficient_count": 10},)"
         R"( "input_shape": [3, 10], "ops": [)";
}

// The op `type` with `attrs` (JSON text) on the (3, 10) features then flatten, or (with
// on_vector) flatten then the op: its 30 outputs are the logits.
std::shared_ptr<const kws::Model> OpModel(const std::string& type, const std::string& attrs,
                                          bool on_vector = false) {
  const std::string op = R"({"name": "under_test", "type": ")" + type + R"(", "attrs": )" + attrs;
  std::string ops;
  if (on_vector) {
    ops = R"({"name": "flat", "type": "flatten", "inputs": [0], "output_shape": [30]},)" + op +
          R"(, "inputs": [1], "output_shape": [30]}]})";
  } else {
    ops = op + R"(, "inputs": [0], "output_shape": [3, 10]},)"
               R"({"name": "flat", "type": "flatten", "inputs": [1], "output_shape": [30]}]})";
  }
  const auto bytes = kws_test::SafetensorsImage(Preamble() + ops, {}, 1);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "ops_test.kws");
}

// The op's outputs for `inputs` (30 values), from the softmax scores: output i is
// output[ref] + ln(score i / score ref), where input `ref` has a known output `ref_out`.
std::vector<double> Outputs(const kws::Model& m, const std::vector<float>& inputs, int ref,
                            double ref_out) {
  std::vector<float> scores(kValues);
  m.PredictFeatures(inputs.data(), scores.data());
  std::vector<double> out(kValues);
  for (int i = 0; i < kValues; ++i)
    out[i] = ref_out + std::log(static_cast<double>(scores[i]) / scores[ref]);
  return out;
}

void ExpectOutputs(const std::vector<double>& got, const std::vector<double>& want) {
  for (int i = 0; i < kValues; ++i)
    EXPECT_NEAR(got[i], want[i], 2e-5 * std::max(1.0, std::fabs(want[i]))) << "value " << i;
}

TEST(LogOp, ComputesScaleTimesLnOfFlooredInputPlusShift) {
  // Input 1 (index 0) gives exactly `shift`.
  std::vector<float> x = {1.0f, 0.0f, -3.0f, 1e-9f, 0.01f, 0.0100001f, 0.5f, 2.0f, 30.0f, 99.0f};
  for (int i = 10; i < kValues; ++i) x.push_back(0.013f * static_cast<float>(i * i) - 0.5f);
  const double scale = 2.5, shift = -1.25, floor = 0.01;
  std::vector<double> want;
  for (float v : x)
    want.push_back(scale * std::log(std::max(static_cast<double>(v), floor)) + shift);
  // Below the floor (0, negative, tiny) all give scale * ln(floor) + shift.
  ASSERT_EQ(want[1], want[2]);
  for (bool on_vector : {false, true}) {
    SCOPED_TRACE(on_vector ? "vector" : "rows");
    const auto m = OpModel("log", R"({"scale": 2.5, "shift": -1.25, "floor": 0.01})", on_vector);
    ExpectOutputs(Outputs(*m, x, 0, shift), want);
    ASSERT_EQ(m->flops_per_window(), 4 * kValues);
  }
  // Natural log, no shift, a tiny floor: ln(x) itself.
  const auto plain = OpModel("log", R"({"scale": 1, "shift": 0, "floor": 1e-30})");
  std::vector<float> y;
  std::vector<double> ln;
  for (int i = 0; i < kValues; ++i) {
    y.push_back(std::exp(0.4f * static_cast<float>(i - 12)));
    ln.push_back(std::log(static_cast<double>(y.back())));
  }
  ExpectOutputs(Outputs(*plain, y, 12, 0.0), ln);
}

TEST(LeakyReluOp, ScalesNegativesByAlphaAndFloorsThem) {
  // Input 0 (index 0) gives exactly 0.
  std::vector<float> x = {0.0f, -0.0f, 1.5f, -1.0f, -2.0f, -2.5f, -4.0f, -10.0f, 7.0f, -0.25f};
  for (int i = 10; i < kValues; ++i) x.push_back(0.21f * static_cast<float>(i) - 4.0f);
  auto leaky = [](double v, double alpha, double floor) {
    return std::max(v >= 0 ? v : alpha * v, floor);
  };
  for (bool on_vector : {false, true}) {
    SCOPED_TRACE(on_vector ? "vector" : "rows");
    // alpha 0.2, floor -0.5: -2.5 maps exactly to the floor, -4 and -10 are floored.
    std::vector<double> want;
    for (float v : x) want.push_back(leaky(v, 0.2, -0.5));
    ASSERT_EQ(want[6], -0.5);
    ExpectOutputs(
        Outputs(*OpModel("leaky_relu", R"({"alpha": 0.2, "floor": -0.5})", on_vector), x, 0, 0.0),
        want);
    // Without a floor: alpha * x for every negative x.
    want.clear();
    for (float v : x) want.push_back(leaky(v, 0.2, -std::numeric_limits<double>::infinity()));
    ASSERT_NEAR(want[7], -2.0, 1e-6);
    ExpectOutputs(Outputs(*OpModel("leaky_relu", R"({"alpha": 0.2})", on_vector), x, 0, 0.0), want);
  }
  // alpha 0 is relu; alpha 1 is the identity (then only the floor acts).
  std::vector<double> relu, floored;
  for (float v : x) {
    relu.push_back(v > 0 ? v : 0.0);
    floored.push_back(std::max(static_cast<double>(v), -3.0));
  }
  ExpectOutputs(Outputs(*OpModel("leaky_relu", R"({"alpha": 0})"), x, 0, 0.0), relu);
  ExpectOutputs(Outputs(*OpModel("leaky_relu", R"({"alpha": 1, "floor": -3})"), x, 0, 0.0),
                floored);
}

// A bad attribute: the load fails naming the file, the op and the problem.
void ExpectRefused(const std::string& type, const std::string& attrs, const std::string& problem) {
  SCOPED_TRACE(type + " " + attrs);
  KWS_EXPECT_THROW_MSG(OpModel(type, attrs), kws::ModelError, "ops_test.kws: ");
  KWS_EXPECT_THROW_MSG(OpModel(type, attrs), kws::ModelError, "'under_test'");
  KWS_EXPECT_THROW_MSG(OpModel(type, attrs), kws::ModelError, problem);
}

TEST(LogOp, RefusesBadAttributes) {
  ExpectRefused("log", R"({"scale": 1, "shift": 0, "floor": 0})", "(log): floor must be > 0");
  ExpectRefused("log", R"({"scale": 1, "shift": 0, "floor": -1e-6})", "floor must be > 0");
  ExpectRefused("log", R"({"scale": 1, "shift": 0, "floor": 1e-60})", "floor must be > 0, got 0");
  ExpectRefused("log", R"({"scale": 1, "shift": 0, "floor": 1e300})",
                "floor = 1e+300 is not a finite float32");
  ExpectRefused("log", R"({"scale": 1e39, "shift": 0, "floor": 1})",
                "scale = 1e+39 is not a finite");
  ExpectRefused("log", R"({"scale": 1, "shift": -1e40, "floor": 1})", "shift = -1e+40");
  ExpectRefused("log", R"({"shift": 0, "floor": 1})", "lacks 'scale'");
  ExpectRefused("log", R"({"scale": 1, "floor": 1})", "lacks 'shift'");
  ExpectRefused("log", R"({"scale": 1, "shift": 0})", "lacks 'floor'");
  ExpectRefused("log", R"({"scale": "1", "shift": 0, "floor": 1})", "scale must be a number");
}

TEST(LeakyReluOp, RefusesBadAttributes) {
  ExpectRefused("leaky_relu", R"({"alpha": -0.1})", "(leaky_relu): alpha must be in [0, 1]");
  ExpectRefused("leaky_relu", R"({"alpha": 1.5})", "alpha must be in [0, 1], got 1.5");
  ExpectRefused("leaky_relu", R"({"alpha": 1e50})", "alpha = 1e+50 is not a finite float32");
  ExpectRefused("leaky_relu", R"({"alpha": 0.1, "floor": 0.5})", "floor must be <= 0, got 0.5");
  ExpectRefused("leaky_relu", R"({"alpha": 0.1, "floor": -1e45})", "floor = -1e+45 is not");
  ExpectRefused("leaky_relu", R"({"floor": -1})", "lacks 'alpha'");
  ExpectRefused("leaky_relu", R"({"alpha": null})", "alpha must be a number");
  OpModel("leaky_relu", R"({"alpha": 0.1, "floor": 0})");  // a floor of 0 is allowed
}

// add on two vectors (a two-branch model sums its branches' logits): x + relu(x), each
// element, with no broadcast.
TEST(AddOp, AddsTwoVectorsElementByElement) {
  const std::string ops =
      R"({"name": "flat", "type": "flatten", "inputs": [0], "output_shape": [30]},)"
      R"({"name": "relu", "type": "relu", "attrs": {}, "inputs": [1], "output_shape": [30]},)"
      R"({"name": "sum", "type": "add", "attrs": {}, "inputs": [1, 2], "output_shape": [30]}]})";
  const auto bytes = kws_test::SafetensorsImage(Preamble() + ops, {}, 1);
  const auto m = kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "add_test.kws");
  std::vector<float> x;
  std::vector<double> want;
  for (int i = 0; i < kValues; ++i) {
    x.push_back(0.37f * static_cast<float>(i) - 4.0f);
    want.push_back(x.back() + std::max(0.0, static_cast<double>(x.back())));
  }
  ExpectOutputs(Outputs(*m, x, 0, want[0]), want);
}

}  // namespace
