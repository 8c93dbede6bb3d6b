// Python bindings of kws/model.h: kws.Model and kws.Stream.
#include "kws/model.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fs_path.h"
#include "kws/error.h"
#include "ops/op.h"

namespace py = pybind11;

namespace kws {
namespace bindings {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A stream plus a lock: with the GIL released, two Python threads must not run the same
// stream at once (a data race on its buffers). Locked only with the GIL released.
struct PyStream {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Stream> stream;
  std::unique_ptr<std::mutex> mu = std::make_unique<std::mutex>();
};

struct PyModel {
  std::shared_ptr<const Model> model;
};

// Audio must be floating point in [-1, 1]: integer PCM would silently pass as
// +-32768-scale floats, and bool or object arrays mean something else entirely.
FloatArray AudioArray(const py::handle& obj, const char* who) {
  py::array a = py::array::ensure(obj);
  if (!a) throw InvalidArgument(std::string(who) + ": expected a numpy array of samples");
  const char kind = a.dtype().kind();
  if (kind != 'f') {
    std::string name = py::str(a.dtype());
    throw InvalidArgument(std::string(who) +
                          ": samples must be floating point in [-1, 1], got "
                          "dtype " +
                          name +
                          (kind == 'i' || kind == 'u' ? " (divide int16 data by 32768)" : ""));
  }
  return FloatArray::ensure(a);
}

py::array_t<float> Predict(const PyModel& self, const py::object& input) {
  const FloatArray samples = AudioArray(input, "Model.predict");
  const Model& m = *self.model;
  const size_t clip = static_cast<size_t>(m.clip_samples());
  const size_t labels = static_cast<size_t>(m.num_labels());
  if (samples.ndim() == 1) {
    if (static_cast<size_t>(samples.shape(0)) != clip)
      throw InvalidArgument("Model.predict: got " + std::to_string(samples.shape(0)) +
                            " samples, the model takes clips of exactly " + std::to_string(clip));
    py::array_t<float> out(labels);
    const float* in = samples.data();
    float* o = out.mutable_data();
    py::gil_scoped_release release;
    m.Predict(in, clip, o);
    return out;
  }
  if (samples.ndim() != 2 || static_cast<size_t>(samples.shape(1)) != clip)
    throw InvalidArgument("Model.predict: expected a 1-D clip or a 2-D batch of clips of " +
                          std::to_string(clip) + " samples");
  const size_t batch = static_cast<size_t>(samples.shape(0));
  py::array_t<float> out({batch, labels});
  const float* in = samples.data();
  float* o = out.mutable_data();
  py::gil_scoped_release release;
  for (size_t b = 0; b < batch; ++b) m.Predict(in + b * clip, clip, o + b * labels);
  return out;
}

py::array_t<float> PredictFeatures(const PyModel& self, const py::object& input) {
  const FloatArray features = AudioArray(input, "Model.predict_features");
  const Model& m = *self.model;
  const size_t frames = m.num_frames(), width = m.num_coefficients(), labels = m.num_labels();
  const bool single = features.ndim() == 2;
  if (!(features.ndim() == 2 || features.ndim() == 3) ||
      static_cast<size_t>(features.shape(features.ndim() - 2)) != frames ||
      static_cast<size_t>(features.shape(features.ndim() - 1)) != width)
    throw InvalidArgument("Model.predict_features: expected (" + std::to_string(frames) + ", " +
                          std::to_string(width) + ") features or a batch of them");
  const size_t batch = single ? 1 : static_cast<size_t>(features.shape(0));
  py::array_t<float> out =
      single ? py::array_t<float>(labels) : py::array_t<float>({batch, labels});
  const float* in = features.data();
  float* o = out.mutable_data();
  py::gil_scoped_release release;
  for (size_t b = 0; b < batch; ++b) m.PredictFeatures(in + b * frames * width, o + b * labels);
  return out;
}

PyStream CreateStream(const PyModel& self, py::object hop_ms, py::object hop_samples) {
  const Model& m = *self.model;
  int hop = 0;
  if (!hop_samples.is_none() && !hop_ms.is_none())
    throw InvalidArgument("Model.create_stream: give hop_ms or hop_samples, not both");
  const int64_t max_hop = std::numeric_limits<int>::max();
  if (!hop_samples.is_none()) {
    if (!py::isinstance<py::int_>(hop_samples) || py::isinstance<py::bool_>(hop_samples))
      throw InvalidArgument("Model.create_stream: hop_samples must be an integer, got " +
                            std::string(py::str(py::repr(hop_samples))));
    // Compare as Python ints: any size is accepted here and checked against the bound.
    if (hop_samples < py::int_(1) || hop_samples > py::int_(max_hop))
      throw InvalidArgument("Model.create_stream: hop_samples must be in [1, " +
                            std::to_string(max_hop) + "] samples, got " +
                            std::string(py::str(hop_samples)));
    hop = hop_samples.cast<int>();
  } else {
    if (!hop_ms.is_none() && !py::isinstance<py::int_>(hop_ms) &&
        !py::isinstance<py::float_>(hop_ms))
      throw InvalidArgument("Model.create_stream: hop_ms must be a number of milliseconds, got " +
                            std::string(py::str(py::repr(hop_ms))));
    const double ms = hop_ms.is_none() ? 30.0 : hop_ms.cast<double>();
    const double max_ms = static_cast<double>(max_hop) * 1000.0 / m.sample_rate();
    if (!std::isfinite(ms) || ms <= 0 || ms > max_ms)
      throw InvalidArgument(
          "Model.create_stream: hop_ms must be a finite number of "
          "milliseconds in (0, " +
          std::to_string(max_ms) + "], got " + std::string(py::str(py::float_(ms))) + " ms");
    const double samples = ms * m.sample_rate() / 1000.0;
    if (std::fabs(samples - std::round(samples)) > 1e-6)
      throw InvalidArgument("Model.create_stream: hop of " + std::string(py::str(py::float_(ms))) +
                            " ms is " + std::to_string(samples) + " samples at " +
                            std::to_string(m.sample_rate()) + " Hz, not a whole number");
    hop = static_cast<int>(std::lround(samples));
  }
  PyStream s;
  s.model = self.model;
  s.stream = m.CreateStream(hop);
  return s;
}

py::list AcceptWaveform(PyStream& self, const py::object& input) {
  const FloatArray chunk = AudioArray(input, "Stream.accept_waveform");
  if (chunk.ndim() != 1) throw InvalidArgument("Stream.accept_waveform: expected 1-D samples");
  const float* in = chunk.data();
  const size_t n = static_cast<size_t>(chunk.shape(0));
  std::vector<std::pair<int64_t, std::vector<float>>> results;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(*self.mu);
    self.stream->AcceptWaveform(in, n);
    while (self.stream->IsReady()) {
      self.stream->Decode();
      const StreamResult& r = self.stream->GetResult();
      results.emplace_back(r.start_sample, r.scores);
    }
  }
  py::list out;
  for (auto& r : results) {
    py::array_t<float> scores(r.second.size());
    std::copy(r.second.begin(), r.second.end(), scores.mutable_data());
    out.append(py::make_tuple(r.first, scores));
  }
  return out;
}

}  // namespace

void BindModel(py::module_& m) {
  m.def(
      "crc32c",
      [](const py::bytes& data, uint32_t crc) {
        std::string_view view = data;
        return Crc32c(reinterpret_cast<const uint8_t*>(view.data()), view.size(), crc);
      },
      py::arg("data"), py::arg("crc") = 0,
      "CRC-32C of bytes, continuing from `crc` (model.kws's kws_crc32c uses it).");
  m.def(
      "op_types",
      []() {
        py::dict out;
        for (const ops::OpKernel* k : ops::Registry()) {
          const ops::OpSignature sig = k->signature();
          py::dict d;
          d["attrs"] = sig.attrs;
          d["tensors"] = sig.tensors;
          d["optional_tensors"] = sig.optional_tensors;
          out[k->type()] = d;
        }
        return out;
      },
      "The op types this runtime reads from model.kws (its op registry, cpp/src/ops): "
      "{type: {'attrs': [...], 'tensors': [...], 'optional_tensors': [...]}}.");
  py::class_<PyStream>(m, "Stream",
                       "Per-caller streaming state of a Model: feed audio, get scores per hop.")
      .def("accept_waveform", &AcceptWaveform, py::arg("samples"),
           "Feeds float samples in [-1, 1]; returns a list of (start_sample, scores) for "
           "every window completed by this chunk (windows start at 0, then every hop).")
      .def(
          "input_finished",
          [](PyStream& s) {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(*s.mu);
            s.stream->InputFinished();
          },
          "Marks the end of the audio.")
      .def(
          "reset",
          [](PyStream& s) {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(*s.mu);
            s.stream->Reset();
          },
          "Back to a fresh stream.")
      .def_property_readonly("hop_samples",
                             [](const PyStream& s) { return s.stream->hop_samples(); })
      .def_property_readonly(
          "last_decode_flops",
          [](const PyStream& s) {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(*s.mu);
            return s.stream->last_decode_flops();
          },
          "Model FLOPs spent by the last window (cached state included).");

  py::class_<PyModel>(m, "Model",
                      "An immutable model loaded from a model.kws file (share it freely).")
      .def_static(
          "load",
          [](const FsPath& path) {
            py::gil_scoped_release release;
            return PyModel{Model::Load(path)};
          },
          py::arg("path"), "Loads and validates a model.kws file.")
      .def_static(
          "load_bytes",
          [](const py::bytes& data, const std::string& name) {
            std::string s = data;
            py::gil_scoped_release release;
            return PyModel{
                Model::LoadFromMemory(reinterpret_cast<const uint8_t*>(s.data()), s.size(), name)};
          },
          py::arg("data"), py::arg("name") = "<bytes>",
          "Loads and validates a model.kws image held in memory.")
      .def_static(
          "load_bundled",
          [](const std::string& name, const std::string& models_dir) {
            py::gil_scoped_release release;
            return PyModel{Model::LoadBundled(name, models_dir)};
          },
          py::arg("name"), py::arg("models_dir"),
          "Loads the bundled model `name` (<models_dir>/<name>.kws; $KWS_MODELS_DIR "
          "overrides the folder).")
      .def_static("bundled_model_names", &Model::BundledModelNames, py::arg("models_dir"),
                  "Names of the *.kws models in the bundled models folder, sorted.")
      .def_property_readonly("labels", [](const PyModel& s) { return s.model->labels(); })
      .def_property_readonly(
          "name", [](const PyModel& s) { return s.model->name(); },
          "The model's name from its metadata ('' when it has none).")
      .def_property_readonly(
          "version", [](const PyModel& s) { return s.model->version(); },
          "The model's version from its metadata ('' when it has none).")
      .def_property_readonly(
          "provenance", [](const PyModel& s) { return s.model->provenance(); },
          "How the model was made, from its metadata ('' when absent).")
      .def_property_readonly(
          "num_parameters", [](const PyModel& s) { return s.model->num_parameters(); },
          "Floats stored in the file's tensors.")
      .def_property_readonly("architecture",
                             [](const PyModel& s) { return s.model->architecture(); })
      .def_property_readonly("sample_rate", [](const PyModel& s) { return s.model->sample_rate(); })
      .def_property_readonly("clip_samples",
                             [](const PyModel& s) { return s.model->clip_samples(); })
      .def_property_readonly("num_frames", [](const PyModel& s) { return s.model->num_frames(); })
      .def_property_readonly("num_coefficients",
                             [](const PyModel& s) { return s.model->num_coefficients(); })
      .def_property_readonly("frame_stride_samples",
                             [](const PyModel& s) { return s.model->frame_stride_samples(); })
      .def_property_readonly("flops_per_window",
                             [](const PyModel& s) { return s.model->flops_per_window(); })
      .def_property_readonly(
          "whole_clip_memory_bytes",
          [](const PyModel& s) { return s.model->whole_clip_memory_bytes(); },
          "Bytes of layer outputs one whole-clip inference holds (outputs never needed at "
          "the same time share memory; weights and scratch excluded).")
      .def("summary", [](const PyModel& s) { return s.model->Summary(); })
      .def("predict", &Predict, py::arg("samples"),
           "Softmax scores of one clip (1-D, clip_samples long) or a batch (2-D).")
      .def("predict_features", &PredictFeatures, py::arg("features"),
           "Softmax scores from MFCC features (frames x coefficients, or a batch).")
      .def("create_stream", &CreateStream, py::arg("hop_ms") = py::none(),
           py::arg("hop_samples") = py::none(),
           "A new Stream emitting scores every hop (default 30 ms); the hop must be a "
           "whole number of feature frames.")
      .def("__repr__", [](const PyModel& s) {
        const std::string name = s.model->name().empty() ? "" : s.model->name() + " ";
        return "<kws.Model " + name + "'" + s.model->architecture() + "' " +
               std::to_string(s.model->num_labels()) + " labels>";
      });
}

}  // namespace bindings
}  // namespace kws
