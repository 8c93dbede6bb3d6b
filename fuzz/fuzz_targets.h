// The parser harnesses shared by the libFuzzer targets (fuzz/*_fuzzer.cc) and the
// regression test (cpp/tests/fuzz_regression_test.cc): each feeds untrusted bytes to one
// parser, accepts a result or a kws::Error, and checks the invariants of an accepted
// result. Anything else (another exception, a sanitizer report, a broken invariant
// reported as std::logic_error) is a finding.
#ifndef KWS_FUZZ_FUZZ_TARGETS_H_
#define KWS_FUZZ_FUZZ_TARGETS_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kws/c_api.h"
#include "kws/error.h"
#include "kws/ground_truth.h"
#include "kws/mfcc.h"
#include "kws/model.h"
#include "kws/wav_io.h"

namespace kws_fuzz {

enum class Outcome { kAccepted, kRejected };

// A broken invariant of an accepted result: escapes every harness on purpose.
inline void Require(bool ok, const char* what) {
  if (!ok) throw std::logic_error(std::string("fuzz invariant broken: ") + what);
}

// ReadWavFromMemory, as multi-channel and as mono, must agree with each other and give
// finite samples in [-1, 1]; a mono 16-bit file must survive EncodeWav + re-read exactly.
inline Outcome FuzzWavReader(const uint8_t* data, size_t size) {
  kws::WavData wav;
  try {
    wav = kws::ReadWavFromMemory(data, size, "fuzz.wav", /*mono=*/false);
  } catch (const kws::Error&) {
    // The mono read must reject the same bytes.
    try {
      kws::ReadWavFromMemory(data, size, "fuzz.wav", /*mono=*/true);
    } catch (const kws::Error&) {
      return Outcome::kRejected;
    }
    Require(false, "mono read accepted bytes the multi-channel read rejected");
  }
  Require(wav.channels >= 1 && wav.channels <= kws::kMaxWavChannels, "channel count");
  Require(wav.sample_rate >= 1 && wav.sample_rate <= kws::kMaxWavSampleRate, "rate");
  Require(wav.samples.size() % wav.channels == 0, "whole frames");
  Require(wav.samples.size() <= size, "more samples than bytes");
  for (float v : wav.samples) Require(std::isfinite(v) && v >= -1.0f && v <= 1.0f, "range");

  const kws::WavData mono = kws::ReadWavFromMemory(data, size, "fuzz.wav", /*mono=*/true);
  Require(mono.channels == 1 && mono.frames() == wav.frames(), "mono frame count");
  Require(mono.sample_rate == wav.sample_rate, "mono rate");
  for (size_t f = 0; f < mono.frames(); ++f) {
    Require(std::isfinite(mono.samples[f]) && std::fabs(mono.samples[f]) <= 1.0f, "mono range");
  }
  if (wav.channels == 1) {
    Require(mono.samples == wav.samples, "mono read of a mono file differs");
    if (wav.bits_per_sample == 16) {
      const std::vector<uint8_t> again =
          kws::EncodeWav(wav.samples.data(), wav.samples.size(), wav.sample_rate);
      const kws::WavData back = kws::ReadWavFromMemory(again.data(), again.size(), "again");
      Require(back.samples == wav.samples, "16-bit round trip");
    }
  }
  return Outcome::kAccepted;
}

// Bit-identical, or both NaN (payloads may differ).
inline bool SameFloat(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(a)) == 0;
}

// Reads the next `T` from [*p, end) (zero-filled past the end) and advances *p.
template <typename T>
T Take(const uint8_t** p, const uint8_t* end) {
  T v{};
  const size_t n = std::min<size_t>(sizeof(T), static_cast<size_t>(end - *p));
  std::memcpy(&v, *p, n);
  *p += n;
  return v;
}

// MFCC front end on arbitrary options and float samples (NaN, Inf, huge values).
// Layout: byte 0 picks the mode; odd: raw options (int rate, double window/stride ms,
// int channels/coefficients, double limits) straight from the bytes, to fuzz Validate;
// even: bytes 1-8 pick plausible options. Then one byte seeds the chunking, and the
// rest are float32 samples. Checks: Validate or a clean InvalidArgument; the batch has
// NumFrames(n) frames; streaming in chunks gives bit-identical frames; samples within
// [-1, 1] give finite features.
inline Outcome FuzzMfcc(const uint8_t* data, size_t size) {
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  kws::MfccOptions o;
  const uint8_t mode = Take<uint8_t>(&p, end);
  if (mode & 1) {
    o.sample_rate = Take<int32_t>(&p, end);
    o.window_size_ms = Take<double>(&p, end);
    o.window_stride_ms = Take<double>(&p, end);
    o.filterbank_channel_count = Take<int32_t>(&p, end);
    o.dct_coefficient_count = Take<int32_t>(&p, end);
    o.lower_frequency_limit = Take<double>(&p, end);
    o.upper_frequency_limit = Take<double>(&p, end);
  } else {
    static const int kRates[] = {16000, 8000, 22050, 44100, 48000, 4000, 1000, 11025};
    o.sample_rate = kRates[Take<uint8_t>(&p, end) % 8];
    o.window_size_ms = 1 + Take<uint8_t>(&p, end) % 64 + Take<uint8_t>(&p, end) / 256.0;
    o.window_stride_ms = 1 + Take<uint8_t>(&p, end) % 48;
    o.filterbank_channel_count = 1 + Take<uint8_t>(&p, end) % 80;
    o.dct_coefficient_count = 1 + Take<uint8_t>(&p, end) % o.filterbank_channel_count;
    o.lower_frequency_limit = Take<uint8_t>(&p, end) * 4.0;
    o.upper_frequency_limit = o.sample_rate / 2.0 * (1 + Take<uint8_t>(&p, end)) / 256.0;
  }
  const uint8_t chunking = Take<uint8_t>(&p, end);
  try {
    o.Validate();
  } catch (const kws::InvalidArgument&) {
    return Outcome::kRejected;
  }
  Require(o.window_size_samples() >= 2 && o.window_stride_samples() >= 1, "validated sizes");
  // Valid but huge front ends (up to 2^20-sample windows) are legal; they only slow the
  // fuzzer down, so their tables are not built here.
  if (o.fft_length() > 4096 || o.filterbank_channel_count > 256) return Outcome::kAccepted;

  const size_t n = static_cast<size_t>(end - p) / sizeof(float);
  std::vector<float> samples(n);
  if (n > 0) std::memcpy(samples.data(), p, n * sizeof(float));
  bool in_range = true;
  for (float v : samples) in_range = in_range && std::isfinite(v) && std::fabs(v) <= 1.0f;

  auto frontend = std::make_shared<const kws::MfccFrontend>(o);
  const size_t coefficients = static_cast<size_t>(frontend->num_coefficients());
  const std::vector<float> batch = frontend->Compute(samples.data(), n);
  Require(batch.size() == static_cast<size_t>(o.NumFrames(n)) * coefficients, "frame count");
  if (in_range) {
    for (float v : batch) Require(std::isfinite(v), "finite features from samples in [-1, 1]");
  }

  kws::MfccStream stream(frontend);
  std::vector<float> streamed;
  size_t pos = 0;
  for (unsigned k = 1; pos < n; ++k) {
    const size_t chunk = std::min<size_t>(n - pos, 1 + (chunking * 7u + k * 13u) % (chunking | 1));
    stream.AcceptWaveform(samples.data() + pos, chunk);
    pos += chunk;
    if (k % 3 == 0) {
      const std::vector<float> got = stream.PopAllFrames();
      streamed.insert(streamed.end(), got.begin(), got.end());
    }
  }
  const std::vector<float> rest = stream.PopAllFrames();
  streamed.insert(streamed.end(), rest.begin(), rest.end());
  Require(streamed.size() == batch.size(), "streamed frame count");
  for (size_t i = 0; i < batch.size(); ++i) {
    Require(SameFloat(streamed[i], batch[i]), "streamed frames differ from the batch");
  }
  Require(stream.frames_emitted() == static_cast<int64_t>(batch.size() / coefficients),
          "frames_emitted");
  return Outcome::kAccepted;
}

// Model::LoadFromMemory on arbitrary bytes. An accepted model must describe itself
// consistently; when it is small enough to run quickly, whole-clip scores must be a
// softmax (or NaN when finite weights overflow) and a stream's first window must give the
// same scores as whole-clip inference.
// The kws_crc32c checksum is skipped for this exploration (mutated weights would stop
// there); with it, the same bytes must load to the same model or be refused as corrupt.
inline Outcome FuzzModelLoader(const uint8_t* data, size_t size) {
  std::shared_ptr<const kws::Model> model;
  try {
    model = kws::Model::LoadFromMemory(data, size, "fuzz.kws", /*verify_checksum=*/false);
  } catch (const kws::Error&) {
    return Outcome::kRejected;
  }
  try {
    const auto checked = kws::Model::LoadFromMemory(data, size, "fuzz.kws");
    Require(checked->labels() == model->labels() &&
                checked->flops_per_window() == model->flops_per_window(),
            "the checksum changes nothing but acceptance");
  } catch (const kws::ModelError& e) {
    const std::string what = e.what();
    Require(what.find("checksum mismatch") != std::string::npos ||
                what.find("kws_crc32c") != std::string::npos,
            "only the checksum may refuse what loads without it");
  }
  const int labels = model->num_labels();
  Require(labels >= 1 && static_cast<size_t>(labels) == model->labels().size(), "labels");
  Require(model->clip_samples() > 0 && model->sample_rate() > 0, "clip and rate");
  const kws::MfccOptions& fo = model->frontend_options();
  Require(model->num_frames() == fo.NumFrames(static_cast<size_t>(model->clip_samples())),
          "frames of one clip");
  Require(model->num_coefficients() == fo.dct_coefficient_count, "coefficients");
  Require(model->frame_stride_samples() == fo.window_stride_samples(), "frame stride");
  Require(!model->Summary().empty() && model->flops_per_window() >= 0, "summary");
  if (model->flops_per_window() > 4000000 || model->clip_samples() > 48000 ||
      fo.fft_length() > 4096) {
    return Outcome::kAccepted;
  }

  const size_t clip = static_cast<size_t>(model->clip_samples());
  const int hop = model->frame_stride_samples();
  std::vector<float> audio(clip + 2 * static_cast<size_t>(hop));
  uint32_t state = static_cast<uint32_t>(size) * 2654435761u;
  for (size_t i = 0; i < audio.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    audio[i] = 0.5f * std::sin(0.05f * static_cast<float>(i)) +
               0.25f * (static_cast<float>(state >> 8) / 16777216.0f - 0.5f);
  }
  std::vector<float> scores(static_cast<size_t>(labels));
  model->Predict(audio.data(), clip, scores.data());
  bool finite = true;
  double sum = 0;
  for (float v : scores) {
    finite = finite && std::isfinite(v);
    sum += v;
  }
  if (finite) {
    for (float v : scores) Require(v >= 0.0f && v <= 1.0f, "softmax range");
    Require(std::fabs(sum - 1.0) < 1e-3, "softmax sum");
  }

  std::unique_ptr<kws::Stream> stream = model->CreateStream(hop);
  stream->AcceptWaveform(audio.data(), audio.size());
  Require(stream->IsReady(), "stream ready after a clip");
  stream->Decode();
  const kws::StreamResult& first = stream->GetResult();
  Require(first.start_sample == 0 && first.end_sample == static_cast<int64_t>(clip),
          "first window position");
  Require(first.scores.size() == scores.size(), "stream score count");
  for (size_t i = 0; i < scores.size(); ++i) {
    Require(
        SameFloat(first.scores[i], scores[i]) || std::fabs(first.scores[i] - scores[i]) <= 1e-4f,
        "stream scores differ from whole-clip scores");
  }
  int windows = 1;
  while (stream->IsReady()) {
    stream->Decode();
    ++windows;
    Require(stream->GetResult().start_sample == static_cast<int64_t>(windows - 1) * hop,
            "window start");
  }
  Require(windows == 3, "windows in a clip plus two hops");
  return Outcome::kAccepted;
}

// The C API's model-from-memory entry point (kws_model_load_from_memory) on arbitrary bytes.
// It must return KWS_OK or KWS_ERROR_MODEL (any other status, e.g. KWS_ERROR_INTERNAL, is a
// finding), agree with Model::LoadFromMemory, leave the output untouched and name the
// input on failure, and give a working model on success: accessors that match the C++
// model, a stream whose first window equals whole-clip inference, a decoder, clean frees.
// The bytes themselves, used as a handle, must be rejected.
inline Outcome FuzzCApiModel(const uint8_t* data, size_t size) {
  kws_model* model = nullptr;
  const kws_status status =
      kws_model_load_from_memory(size ? data : nullptr, size, "fuzz.kws", &model);
  bool cpp_accepts = true;
  std::shared_ptr<const kws::Model> reference;
  try {
    reference = kws::Model::LoadFromMemory(data, size, "fuzz.kws");
  } catch (const kws::Error&) {
    cpp_accepts = false;
  }
  if (status != KWS_OK) {
    Require(status == KWS_ERROR_MODEL, "status other than KWS_OK or KWS_ERROR_MODEL");
    Require(!cpp_accepts, "C API rejected a model the C++ API accepts");
    Require(model == nullptr, "output written on failure");
    Require(std::strncmp(kws_last_error(), "kws_model_load_from_memory: fuzz.kws",
                         std::strlen("kws_model_load_from_memory: fuzz.kws")) == 0,
            "error message does not name the input");
  }
  int32_t n = 0;
  Require(kws_model_num_labels(reinterpret_cast<const kws_model*>(data), &n) ==
              KWS_ERROR_INVALID_HANDLE,
          "foreign bytes accepted as a model handle");
  if (status != KWS_OK) return Outcome::kRejected;
  Require(cpp_accepts && model != nullptr, "C API accepted a model the C++ API rejects");
  int32_t labels = 0, rate = 0, clip = 0, stride = 0;
  Require(kws_model_num_labels(model, &labels) == KWS_OK &&
              kws_model_sample_rate(model, &rate) == KWS_OK &&
              kws_model_clip_samples(model, &clip) == KWS_OK &&
              kws_model_frame_stride_samples(model, &stride) == KWS_OK,
          "accessors of a loaded model");
  Require(labels == reference->num_labels() && rate == reference->sample_rate() &&
              clip == reference->clip_samples() && stride == reference->frame_stride_samples(),
          "accessors differ from the C++ model");
  for (int32_t i = 0; i < labels; ++i) {
    const char* label = nullptr;
    Require(kws_model_label(model, i, &label) == KWS_OK &&
                reference->labels()[static_cast<size_t>(i)] == label,
            "label differs from the C++ model");
  }
  const char* label = nullptr;
  Require(kws_model_label(model, labels, &label) == KWS_ERROR_INVALID_ARGUMENT,
          "label index past the end accepted");
  kws_recognizer* recognizer = nullptr;
  Require(kws_recognizer_create_for_model(model, nullptr, &recognizer) == KWS_OK,
          "decoder for a loaded model");

  if (reference->flops_per_window() <= 4000000 && clip <= 48000 &&
      reference->frontend_options().fft_length() <= 4096) {
    std::vector<float> audio(static_cast<size_t>(clip) + static_cast<size_t>(stride));
    for (size_t i = 0; i < audio.size(); ++i) {
      audio[i] = 0.5f * std::sin(0.031f * static_cast<float>(i));
    }
    std::vector<float> expected(static_cast<size_t>(labels)), got(expected.size());
    Require(kws_model_predict(model, audio.data(), static_cast<size_t>(clip), expected.data(),
                              expected.size()) == KWS_OK,
            "predict");
    kws_stream* stream = nullptr;
    Require(kws_stream_create(model, stride, &stream) == KWS_OK, "stream with a one-frame hop");
    Require(kws_stream_accept_waveform(stream, audio.data(), audio.size()) == KWS_OK,
            "accept_waveform");
    int32_t ready = 0;
    int windows = 0;
    while (kws_stream_is_ready(stream, &ready) == KWS_OK && ready) {
      int64_t start = -1;
      Require(kws_stream_decode(stream) == KWS_OK, "decode a ready window");
      Require(kws_stream_result(stream, got.data(), got.size(), &start, nullptr) == KWS_OK,
              "result");
      Require(start == static_cast<int64_t>(windows) * stride, "window start");
      if (windows == 0) {
        for (size_t i = 0; i < got.size(); ++i) {
          Require(SameFloat(got[i], expected[i]) || std::fabs(got[i] - expected[i]) <= 1e-4f,
                  "stream scores differ from whole-clip scores");
        }
      }
      kws_recognition answer;
      Require(kws_recognizer_process(recognizer, got.data(), got.size(), start * 1000 / rate,
                                     &answer) == KWS_OK,
              "decoder accepts the stream's scores");
      Require(answer.label != nullptr && answer.label_index < labels, "decoder answer");
      ++windows;
    }
    Require(windows == 2, "windows in a clip plus one hop");
    Require(kws_stream_free(stream) == KWS_OK, "stream free");
  }
  Require(kws_recognizer_free(recognizer) == KWS_OK, "recognizer free");
  Require(kws_model_free(model) == KWS_OK, "model free");
  Require(kws_model_free(model) == KWS_ERROR_INVALID_HANDLE, "double free accepted");
  return Outcome::kAccepted;
}

// ParseGroundTruth on arbitrary text: accepted entries are sorted, their words are
// non-empty and trimmed, malformed counts agree, and writing then re-reading the entries
// gives them back.
inline Outcome FuzzGroundTruth(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  kws::GroundTruth truth;
  try {
    truth = kws::ParseGroundTruth(text, "fuzz.txt");
  } catch (const kws::InputError& e) {
    Require(std::string(e.what()).find("fuzz.txt: no valid") == 0, "rejection message");
    return Outcome::kRejected;
  }
  Require(truth.malformed_lines >= 0 &&
              truth.malformed_line_numbers.size() ==
                  std::min<size_t>(20, static_cast<size_t>(truth.malformed_lines)),
          "malformed counts");
  for (size_t i = 0; i < truth.entries.size(); ++i) {
    const kws::GroundTruthEntry& e = truth.entries[i];
    Require(!e.label.empty(), "empty word");
    Require(e.label.find(',') == std::string::npos && e.label.find('\n') == std::string::npos,
            "word holds a separator");
    Require(std::fabs(static_cast<double>(e.time_ms)) < 9.0e15, "time in range");
    if (i > 0) Require(truth.entries[i - 1].time_ms <= e.time_ms, "sorted");
  }
  // Round trip through the writer's format (word, %.3f) in memory.
  std::string written;
  char buffer[64];
  for (const kws::GroundTruthEntry& e : truth.entries) {
    std::snprintf(buffer, sizeof(buffer), "%.3f", static_cast<double>(e.time_ms));
    written += e.label + ", " + buffer + "\n";
  }
  if (!truth.entries.empty()) {
    const kws::GroundTruth again = kws::ParseGroundTruth(written, "again.txt");
    Require(again.malformed_lines == 0 && again.entries.size() == truth.entries.size(),
            "round trip count");
    for (size_t i = 0; i < again.entries.size(); ++i)
      Require(again.entries[i].time_ms == truth.entries[i].time_ms, "round trip time");
  }
  return Outcome::kAccepted;
}

}  // namespace kws_fuzz

#endif  // KWS_FUZZ_FUZZ_TARGETS_H_
