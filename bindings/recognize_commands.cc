// Python bindings of kws/recognize_commands.h.
#include "kws/recognize_commands.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kws/error.h"
#include "options.h"

namespace py = pybind11;

namespace kws {
namespace bindings {

void BindRecognizeCommands(py::module_& m) {
  py::class_<RecognizeResult>(m, "RecognizeResult", "What RecognizeCommands says after one result.")
      .def(py::init([](std::string label, float score, bool is_new, int64_t time_ms) {
             RecognizeResult r;
             r.label = std::move(label);
             r.score = score;
             r.is_new = is_new;
             r.time_ms = time_ms;
             return r;
           }),
           py::arg("label"), py::arg("score"), py::arg("is_new"), py::arg("time_ms"))
      .def_readonly("label", &RecognizeResult::label, "best averaged label")
      .def_readonly("score", &RecognizeResult::score, "its averaged score (0 if undecided)")
      .def_readonly("is_new", &RecognizeResult::is_new, "whether a new command fired")
      .def_readonly("time_ms", &RecognizeResult::time_ms,
                    "time of the result; of a new command, when its averaged score passed the "
                    "threshold")
      .def("__repr__", [](const RecognizeResult& r) {
        return "RecognizeResult(label='" + r.label + "', score=" + std::to_string(r.score) +
               ", is_new=" + (r.is_new ? "True" : "False") +
               ", time_ms=" + std::to_string(r.time_ms) + ")";
      });

  const RecognizeCommandsOptions d;  // the C++ defaults, shown and used by Python
  py::class_<RecognizeCommandsOptions>(
      m, "RecognizeCommandsOptions",
      "Decoder options; defaults are the classic RecognizeCommands class's. Checked by "
      "validate() and when a decoder is made.")
      .def(py::init([](int64_t average_window_duration_ms, float detection_threshold,
                       int64_t suppression_ms, int minimum_count, int64_t decision_delay_ms,
                       bool allow_repeats) {
             RecognizeCommandsOptions o;
             o.average_window_duration_ms = average_window_duration_ms;
             o.detection_threshold = detection_threshold;
             o.suppression_ms = suppression_ms;
             o.minimum_count = minimum_count;
             o.decision_delay_ms = decision_delay_ms;
             o.allow_repeats = allow_repeats;
             return o;
           }),
           py::arg("average_window_duration_ms") = d.average_window_duration_ms,
           py::arg("detection_threshold") = ShortestFloat(d.detection_threshold),
           py::arg("suppression_ms") = d.suppression_ms, py::arg("minimum_count") = d.minimum_count,
           py::arg("decision_delay_ms") = d.decision_delay_ms,
           py::arg("allow_repeats") = d.allow_repeats)
      .def_readwrite("average_window_duration_ms",
                     &RecognizeCommandsOptions::average_window_duration_ms,
                     "scores are averaged over this window (ms)")
      .def_property(
          "detection_threshold",
          [](const RecognizeCommandsOptions& o) { return ShortestFloat(o.detection_threshold); },
          [](RecognizeCommandsOptions& o, float v) { o.detection_threshold = v; },
          "the averaged score must exceed this to detect a command")
      .def_readwrite("suppression_ms", &RecognizeCommandsOptions::suppression_ms,
                     "no new command this soon after the last one (ms)")
      .def_readwrite("minimum_count", &RecognizeCommandsOptions::minimum_count,
                     "fewer results in the averaging window: no decision")
      .def_readwrite("decision_delay_ms", &RecognizeCommandsOptions::decision_delay_ms,
                     "0: report a command when its averaged score passes the threshold; else "
                     "wait this many ms and report the label whose averaged score peaked "
                     "highest meanwhile, with the time the threshold was passed")
      .def_readwrite("allow_repeats", &RecognizeCommandsOptions::allow_repeats,
                     "False: a label is reported again only after another label (or silence) "
                     "has been (the classic rule); True: the same label may be reported again "
                     "once suppression_ms has passed since it last was")
      .def("validate", &RecognizeCommandsOptions::Validate,
           "Raises ValueError naming the first bad field.")
      .def("__repr__", &RecognizeCommandsOptions::ToString);

  py::class_<RecognizeCommands>(
      m, "RecognizeCommands",
      "Streaming decoder: averages scores over a window and reports new commands above a "
      "threshold, with suppression (SPEC.md). Defaults are the classic class's.")
      .def(py::init([](std::vector<std::string> labels, const py::object& options,
                       const py::kwargs& overrides) {
             return std::make_unique<RecognizeCommands>(
                 std::move(labels), OptionsWithOverrides<RecognizeCommandsOptions>(
                                        options, overrides, "RecognizeCommands"));
           }),
           py::arg("labels"), py::arg("options") = py::none(),
           "A decoder for `labels` (model output order). `options` is a "
           "RecognizeCommandsOptions (default: its defaults); keywords set single fields, "
           "e.g. RecognizeCommands(labels, detection_threshold=0.5).")
      .def_property_readonly("options", &RecognizeCommands::options, "A copy of the options.")
      .def(
          "process",
          [](RecognizeCommands& self,
             py::array_t<float, py::array::c_style | py::array::forcecast> scores,
             int64_t time_ms) {
            if (scores.ndim() != 1)
              throw InvalidArgument("RecognizeCommands.process: scores must be 1-D, got " +
                                    std::to_string(scores.ndim()) + " dimensions");
            return self.Process(scores.data(), static_cast<size_t>(scores.shape(0)), time_ms);
          },
          py::arg("scores"), py::arg("time_ms"),
          "Feeds one window's scores at time_ms; returns a RecognizeResult.")
      .def("finish", &RecognizeCommands::Finish,
           "End of input: with decision_delay_ms, the command still being decided (is_new "
           "True), else a result with is_new False.")
      .def("reset", &RecognizeCommands::Reset, "Back to the start state.")
      .def_property_readonly("labels", &RecognizeCommands::labels)
      .def_property_readonly("num_labels", &RecognizeCommands::num_labels)
      .def_property_readonly("queued", &RecognizeCommands::queued,
                             "results currently in the averaging window")
      .def_property_readonly(
          "average_window_duration_ms",
          [](const RecognizeCommands& s) { return s.options().average_window_duration_ms; })
      .def_property_readonly(
          "detection_threshold",
          [](const RecognizeCommands& s) { return ShortestFloat(s.options().detection_threshold); })
      .def_property_readonly("suppression_ms",
                             [](const RecognizeCommands& s) { return s.options().suppression_ms; })
      .def_property_readonly("minimum_count",
                             [](const RecognizeCommands& s) { return s.options().minimum_count; })
      .def_property_readonly(
          "decision_delay_ms",
          [](const RecognizeCommands& s) { return s.options().decision_delay_ms; })
      .def_property_readonly("allow_repeats",
                             [](const RecognizeCommands& s) { return s.options().allow_repeats; });
}

}  // namespace bindings
}  // namespace kws
