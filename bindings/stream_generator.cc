// Python bindings of kws/stream_generator.h (and the ground-truth reader it writes for).
#include "kws/stream_generator.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fs_path.h"
#include "kws/error.h"
#include "kws/ground_truth.h"

namespace py = pybind11;

namespace kws {
namespace bindings {

void BindStreamGenerator(py::module_& m) {
  m.def("sha1_hex", &Sha1Hex, py::arg("data"), "SHA-1 of a string as 40 hex digits.");
  m.def("which_set_native", &WhichSet, py::arg("filename"), py::arg("validation_percentage"),
        py::arg("testing_percentage"),
        "The classic hash split computed natively (the generator's): 'training', "
        "'validation' or 'testing'.");

  m.def(
      "read_ground_truth",
      [](const FsPath& path) {
        GroundTruth gt = ReadGroundTruth(path);
        py::list entries;
        for (const GroundTruthEntry& e : gt.entries)
          entries.append(py::make_tuple(e.label, e.time_ms));
        py::dict d;
        d["entries"] = entries;
        d["malformed_lines"] = gt.malformed_lines;
        d["malformed_line_numbers"] = gt.malformed_line_numbers;
        return d;
      },
      py::arg("path"),
      "Reads a `word, time_ms` ground-truth file: {'entries': [(word, ms)] sorted by time, "
      "'malformed_lines': n, 'malformed_line_numbers': [...]}.");

  m.def(
      "generate_stream",
      [](const FsPath& data_dir, const FsPath& output_wav, const FsPath& output_ground_truth,
         std::vector<std::string> wanted_words, const FsPath& background_dir,
         double duration_seconds, int clip_duration_ms, int word_gap_ms, double unknown_percentage,
         double word_volume, int word_ramp_samples, double background_volume,
         int background_crossover_ms, double validation_percentage, double testing_percentage,
         int sample_rate, uint64_t seed) {
        StreamGeneratorOptions o;
        o.data_dir = data_dir;
        if (!wanted_words.empty()) o.wanted_words = std::move(wanted_words);
        o.background_dir = background_dir;
        o.duration_seconds = duration_seconds;
        o.clip_duration_ms = clip_duration_ms;
        o.word_gap_ms = word_gap_ms;
        o.unknown_percentage = unknown_percentage;
        o.word_volume = word_volume;
        o.word_ramp_samples = word_ramp_samples;
        o.background_volume = background_volume;
        o.background_crossover_ms = background_crossover_ms;
        o.validation_percentage = validation_percentage;
        o.testing_percentage = testing_percentage;
        o.sample_rate = sample_rate;
        o.seed = seed;
        GeneratedStream s;
        {
          py::gil_scoped_release release;
          if (!output_wav.value.empty() || !output_ground_truth.value.empty()) {
            if (output_wav.value.empty() || output_ground_truth.value.empty())
              throw InvalidArgument(
                  "generate_stream: give both output_wav and "
                  "output_ground_truth, or neither");
            s = GenerateStreamToFiles(o, output_wav, output_ground_truth);
          } else {
            s = GenerateStream(o);
          }
        }
        py::list truth;
        for (const GroundTruthEntry& e : s.truth) truth.append(py::make_tuple(e.label, e.time_ms));
        py::dict d;
        if (output_wav.value.empty())
          d["samples"] = py::array_t<float>(s.samples.size(), s.samples.data());
        else
          d["samples"] = py::none();
        d["num_samples"] = s.num_samples;
        d["sample_rate"] = s.sample_rate;
        d["ground_truth"] = truth;
        d["word_offsets"] = s.word_offsets;
        py::list files;
        for (const std::string& f : s.word_files) files.append(PathStr(f));
        d["word_files"] = files;
        d["testing_clips"] = s.testing_clips;
        return d;
      },
      py::arg("data_dir"), py::arg("output_wav") = "", py::arg("output_ground_truth") = "",
      py::arg("wanted_words") = std::vector<std::string>{}, py::arg("background_dir") = "",
      py::arg("duration_seconds") = 600.0, py::arg("clip_duration_ms") = 1000,
      py::arg("word_gap_ms") = 2000, py::arg("unknown_percentage") = 30.0,
      py::arg("word_volume") = 1.0, py::arg("word_ramp_samples") = 500,
      py::arg("background_volume") = 0.1, py::arg("background_crossover_ms") = 500,
      py::arg("validation_percentage") = 10.0, py::arg("testing_percentage") = 10.0,
      py::arg("sample_rate") = 16000, py::arg("seed") = 0,
      "Generates the classic synthetic streaming test (SPEC.md) from the testing partition "
      "of a dataset. With output paths, writes the WAV and ground truth block by block "
      "(memory flat in the duration) and returns samples None; otherwise returns the "
      "samples. The dict also has num_samples, sample_rate, ground_truth [(word, ms)], "
      "word_offsets, word_files, testing_clips.");
}

}  // namespace bindings
}  // namespace kws
