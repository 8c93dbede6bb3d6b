// Python bindings of kws/mfcc.h: kws.mfcc, kws.MfccOptions, kws.MfccFrontend,
// kws.MfccStream. numpy in and out; the GIL is released while C++ computes.
#include "kws/mfcc.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "kws/error.h"

namespace py = pybind11;

namespace kws {
namespace bindings {

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Checks that `samples` is one-dimensional; `what` names the argument in the message.
void RequireMono(const FloatArray& samples, const char* what) {
  if (samples.ndim() != 1) {
    throw InvalidArgument(std::string(what) + " must be a 1-D array of samples, got " +
                          std::to_string(samples.ndim()) + " dimensions");
  }
}

bool SameOptions(const MfccOptions& a, const MfccOptions& b) {
  return a.sample_rate == b.sample_rate && a.window_size_ms == b.window_size_ms &&
         a.window_stride_ms == b.window_stride_ms &&
         a.filterbank_channel_count == b.filterbank_channel_count &&
         a.lower_frequency_limit == b.lower_frequency_limit &&
         a.upper_frequency_limit == b.upper_frequency_limit &&
         a.dct_coefficient_count == b.dct_coefficient_count &&
         a.average_window_width == b.average_window_width;
}

// kws.mfcc builds its tables once per distinct option set (a few recent ones are kept),
// so calling it clip by clip costs only the computation.
std::shared_ptr<const MfccFrontend> CachedFrontend(const MfccOptions& opts) {
  static std::mutex mu;
  static std::vector<std::shared_ptr<const MfccFrontend>> cache;
  constexpr size_t kCacheSize = 8;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < cache.size(); ++i) {
      if (SameOptions(cache[i]->options(), opts)) {
        auto hit = cache[i];
        std::rotate(cache.begin(), cache.begin() + i, cache.begin() + i + 1);
        return hit;
      }
    }
  }
  auto made = std::make_shared<const MfccFrontend>(opts);  // validates; may throw
  std::lock_guard<std::mutex> lock(mu);
  cache.insert(cache.begin(), made);
  if (cache.size() > kCacheSize) cache.pop_back();
  return made;
}

py::array_t<float> ComputeArray(const MfccFrontend& frontend, const FloatArray& samples) {
  RequireMono(samples, "samples");
  const size_t n = static_cast<size_t>(samples.shape(0));
  const py::ssize_t frames = frontend.options().NumFrames(n);
  const py::ssize_t coefficients = frontend.num_coefficients();
  py::array_t<float> out({frames, coefficients});
  const float* in = samples.data();
  float* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    frontend.Compute(in, n, dst);
  }
  return out;
}

// A stream plus a lock: with the GIL released, two Python threads must not run the
// same stream at once.
struct PyMfccStream {
  explicit PyMfccStream(std::shared_ptr<const MfccFrontend> frontend)
      : stream(std::move(frontend)) {}
  MfccStream stream;
  std::mutex mu;
};

}  // namespace

void BindMfcc(py::module_& m) {
  const MfccOptions d;  // the C++ defaults, shown and used by Python
  py::class_<MfccOptions>(m, "MfccOptions",
                          "Options of the MFCC front end (the classic speech-commands "
                          "defaults). Frequency limits are used as float32, like TensorFlow. "
                          "average_window_width > 0 selects the averaged power spectrogram "
                          "instead of the MFCC.")
      .def(py::init([](int sample_rate, double window_size_ms, double window_stride_ms,
                       int filterbank_channel_count, double lower_frequency_limit,
                       double upper_frequency_limit, int dct_coefficient_count,
                       int average_window_width) {
             MfccOptions o;
             o.sample_rate = sample_rate;
             o.window_size_ms = window_size_ms;
             o.window_stride_ms = window_stride_ms;
             o.filterbank_channel_count = filterbank_channel_count;
             o.lower_frequency_limit = lower_frequency_limit;
             o.upper_frequency_limit = upper_frequency_limit;
             o.dct_coefficient_count = dct_coefficient_count;
             o.average_window_width = average_window_width;
             return o;
           }),
           py::arg("sample_rate") = d.sample_rate, py::arg("window_size_ms") = d.window_size_ms,
           py::arg("window_stride_ms") = d.window_stride_ms,
           py::arg("filterbank_channel_count") = d.filterbank_channel_count,
           py::arg("lower_frequency_limit") = d.lower_frequency_limit,
           py::arg("upper_frequency_limit") = d.upper_frequency_limit,
           py::arg("dct_coefficient_count") = d.dct_coefficient_count,
           py::arg("average_window_width") = d.average_window_width,
           "Plain options; nothing is checked until validate() or a front end is built.")
      .def_readwrite("sample_rate", &MfccOptions::sample_rate, "Samples per second (Hz).")
      .def_readwrite("window_size_ms", &MfccOptions::window_size_ms, "Analysis window (ms).")
      .def_readwrite("window_stride_ms", &MfccOptions::window_stride_ms,
                     "Hop between windows (ms).")
      .def_readwrite("filterbank_channel_count", &MfccOptions::filterbank_channel_count,
                     "Mel filterbank channels.")
      .def_readwrite("lower_frequency_limit", &MfccOptions::lower_frequency_limit,
                     "Lowest filterbank frequency (Hz).")
      .def_readwrite("upper_frequency_limit", &MfccOptions::upper_frequency_limit,
                     "Highest filterbank frequency (Hz), at most sample_rate / 2.")
      .def_readwrite("dct_coefficient_count", &MfccOptions::dct_coefficient_count,
                     "Cepstral coefficients kept per frame (feature_bin_count).")
      .def_readwrite("average_window_width", &MfccOptions::average_window_width,
                     "0: the MFCC. > 0: each frame is instead the power spectrogram "
                     "(tf.raw_ops.AudioSpectrogram, magnitude_squared) averaged over groups of "
                     "this many bins, as tf.nn.pool(AVG, SAME): ceil(bins / width) values "
                     "(the speech-commands 'average' preprocessing; 1: the raw power "
                     "spectrogram). The filterbank, limits and DCT count are then unused.")
      .def_property_readonly("window_size_samples", &MfccOptions::window_size_samples,
                             "Window length in samples (truncated).")
      .def_property_readonly("window_stride_samples", &MfccOptions::window_stride_samples,
                             "Hop in samples (truncated).")
      .def_property_readonly("fft_length", &MfccOptions::fft_length,
                             "FFT length: the next power of two >= the window.")
      .def_property_readonly("spectrogram_bins", &MfccOptions::spectrogram_bins,
                             "Power spectrogram bins: fft_length // 2 + 1.")
      .def_property_readonly("num_features", &MfccOptions::num_features,
                             "Features per frame: dct_coefficient_count, or "
                             "ceil(spectrogram_bins / average_window_width).")
      .def("num_frames", &MfccOptions::NumFrames, py::arg("num_samples"),
           "Frames produced by a signal of num_samples samples.")
      .def("validate", &MfccOptions::Validate, "Raises ValueError naming the first bad field.")
      .def("__repr__", &MfccOptions::ToString);

  py::class_<MfccFrontend, std::shared_ptr<MfccFrontend>>(
      m, "MfccFrontend",
      "Whole-signal MFCC computation matching tf.raw_ops.AudioSpectrogram + Mfcc (or, with "
      "options.average_window_width > 0, the averaged power spectrogram). Immutable and safe "
      "to share between threads.")
      .def(py::init([](const MfccOptions& opts) { return std::make_shared<MfccFrontend>(opts); }),
           py::arg("options"), "Validates the options (ValueError) and builds the tables.")
      .def_property_readonly("options", &MfccFrontend::options, "A copy of the options.")
      .def_property_readonly("num_coefficients", &MfccFrontend::num_coefficients,
                             "Features per frame (options.num_features).")
      .def(
          "compute",
          [](const MfccFrontend& f, const FloatArray& samples) { return ComputeArray(f, samples); },
          py::arg("samples"),
          "MFCC of 1-D float samples in [-1, 1]: float32 array (frames, coefficients).");

  py::class_<PyMfccStream>(m, "MfccStream",
                           "Streaming MFCC: feed chunks of any size, pop frames as they are "
                           "ready. Frames are identical whatever the chunking.")
      .def(py::init([](const MfccOptions& opts) {
             return std::make_unique<PyMfccStream>(std::make_shared<const MfccFrontend>(opts));
           }),
           py::arg("options") = MfccOptions(), "A fresh stream with its own front end.")
      .def(py::init([](std::shared_ptr<MfccFrontend> frontend) {
             return std::make_unique<PyMfccStream>(std::move(frontend));
           }),
           py::arg("frontend"), "A fresh stream sharing an existing front end.")
      .def(
          "accept_waveform",
          [](PyMfccStream& s, const FloatArray& chunk) {
            RequireMono(chunk, "chunk");
            const float* data = chunk.data();
            const size_t n = static_cast<size_t>(chunk.shape(0));
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mu);
            s.stream.AcceptWaveform(data, n);
          },
          py::arg("chunk"), "Appends 1-D float samples and computes the frames they complete.")
      .def(
          "pop_frames",
          [](PyMfccStream& s, std::optional<py::ssize_t> max_frames) {
            if (max_frames && *max_frames < 0) {
              throw InvalidArgument("max_frames must be >= 0, got " + std::to_string(*max_frames));
            }
            const py::ssize_t coefficients = s.stream.frontend().num_coefficients();
            std::lock_guard<std::mutex> lock(s.mu);
            py::ssize_t frames = static_cast<py::ssize_t>(s.stream.NumFramesReady());
            if (max_frames) frames = std::min(frames, *max_frames);
            py::array_t<float> out({frames, coefficients});
            s.stream.PopFrames(out.mutable_data(), static_cast<size_t>(frames));
            return out;
          },
          py::arg("max_frames") = py::none(),
          "Removes and returns up to max_frames (default: all) ready frames as float32 "
          "(n, coefficients).")
      .def_property_readonly(
          "num_frames_ready",
          [](PyMfccStream& s) {
            std::lock_guard<std::mutex> lock(s.mu);
            return s.stream.NumFramesReady();
          },
          "Frames waiting in pop_frames.")
      .def_property_readonly(
          "frames_emitted",
          [](PyMfccStream& s) {
            std::lock_guard<std::mutex> lock(s.mu);
            return s.stream.frames_emitted();
          },
          "Frames popped since the start or the last reset().")
      .def_property_readonly(
          "num_coefficients",
          [](PyMfccStream& s) { return s.stream.frontend().num_coefficients(); },
          "Coefficients per frame.")
      .def_property_readonly(
          "options", [](PyMfccStream& s) { return s.stream.frontend().options(); },
          "A copy of the front end's options.")
      .def(
          "reset",
          [](PyMfccStream& s) {
            std::lock_guard<std::mutex> lock(s.mu);
            s.stream.Reset();
          },
          "Drops buffered samples and frames: behaves as a new stream.");

  m.def(
      "mfcc",
      [](const FloatArray& samples, int sample_rate, double window_size_ms, double window_stride_ms,
         int feature_bin_count, int filterbank_channel_count, double lower_frequency_limit,
         double upper_frequency_limit) {
        MfccOptions o;
        o.sample_rate = sample_rate;
        o.window_size_ms = window_size_ms;
        o.window_stride_ms = window_stride_ms;
        o.dct_coefficient_count = feature_bin_count;
        o.filterbank_channel_count = filterbank_channel_count;
        o.lower_frequency_limit = lower_frequency_limit;
        o.upper_frequency_limit = upper_frequency_limit;
        return ComputeArray(*CachedFrontend(o), samples);
      },
      py::arg("samples"), py::arg("sample_rate") = d.sample_rate,
      py::arg("window_size_ms") = d.window_size_ms,
      py::arg("window_stride_ms") = d.window_stride_ms,
      py::arg("feature_bin_count") = d.dct_coefficient_count,
      py::arg("filterbank_channel_count") = d.filterbank_channel_count,
      py::arg("lower_frequency_limit") = d.lower_frequency_limit,
      py::arg("upper_frequency_limit") = d.upper_frequency_limit,
      "MFCC of 1-D float samples in [-1, 1] as float32 (frames, feature_bin_count), equal "
      "to tf.raw_ops.AudioSpectrogram(magnitude_squared=True) + tf.raw_ops.Mfcc.");
}

}  // namespace bindings
}  // namespace kws
