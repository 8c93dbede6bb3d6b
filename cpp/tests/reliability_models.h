// Small model.kws images built in memory for the reliability tests: a conv model
// (row-cached streaming) and an SVDF model (memory-cached streaming), 1 s clips at 16 kHz,
// 98 x 10 MFCC features, 3 labels, random weights.
#ifndef KWS_TESTS_RELIABILITY_MODELS_H_
#define KWS_TESTS_RELIABILITY_MODELS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kws/model.h"

namespace kws_test {

// A tensor of a model.kws image built in a test.
struct TensorData {
  std::vector<int> shape;
  std::vector<float> values;
};

// A model.kws image (safetensors) from the kws metadata document and named tensors.
inline std::vector<uint8_t> SafetensorsImage(const std::string& meta,
                                             const std::map<std::string, TensorData>& tensors) {
  std::string escaped;
  for (char c : meta) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::string header = "{\"__metadata__\": {\"kws\": \"" + escaped + "\"}";
  std::vector<uint8_t> data;
  for (const auto& [name, t] : tensors) {
    std::string dims;
    for (int d : t.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    header += ", \"" + name + "\": {\"dtype\": \"F32\", \"shape\": [" + dims +
              "], \"data_offsets\": [" + std::to_string(data.size()) + ", " +
              std::to_string(data.size() + 4 * t.values.size()) + "]}";
    const uint8_t* p = reinterpret_cast<const uint8_t*>(t.values.data());
    data.insert(data.end(), p, p + 4 * t.values.size());
  }
  header += "}";
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The same with random weights (normal, sd 0.4, from `seed`) of the given shapes.
inline std::vector<uint8_t> SafetensorsImage(const std::string& meta,
                                             const std::map<std::string, std::vector<int>>& shapes,
                                             uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 0.4f);
  std::map<std::string, TensorData> tensors;
  for (const auto& [name, shape] : shapes) {
    size_t count = 1;
    for (int d : shape) count *= static_cast<size_t>(d);
    TensorData& t = tensors[name];
    t.shape = shape;
    for (size_t i = 0; i < count; ++i) t.values.push_back(normal(gen));
  }
  return SafetensorsImage(meta, tensors);
}

inline std::string Preamble() {
  return R"({"format_version": 1, "architecture": "test", "labels": ["_silence_", "_unknown_", "yes"],)"
         R"( "sample_rate": 16000, "clip_duration_ms": 1000, "clip_samples": 16000,)"
         R"( "frontend": {"type": "mfcc", "window_size_ms": 30, "window_stride_ms": 10,)"
         R"( "filterbank_channel_count": 40, "lower_frequency_limit": 20,)"
         R"( "upper_frequency_limit": 4000, "dct_coefficient_count": 10},)"
         R"( "input_shape": [98, 10], "ops": [)";
}

// conv 4 @ 5x3 SAME + relu, max-pool 2x2, flatten, dense 3 (row-cached streaming).
inline std::shared_ptr<const kws::Model> ConvModel() {
  const std::string meta =
      Preamble() +
      R"({"name": "reshape", "type": "reshape", "inputs": [0], "attrs": {"target_shape": [98, 10, 1]}, "output_shape": [98, 10, 1]},)"
      R"({"name": "conv", "type": "conv2d", "inputs": [1], "attrs": {"filters": 4, "kernel_size": [5, 3], "strides": [1, 1], "padding": "same", "activation": "relu"},)"
      R"( "tensors": {"kernel": "conv.kernel", "bias": "conv.bias"}, "output_shape": [98, 10, 4]},)"
      R"({"name": "pool", "type": "max_pool2d", "inputs": [2], "attrs": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}, "output_shape": [49, 5, 4]},)"
      R"({"name": "flatten", "type": "flatten", "inputs": [3], "output_shape": [980]},)"
      R"({"name": "dense", "type": "dense", "inputs": [4], "attrs": {"units": 3, "activation": "linear"},)"
      R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  const auto bytes = SafetensorsImage(meta,
                                      {{"conv.kernel", {5, 3, 1, 4}},
                                       {"conv.bias", {4}},
                                       {"dense.kernel", {980, 3}},
                                       {"dense.bias", {3}}},
                                      11);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "conv_test.kws");
}

// SVDF (8 units, rank 2, memory 98) + relu + dense 3 (memory-cached streaming).
inline std::shared_ptr<const kws::Model> SvdfModel() {
  const std::string meta =
      Preamble() +
      R"({"name": "svdf", "type": "svdf", "inputs": [0], "attrs": {"units": 8, "rank": 2, "memory_size": 98, "activation": "linear"},)"
      R"( "tensors": {"feature_filter": "svdf.ff", "time_filter": "svdf.tf", "bias": "svdf.bias"}, "output_shape": [8]},)"
      R"({"name": "relu", "type": "relu", "inputs": [1], "output_shape": [8]},)"
      R"({"name": "dense", "type": "dense", "inputs": [2], "attrs": {"units": 3, "activation": "linear"},)"
      R"( "tensors": {"kernel": "dense.kernel", "bias": "dense.bias"}, "output_shape": [3]}]})";
  const auto bytes = SafetensorsImage(meta,
                                      {{"svdf.ff", {10, 16}},
                                       {"svdf.tf", {98, 16}},
                                       {"svdf.bias", {8}},
                                       {"dense.kernel", {8, 3}},
                                       {"dense.bias", {3}}},
                                      12);
  return kws::Model::LoadFromMemory(bytes.data(), bytes.size(), "svdf_test.kws");
}

}  // namespace kws_test

#endif  // KWS_TESTS_RELIABILITY_MODELS_H_
