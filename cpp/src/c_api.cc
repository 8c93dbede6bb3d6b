// The C API (kws/c_api.h) over the public C++ API. Every entry point validates its
// handles against a registry of live handles before touching them (so a NULL, freed,
// foreign or wrong-type pointer is an error, not a dereference), checks its arguments,
// and turns every C++ exception into a status code plus a per-thread message.
#include "kws/c_api.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kws/error.h"
#include "kws/mfcc.h"
#include "kws/model.h"
#include "kws/recognize_commands.h"
#include "kws/version.h"
#include "kws/wav_io.h"

namespace {

// Bounds on sizes the caller controls.
constexpr size_t kMaxInputBytes = size_t{1} << 30;      // model / WAV bytes in memory
constexpr size_t kMaxSamplesPerCall = size_t{1} << 28;  // ~4.6 h at 16 kHz
constexpr int32_t kMaxLabels = 1 << 16;
constexpr size_t kMaxLabelBytes = 4096;

enum class Kind : uint32_t {
  kModel = 0x6b6d6f64,       // "kmod"
  kStream = 0x6b737472,      // "kstr"
  kRecognizer = 0x6b726563,  // "krec"
  kMfcc = 0x6b6d6663,        // "kmfc"
  kWav = 0x6b776176,         // "kwav"
};

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kModel:
      return "kws_model";
    case Kind::kStream:
      return "kws_stream";
    case Kind::kRecognizer:
      return "kws_recognizer";
    case Kind::kMfcc:
      return "kws_mfcc";
    case Kind::kWav:
      return "kws_wav";
  }
  return "unknown";
}

thread_local std::string t_last_error;

kws_status Fail(kws_status status, const char* fn, const std::string& message) {
  try {
    t_last_error = std::string(fn) + ": " + message;
  } catch (...) {
    t_last_error.clear();  // out of memory while building the message: keep the status
  }
  return status;
}

// Live handles and their kinds. Lookups never dereference the pointer.
class Registry {
 public:
  void Add(const void* p, Kind k) {
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = k;
  }
  // The kind of a live handle, or false.
  bool Find(const void* p, Kind* k) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return false;
    *k = it->second;
    return true;
  }
  // Removes a live handle of kind `k`; false if it is not one.
  bool Remove(const void* p, Kind k) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end() || it->second != k) return false;
    live_.erase(it);
    return true;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<const void*, Kind> live_;
};

Registry& Handles() {
  static Registry* registry = new Registry();  // never destroyed: usable during exit
  return *registry;
}

}  // namespace

// The handle types. `tag` repeats the kind inside the object as a second check.
struct kws_model {
  static constexpr Kind kKind = Kind::kModel;
  uint32_t tag = static_cast<uint32_t>(kKind);
  std::shared_ptr<const kws::Model> model;
};

struct kws_stream {
  static constexpr Kind kKind = Kind::kStream;
  uint32_t tag = static_cast<uint32_t>(kKind);
  std::unique_ptr<kws::Stream> stream;
  size_t num_labels = 0;
  bool decoded = false;  // a window was decoded since creation or reset
};

struct kws_recognizer {
  static constexpr Kind kKind = Kind::kRecognizer;
  uint32_t tag = static_cast<uint32_t>(kKind);
  std::unique_ptr<kws::RecognizeCommands> decoder;
};

struct kws_mfcc {
  static constexpr Kind kKind = Kind::kMfcc;
  uint32_t tag = static_cast<uint32_t>(kKind);
  std::unique_ptr<kws::MfccFrontend> frontend;
};

struct kws_wav {
  static constexpr Kind kKind = Kind::kWav;
  uint32_t tag = static_cast<uint32_t>(kKind);
  kws::WavData wav;
};

namespace {

// Thrown inside Guard() for a failure the C API itself detects.
struct CError {
  kws_status status;
  std::string message;
};

[[noreturn]] void Invalid(const std::string& message) {
  throw CError{KWS_ERROR_INVALID_ARGUMENT, message};
}

// An optional string argument: NULL reads as empty (the callee's default).
std::string OrEmpty(const char* text) { return text ? std::string(text) : std::string(); }

// Runs `body` (which returns nothing) and maps every exception to a status.
template <typename F>
kws_status Guard(const char* fn, F&& body) {
  try {
    body();
    return KWS_OK;
  } catch (const CError& e) {
    return Fail(e.status, fn, e.message);
  } catch (const kws::ModelError& e) {
    return Fail(KWS_ERROR_MODEL, fn, e.what());
  } catch (const kws::WavError& e) {
    return Fail(KWS_ERROR_WAV, fn, e.what());
  } catch (const kws::InputError& e) {
    return Fail(KWS_ERROR_INVALID_ARGUMENT, fn, e.what());
  } catch (const kws::IoError& e) {
    return Fail(KWS_ERROR_IO, fn, e.what());
  } catch (const std::bad_alloc&) {
    return Fail(KWS_ERROR_OUT_OF_MEMORY, fn, "out of memory");
  } catch (const std::exception& e) {
    return Fail(KWS_ERROR_INTERNAL, fn, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(KWS_ERROR_INTERNAL, fn, "internal error: unknown exception");
  }
}

// The live handle `h` of type H, or a CError naming the argument.
template <typename H>
H* Check(const H* h, const char* arg) {
  Kind kind;
  if (h == nullptr) {
    throw CError{KWS_ERROR_INVALID_HANDLE, std::string(arg) + " is NULL"};
  }
  if (!Handles().Find(h, &kind)) {
    throw CError{KWS_ERROR_INVALID_HANDLE, std::string(arg) + " is not a live " +
                                               KindName(H::kKind) + " (freed, or not made by kws)"};
  }
  if (kind != H::kKind) {
    throw CError{KWS_ERROR_INVALID_HANDLE,
                 std::string(arg) + " is a " + KindName(kind) + ", not a " + KindName(H::kKind)};
  }
  if (h->tag != static_cast<uint32_t>(H::kKind)) {
    throw CError{KWS_ERROR_INVALID_HANDLE, std::string(arg) + " is a corrupted " +
                                               KindName(H::kKind) + " (its tag was overwritten)"};
  }
  return const_cast<H*>(h);
}

template <typename T>
T* Out(T* p, const char* arg) {
  if (p == nullptr) Invalid(std::string("output pointer ") + arg + " is NULL");
  return p;
}

// Registers a new handle and stores it in *out (which the caller checked).
template <typename H>
void Publish(std::unique_ptr<H> h, H** out) {
  Handles().Add(h.get(), H::kKind);
  *out = h.release();
}

template <typename H>
kws_status Free(const char* fn, H* h) {
  if (h == nullptr) return KWS_OK;
  if (!Handles().Remove(h, H::kKind)) {
    Kind kind;
    if (Handles().Find(h, &kind)) {
      return Fail(KWS_ERROR_INVALID_HANDLE, fn,
                  std::string("handle is a ") + KindName(kind) + ", not a " + KindName(H::kKind));
    }
    return Fail(KWS_ERROR_INVALID_HANDLE, fn,
                std::string("handle is not a live ") + KindName(H::kKind) +
                    " (already freed, or not made by kws)");
  }
  h->tag = 0;
  delete h;
  return KWS_OK;
}

std::string NameOr(const char* name, const char* fallback) {
  if (name == nullptr) return fallback;
  const size_t n = strnlen(name, kMaxLabelBytes + 1);
  if (n > kMaxLabelBytes) Invalid("name is longer than 4096 bytes");
  return std::string(name, n);
}

void CheckSamples(const float* samples, size_t n, const char* arg) {
  if (samples == nullptr && n != 0) Invalid(std::string(arg) + " is NULL");
  if (n > kMaxSamplesPerCall) {
    Invalid(std::to_string(n) + " samples in one call; at most " +
            std::to_string(kMaxSamplesPerCall));
  }
}

kws::RecognizeCommandsOptions ToCpp(const kws_recognizer_options* o) {
  kws::RecognizeCommandsOptions r;
  if (o != nullptr) {
    r.average_window_duration_ms = o->average_window_duration_ms;
    r.detection_threshold = o->detection_threshold;
    r.suppression_ms = o->suppression_ms;
    r.minimum_count = o->minimum_count;
  }
  r.Validate();
  return r;
}

void FromCpp(const kws::RecognizeCommandsOptions& r, kws_recognizer_options* o) {
  o->average_window_duration_ms = r.average_window_duration_ms;
  o->detection_threshold = r.detection_threshold;
  o->suppression_ms = r.suppression_ms;
  o->minimum_count = r.minimum_count;
}

kws::MfccOptions ToCpp(const kws_mfcc_options* o) {
  kws::MfccOptions r;
  if (o != nullptr) {
    r.sample_rate = o->sample_rate;
    r.window_size_ms = o->window_size_ms;
    r.window_stride_ms = o->window_stride_ms;
    r.filterbank_channel_count = o->filterbank_channel_count;
    r.lower_frequency_limit = o->lower_frequency_limit;
    r.upper_frequency_limit = o->upper_frequency_limit;
    r.dct_coefficient_count = o->dct_coefficient_count;
    r.average_window_width = o->average_window_width;
  }
  r.Validate();
  return r;
}

void FromCpp(const kws::MfccOptions& r, kws_mfcc_options* o) {
  o->sample_rate = r.sample_rate;
  o->window_size_ms = r.window_size_ms;
  o->window_stride_ms = r.window_stride_ms;
  o->filterbank_channel_count = r.filterbank_channel_count;
  o->lower_frequency_limit = r.lower_frequency_limit;
  o->upper_frequency_limit = r.upper_frequency_limit;
  o->dct_coefficient_count = r.dct_coefficient_count;
  o->average_window_width = r.average_window_width;
}

std::string BuildInfo() {
  std::string s = std::string("kws ") + kws::Version() + "; C API " +
                  std::to_string(KWS_C_API_VERSION) + "; compiler ";
#if defined(__clang__)
  std::string clang = __clang_version__;
  while (!clang.empty() && clang.back() == ' ') clang.pop_back();
  s += "clang " + clang;
#elif defined(__GNUC__)
  s += "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
       std::to_string(__GNUC_PATCHLEVEL__);
#elif defined(_MSC_VER)
  s += "msvc " + std::to_string(_MSC_VER);
#else
  s += "unknown";
#endif
  s += "; C++ " + std::to_string(__cplusplus) + "; target ";
#if defined(__EMSCRIPTEN__)
  s += "wasm32-emscripten";
#elif defined(__x86_64__) || defined(_M_X64)
  s += "x86_64";
#elif defined(__aarch64__) || defined(_M_ARM64)
  s += "aarch64";
#elif defined(__i386__)
  s += "x86";
#else
  s += "other";
#endif
  s += "; features";
  bool any = false;
#if defined(__AVX512F__)
  s += " avx512f";
  any = true;
#endif
#if defined(__AVX2__)
  s += " avx2";
  any = true;
#endif
#if defined(__FMA__)
  s += " fma";
  any = true;
#endif
#if defined(__ARM_NEON)
  s += " neon";
  any = true;
#endif
#if defined(__wasm_simd128__)
  s += " simd128";
  any = true;
#endif
  if (!any) s += " baseline";
  s += "; kernels " + kws::ActiveKernelSet();
#if defined(NDEBUG)
  s += "; release";
#else
  s += "; debug";
#endif
#if defined(__SANITIZE_ADDRESS__)
  s += "; asan";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  s += "; asan";
#endif
#endif
  return s;
}

}  // namespace

extern "C" {

// ---- errors, version ------------------------------------------------------------------

const char* kws_last_error(void) { return t_last_error.c_str(); }

const char* kws_status_name(kws_status status) {
  switch (status) {
    case KWS_OK:
      return "KWS_OK";
    case KWS_ERROR_INVALID_ARGUMENT:
      return "KWS_ERROR_INVALID_ARGUMENT";
    case KWS_ERROR_INVALID_HANDLE:
      return "KWS_ERROR_INVALID_HANDLE";
    case KWS_ERROR_MODEL:
      return "KWS_ERROR_MODEL";
    case KWS_ERROR_WAV:
      return "KWS_ERROR_WAV";
    case KWS_ERROR_IO:
      return "KWS_ERROR_IO";
    case KWS_ERROR_OUT_OF_MEMORY:
      return "KWS_ERROR_OUT_OF_MEMORY";
    case KWS_ERROR_INTERNAL:
      return "KWS_ERROR_INTERNAL";
  }
  return "unknown status";
}

const char* kws_version(void) { return kws::Version(); }

const char* kws_build_info(void) {
  static const std::string* info = [] {
    try {
      return new std::string(BuildInfo());
    } catch (...) {
      return new std::string("kws");
    }
  }();
  return info->c_str();
}

int kws_c_api_version(void) { return KWS_C_API_VERSION; }

// ---- model ----------------------------------------------------------------------------

kws_status kws_model_load(const char* path, kws_model** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    if (path == nullptr) Invalid("path is NULL");
    auto h = std::make_unique<kws_model>();
    h->model = kws::Model::Load(path);
    Publish(std::move(h), out);
  });
}

kws_status kws_model_load_bundled(const char* name, const char* models_dir, kws_model** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    if (name == nullptr) Invalid("name is NULL");
    auto h = std::make_unique<kws_model>();
    h->model = kws::Model::LoadBundled(name, OrEmpty(models_dir));
    Publish(std::move(h), out);
  });
}

kws_status kws_bundled_card_decoder(const char* name, const char* models_dir, float* threshold,
                                    int32_t* has_threshold, int64_t* decision_delay_ms,
                                    int32_t* has_decision_delay) {
  return Guard(__func__, [&] {
    Out(threshold, "threshold");
    Out(has_threshold, "has_threshold");
    Out(decision_delay_ms, "decision_delay_ms");
    Out(has_decision_delay, "has_decision_delay");
    if (name == nullptr) Invalid("name is NULL");
    const kws::CardDecoderOptions card = kws::Model::BundledCardDecoder(name, OrEmpty(models_dir));
    *has_threshold = card.detection_threshold.has_value() ? 1 : 0;
    if (card.detection_threshold) *threshold = *card.detection_threshold;
    *has_decision_delay = card.decision_delay_ms.has_value() ? 1 : 0;
    if (card.decision_delay_ms) *decision_delay_ms = *card.decision_delay_ms;
  });
}

kws_status kws_bundled_card_average_window(const char* name, const char* models_dir,
                                           int64_t* average_window_ms,
                                           int32_t* has_average_window) {
  return Guard(__func__, [&] {
    Out(average_window_ms, "average_window_ms");
    Out(has_average_window, "has_average_window");
    if (name == nullptr) Invalid("name is NULL");
    const kws::CardDecoderOptions card = kws::Model::BundledCardDecoder(name, OrEmpty(models_dir));
    *has_average_window = card.average_window_duration_ms.has_value() ? 1 : 0;
    if (card.average_window_duration_ms) *average_window_ms = *card.average_window_duration_ms;
  });
}

kws_status kws_bundled_card_allow_repeats(const char* name, const char* models_dir,
                                          int32_t* allow_repeats, int32_t* has_allow_repeats) {
  return Guard(__func__, [&] {
    Out(allow_repeats, "allow_repeats");
    Out(has_allow_repeats, "has_allow_repeats");
    if (name == nullptr) Invalid("name is NULL");
    const kws::CardDecoderOptions card = kws::Model::BundledCardDecoder(name, OrEmpty(models_dir));
    *has_allow_repeats = card.allow_repeats.has_value() ? 1 : 0;
    if (card.allow_repeats) *allow_repeats = *card.allow_repeats ? 1 : 0;
  });
}

kws_status kws_model_load_from_memory(const void* data, size_t size, const char* name,
                                      kws_model** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    const std::string label = NameOr(name, "<memory>");
    if (data == nullptr && size != 0) Invalid(label + ": data is NULL");
    if (size > kMaxInputBytes) {
      Invalid(label + ": " + std::to_string(size) + " bytes; a model in memory is at most 1 GiB");
    }
    static const uint8_t kEmpty = 0;
    const uint8_t* bytes = data ? static_cast<const uint8_t*>(data) : &kEmpty;
    auto h = std::make_unique<kws_model>();
    h->model = kws::Model::LoadFromMemory(bytes, size, label);
    Publish(std::move(h), out);
  });
}

kws_status kws_model_free(kws_model* model) { return Free(__func__, model); }

kws_status kws_model_num_labels(const kws_model* model, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    *Out(out, "out") = m->model->num_labels();
  });
}

kws_status kws_model_label(const kws_model* model, int32_t index, const char** out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    Out(out, "out");
    const auto& labels = m->model->labels();
    if (index < 0 || static_cast<size_t>(index) >= labels.size()) {
      Invalid("label index " + std::to_string(index) + " is outside [0, " +
              std::to_string(labels.size()) + ")");
    }
    *out = labels[static_cast<size_t>(index)].c_str();
  });
}

kws_status kws_model_architecture(const kws_model* model, const char** out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    *Out(out, "out") = m->model->architecture().c_str();
  });
}

kws_status kws_model_sample_rate(const kws_model* model, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    *Out(out, "out") = m->model->sample_rate();
  });
}

kws_status kws_model_clip_samples(const kws_model* model, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    *Out(out, "out") = m->model->clip_samples();
  });
}

kws_status kws_model_frame_stride_samples(const kws_model* model, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    *Out(out, "out") = m->model->frame_stride_samples();
  });
}

kws_status kws_model_whole_clip_memory_bytes(const kws_model* model, int64_t* out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    *Out(out, "out") = m->model->whole_clip_memory_bytes();
  });
}

kws_status kws_model_predict(const kws_model* model, const float* samples, size_t num_samples,
                             float* scores, size_t num_scores) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    const size_t clip = static_cast<size_t>(m->model->clip_samples());
    const size_t labels = static_cast<size_t>(m->model->num_labels());
    if (samples == nullptr) Invalid("samples is NULL");
    if (num_samples != clip) {
      Invalid("got " + std::to_string(num_samples) + " samples; the model scores clips of " +
              std::to_string(clip));
    }
    if (scores == nullptr) Invalid("scores is NULL");
    if (num_scores < labels) {
      Invalid("scores holds " + std::to_string(num_scores) + " values; the model has " +
              std::to_string(labels) + " labels");
    }
    m->model->Predict(samples, num_samples, scores);
  });
}

kws_status kws_model_mfcc_options(const kws_model* model, kws_mfcc_options* out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    FromCpp(m->model->frontend_options(), Out(out, "out"));
  });
}

// ---- stream ---------------------------------------------------------------------------

kws_status kws_stream_create(const kws_model* model, int32_t hop_samples, kws_stream** out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    Out(out, "out");
    auto h = std::make_unique<kws_stream>();
    h->stream = m->model->CreateStream(hop_samples);
    h->num_labels = static_cast<size_t>(m->model->num_labels());
    Publish(std::move(h), out);
  });
}

kws_status kws_stream_free(kws_stream* stream) { return Free(__func__, stream); }

kws_status kws_stream_accept_waveform(kws_stream* stream, const float* samples,
                                      size_t num_samples) {
  return Guard(__func__, [&] {
    kws_stream* s = Check(stream, "stream");
    CheckSamples(samples, num_samples, "samples");
    if (num_samples == 0) return;
    s->stream->AcceptWaveform(samples, num_samples);
  });
}

kws_status kws_stream_input_finished(kws_stream* stream) {
  return Guard(__func__, [&] { Check(stream, "stream")->stream->InputFinished(); });
}

kws_status kws_stream_is_ready(const kws_stream* stream, int32_t* ready) {
  return Guard(__func__, [&] {
    const kws_stream* s = Check(stream, "stream");
    *Out(ready, "ready") = s->stream->IsReady() ? 1 : 0;
  });
}

kws_status kws_stream_decode(kws_stream* stream) {
  return Guard(__func__, [&] {
    kws_stream* s = Check(stream, "stream");
    if (!s->stream->IsReady()) Invalid("the next window is not complete (check is_ready first)");
    s->stream->Decode();
    s->decoded = true;
  });
}

kws_status kws_stream_result(const kws_stream* stream, float* scores, size_t num_scores,
                             int64_t* start_sample, int64_t* end_sample) {
  return Guard(__func__, [&] {
    const kws_stream* s = Check(stream, "stream");
    if (!s->decoded) Invalid("no window decoded yet");
    if (num_scores != 0 || scores != nullptr) {
      if (scores == nullptr) Invalid("scores is NULL");
      if (num_scores < s->num_labels) {
        Invalid("scores holds " + std::to_string(num_scores) + " values; the model has " +
                std::to_string(s->num_labels) + " labels");
      }
    }
    const kws::StreamResult& r = s->stream->GetResult();
    if (scores != nullptr) std::memcpy(scores, r.scores.data(), r.scores.size() * sizeof(float));
    if (start_sample != nullptr) *start_sample = r.start_sample;
    if (end_sample != nullptr) *end_sample = r.end_sample;
  });
}

kws_status kws_stream_reset(kws_stream* stream) {
  return Guard(__func__, [&] {
    kws_stream* s = Check(stream, "stream");
    s->stream->Reset();
    s->decoded = false;
  });
}

kws_status kws_stream_hop_samples(const kws_stream* stream, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_stream* s = Check(stream, "stream");
    *Out(out, "out") = s->stream->hop_samples();
  });
}

// ---- RecognizeCommands ----------------------------------------------------------------

kws_status kws_recognizer_options_default(kws_recognizer_options* options) {
  return Guard(__func__,
               [&] { FromCpp(kws::RecognizeCommandsOptions(), Out(options, "options")); });
}

kws_status kws_recognizer_create(const char* const* labels, int32_t num_labels,
                                 const kws_recognizer_options* options, kws_recognizer** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    if (labels == nullptr) Invalid("labels is NULL");
    if (num_labels <= 0 || num_labels > kMaxLabels) {
      Invalid("num_labels is " + std::to_string(num_labels) + "; it must be in [1, " +
              std::to_string(kMaxLabels) + "]");
    }
    std::vector<std::string> names;
    names.reserve(static_cast<size_t>(num_labels));
    for (int32_t i = 0; i < num_labels; ++i) {
      if (labels[i] == nullptr) Invalid("labels[" + std::to_string(i) + "] is NULL");
      const size_t n = strnlen(labels[i], kMaxLabelBytes + 1);
      if (n > kMaxLabelBytes) {
        Invalid("labels[" + std::to_string(i) + "] is longer than 4096 bytes");
      }
      names.emplace_back(labels[i], n);
    }
    auto h = std::make_unique<kws_recognizer>();
    h->decoder = std::make_unique<kws::RecognizeCommands>(std::move(names), ToCpp(options));
    Publish(std::move(h), out);
  });
}

kws_status kws_recognizer_create_for_model(const kws_model* model,
                                           const kws_recognizer_options* options,
                                           kws_recognizer** out) {
  return Guard(__func__, [&] {
    const kws_model* m = Check(model, "model");
    Out(out, "out");
    auto h = std::make_unique<kws_recognizer>();
    h->decoder = std::make_unique<kws::RecognizeCommands>(m->model->labels(), ToCpp(options));
    Publish(std::move(h), out);
  });
}

kws_status kws_recognizer_free(kws_recognizer* recognizer) { return Free(__func__, recognizer); }

namespace {
// A decoder answer for C: the label index's name (`_silence_` for -1) points into the
// recognizer.
void FillRecognition(const kws_recognizer* r, int index, float score, bool is_new, int64_t time_ms,
                     kws_recognition* out) {
  static const char kSilence[] = "_silence_";
  out->label = index >= 0 ? r->decoder->labels()[static_cast<size_t>(index)].c_str() : kSilence;
  out->label_index = index;
  out->score = score;
  out->is_new = is_new ? 1 : 0;
  out->time_ms = time_ms;
}
}  // namespace

kws_status kws_recognizer_process(kws_recognizer* recognizer, const float* scores,
                                  size_t num_scores, int64_t time_ms, kws_recognition* out) {
  return Guard(__func__, [&] {
    kws_recognizer* r = Check(recognizer, "recognizer");
    Out(out, "out");
    if (scores == nullptr) Invalid("scores is NULL");
    const size_t labels = static_cast<size_t>(r->decoder->num_labels());
    if (num_scores != labels) {
      Invalid("got " + std::to_string(num_scores) + " scores; the recognizer has " +
              std::to_string(labels) + " labels");
    }
    float score = 0.0f;
    bool is_new = false;
    const int index = r->decoder->ProcessIndex(scores, num_scores, time_ms, &score, &is_new);
    FillRecognition(r, index, score, is_new, is_new ? r->decoder->command_time() : time_ms, out);
  });
}

kws_status kws_recognizer_finish(kws_recognizer* recognizer, kws_recognition* out) {
  return Guard(__func__, [&] {
    kws_recognizer* r = Check(recognizer, "recognizer");
    Out(out, "out");
    float score = 0.0f;
    bool is_new = false;
    int64_t time_ms = 0;
    const int index = r->decoder->FinishIndex(&score, &is_new, &time_ms);
    FillRecognition(r, index, score, is_new, time_ms, out);
  });
}

kws_status kws_recognizer_reset(kws_recognizer* recognizer) {
  return Guard(__func__, [&] { Check(recognizer, "recognizer")->decoder->Reset(); });
}

kws_status kws_recognizer_set_options(kws_recognizer* recognizer,
                                      const kws_recognizer_options* options) {
  return Guard(__func__, [&] {
    kws_recognizer* r = Check(recognizer, "recognizer");
    if (options == nullptr) Invalid("options is NULL");
    kws::RecognizeCommandsOptions o = ToCpp(options);
    o.decision_delay_ms = r->decoder->options().decision_delay_ms;
    o.allow_repeats = r->decoder->options().allow_repeats;
    r->decoder = std::make_unique<kws::RecognizeCommands>(r->decoder->labels(), o);
  });
}

kws_status kws_recognizer_set_decision_delay(kws_recognizer* recognizer, int64_t delay_ms) {
  return Guard(__func__, [&] {
    kws_recognizer* r = Check(recognizer, "recognizer");
    kws::RecognizeCommandsOptions o = r->decoder->options();
    o.decision_delay_ms = delay_ms;
    r->decoder = std::make_unique<kws::RecognizeCommands>(r->decoder->labels(), o);
  });
}

kws_status kws_recognizer_decision_delay(const kws_recognizer* recognizer, int64_t* out) {
  return Guard(__func__, [&] {
    *Out(out, "out") = Check(recognizer, "recognizer")->decoder->options().decision_delay_ms;
  });
}

kws_status kws_recognizer_set_allow_repeats(kws_recognizer* recognizer, int32_t allow) {
  return Guard(__func__, [&] {
    kws_recognizer* r = Check(recognizer, "recognizer");
    if (allow != 0 && allow != 1)
      Invalid("allow_repeats must be 0 or 1, got " + std::to_string(allow));
    kws::RecognizeCommandsOptions o = r->decoder->options();
    o.allow_repeats = allow == 1;
    r->decoder = std::make_unique<kws::RecognizeCommands>(r->decoder->labels(), o);
  });
}

kws_status kws_recognizer_allow_repeats(const kws_recognizer* recognizer, int32_t* out) {
  return Guard(__func__, [&] {
    *Out(out, "out") = Check(recognizer, "recognizer")->decoder->options().allow_repeats ? 1 : 0;
  });
}

kws_status kws_recognizer_options_get(const kws_recognizer* recognizer,
                                      kws_recognizer_options* out) {
  return Guard(__func__, [&] {
    const kws_recognizer* r = Check(recognizer, "recognizer");
    FromCpp(r->decoder->options(), Out(out, "out"));
  });
}

// ---- MFCC -----------------------------------------------------------------------------

kws_status kws_mfcc_options_default(kws_mfcc_options* options) {
  return Guard(__func__, [&] { FromCpp(kws::MfccOptions(), Out(options, "options")); });
}

kws_status kws_mfcc_create(const kws_mfcc_options* options, kws_mfcc** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    auto h = std::make_unique<kws_mfcc>();
    h->frontend = std::make_unique<kws::MfccFrontend>(ToCpp(options));
    Publish(std::move(h), out);
  });
}

kws_status kws_mfcc_free(kws_mfcc* mfcc) { return Free(__func__, mfcc); }

kws_status kws_mfcc_num_coefficients(const kws_mfcc* mfcc, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_mfcc* m = Check(mfcc, "mfcc");
    *Out(out, "out") = m->frontend->num_coefficients();
  });
}

kws_status kws_mfcc_num_frames(const kws_mfcc* mfcc, size_t num_samples, size_t* out) {
  return Guard(__func__, [&] {
    const kws_mfcc* m = Check(mfcc, "mfcc");
    Out(out, "out");
    if (num_samples > kMaxSamplesPerCall) {
      Invalid(std::to_string(num_samples) + " samples; at most " +
              std::to_string(kMaxSamplesPerCall));
    }
    *out = static_cast<size_t>(m->frontend->options().NumFrames(num_samples));
  });
}

kws_status kws_mfcc_compute(const kws_mfcc* mfcc, const float* samples, size_t num_samples,
                            float* features, size_t num_features, size_t* num_frames) {
  return Guard(__func__, [&] {
    const kws_mfcc* m = Check(mfcc, "mfcc");
    CheckSamples(samples, num_samples, "samples");
    const size_t frames = static_cast<size_t>(m->frontend->options().NumFrames(num_samples));
    const size_t needed = frames * static_cast<size_t>(m->frontend->num_coefficients());
    if (needed > 0 && features == nullptr) Invalid("features is NULL");
    if (num_features < needed) {
      Invalid("features holds " + std::to_string(num_features) + " values; " +
              std::to_string(frames) + " frames need " + std::to_string(needed));
    }
    if (frames > 0) m->frontend->Compute(samples, num_samples, features);
    if (num_frames != nullptr) *num_frames = frames;
  });
}

// ---- WAV ------------------------------------------------------------------------------

kws_status kws_wav_read(const char* path, kws_wav** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    if (path == nullptr) Invalid("path is NULL");
    auto h = std::make_unique<kws_wav>();
    h->wav = kws::ReadWav(path, /*mono=*/true);
    Publish(std::move(h), out);
  });
}

kws_status kws_wav_read_from_memory(const void* data, size_t size, const char* name,
                                    kws_wav** out) {
  return Guard(__func__, [&] {
    Out(out, "out");
    const std::string label = NameOr(name, "<memory>");
    if (data == nullptr && size != 0) Invalid(label + ": data is NULL");
    if (size > kMaxInputBytes) {
      Invalid(label + ": " + std::to_string(size) + " bytes; a WAV in memory is at most 1 GiB");
    }
    static const uint8_t kEmpty = 0;
    const uint8_t* bytes = data ? static_cast<const uint8_t*>(data) : &kEmpty;
    auto h = std::make_unique<kws_wav>();
    h->wav = kws::ReadWavFromMemory(bytes, size, label, /*mono=*/true);
    Publish(std::move(h), out);
  });
}

kws_status kws_wav_free(kws_wav* wav) { return Free(__func__, wav); }

kws_status kws_wav_samples(const kws_wav* wav, const float** samples, size_t* num_samples) {
  return Guard(__func__, [&] {
    const kws_wav* w = Check(wav, "wav");
    Out(samples, "samples");
    Out(num_samples, "num_samples");
    *samples = w->wav.samples.data();
    *num_samples = w->wav.samples.size();
  });
}

kws_status kws_wav_sample_rate(const kws_wav* wav, int32_t* out) {
  return Guard(__func__, [&] {
    const kws_wav* w = Check(wav, "wav");
    *Out(out, "out") = w->wav.sample_rate;
  });
}

}  // extern "C"
