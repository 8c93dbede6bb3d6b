// Python bindings of kws/wav_io.h: read_wav / write_wav on numpy arrays.
#include "kws/wav_io.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fs_path.h"
#include "kws/error.h"

namespace py = pybind11;

namespace kws {
namespace bindings {
namespace {

// Hands the decoded samples to numpy without copying: the vector moves to the heap and
// a capsule owning it becomes the array's base.
py::array_t<float> SamplesToArray(std::vector<float>&& samples, size_t frames, int channels,
                                  bool two_dimensional) {
  auto owner = std::make_unique<std::vector<float>>(std::move(samples));
  float* data = owner->data();
  py::capsule base(owner.get(), [](void* p) { delete static_cast<std::vector<float>*>(p); });
  owner.release();  // the capsule owns it now
  if (!two_dimensional) {
    return py::array_t<float>({static_cast<py::ssize_t>(frames)},
                              {static_cast<py::ssize_t>(sizeof(float))}, data, base);
  }
  return py::array_t<float>(
      {static_cast<py::ssize_t>(frames), static_cast<py::ssize_t>(channels)},
      {static_cast<py::ssize_t>(channels * sizeof(float)), static_cast<py::ssize_t>(sizeof(float))},
      data, base);
}

py::tuple ReadWavPy(const FsPath& path, bool mono) {
  WavData wav;
  {
    py::gil_scoped_release release;
    wav = ReadWav(path, mono);
  }
  const size_t frames = wav.frames();
  const int channels = wav.channels;
  const int rate = wav.sample_rate;
  return py::make_tuple(SamplesToArray(std::move(wav.samples), frames, channels, !mono), rate);
}

void WriteWavPy(const FsPath& path,
                py::array_t<float, py::array::c_style | py::array::forcecast> samples,
                int sample_rate, bool float32) {
  const bool column = samples.ndim() == 2 && samples.shape(1) == 1;
  if (samples.ndim() != 1 && !column) {
    std::string shape = "(";
    for (py::ssize_t i = 0; i < samples.ndim(); ++i) {
      shape += (i ? ", " : "") + std::to_string(samples.shape(i));
    }
    shape += samples.ndim() == 1 ? ",)" : ")";
    throw InvalidArgument("write_wav('" + path.value + "'): samples must be mono, shape (n,) or " +
                          "(n, 1); got shape " + shape);
  }
  const float* data = samples.data();
  const size_t n = static_cast<size_t>(samples.shape(0));
  py::gil_scoped_release release;
  WriteWav(path, data, n, sample_rate,
           float32 ? WavSampleFormat::kFloat32 : WavSampleFormat::kPcm16);
}

// What a WAV file holds, read through ReadWav so that exactly the files read_wav accepts
// are described (and every check it makes is made).
struct WavInfo {
  int sample_rate = 0;
  int channels = 0;
  int bits_per_sample = 0;
  size_t frames = 0;
  std::string ToString() const {
    return "WavInfo(sample_rate=" + std::to_string(sample_rate) +
           ", channels=" + std::to_string(channels) +
           ", bits_per_sample=" + std::to_string(bits_per_sample) +
           ", frames=" + std::to_string(frames) + ")";
  }
};

WavInfo WavInfoPy(const FsPath& path) {
  WavInfo info;
  py::gil_scoped_release release;
  const WavData wav = ReadWav(path, /*mono=*/false);
  info.sample_rate = wav.sample_rate;
  info.channels = wav.channels;
  info.bits_per_sample = wav.bits_per_sample;
  info.frames = wav.frames();
  return info;
}

}  // namespace

void BindWavIo(py::module_& m) {
  py::class_<WavReader>(m, "WavReader",
                        "Reads a WAV file piece by piece (memory flat in its length); the "
                        "header is checked when it is opened, as read_wav checks it.")
      .def(py::init([](const FsPath& path) {
             py::gil_scoped_release release;
             return std::make_unique<WavReader>(path);
           }),
           py::arg("path"))
      .def_property_readonly("sample_rate", &WavReader::sample_rate)
      .def_property_readonly("channels", &WavReader::channels)
      .def_property_readonly("bits_per_sample", &WavReader::bits_per_sample)
      .def_property_readonly("frames", &WavReader::frames, "frames in the whole file")
      .def_property_readonly("frames_read", &WavReader::frames_read)
      .def(
          "read",
          [](WavReader& self, int64_t max_frames, bool mono) {
            if (max_frames < 0 || max_frames > (int64_t{1} << 28))
              throw InvalidArgument("WavReader.read: max_frames must be in [0, 2**28], got " +
                                    std::to_string(max_frames));
            std::vector<float> samples;
            {
              py::gil_scoped_release release;
              samples = self.Read(static_cast<size_t>(max_frames), mono);
            }
            const int channels = mono ? 1 : self.channels();
            const size_t frames = samples.size() / channels;
            return SamplesToArray(std::move(samples), frames, channels, !mono);
          },
          py::arg("max_frames"), py::arg("mono") = false,
          "The next frames, at most max_frames: float32 (frames, channels), or (frames,) "
          "with mono=True (channels averaged as read_wav does); empty at the end.");

  m.def("read_wav", &ReadWavPy, py::arg("path"), py::arg("mono") = true,
        R"doc(Reads a RIFF/WAVE file (PCM 8/16/24/32-bit, float32, WAVE_FORMAT_EXTENSIBLE).

Returns (samples, sample_rate): float32 samples in [-1, 1], shape (frames,) with
mono=True (channels averaged), else (frames, channels). Malformed files raise
ValueError naming the file and the problem; unreadable files raise OSError.)doc");
  py::class_<WavInfo>(m, "WavInfo", "What a WAV file holds (see wav_info).")
      .def_readonly("sample_rate", &WavInfo::sample_rate, "Samples per second (Hz).")
      .def_readonly("channels", &WavInfo::channels, "Interleaved channels.")
      .def_readonly("bits_per_sample", &WavInfo::bits_per_sample,
                    "Bits per sample of the encoding (8, 16, 24 or 32).")
      .def_readonly("frames", &WavInfo::frames, "Samples per channel.")
      .def_property_readonly(
          "is_pcm16_mono",
          [](const WavInfo& i) { return i.channels == 1 && i.bits_per_sample == 16; },
          "True for 16-bit PCM mono (16-bit data is always PCM).")
      .def("__repr__", &WavInfo::ToString);
  m.def("wav_info", &WavInfoPy, py::arg("path"),
        R"doc(Sample rate, channels, bits per sample and frames of a WAV file.

The file is checked exactly as read_wav checks it (same errors: ValueError naming the
file and the problem, OSError when it cannot be read); for short clips this costs about
what reading the header alone does.)doc");
  m.def("write_wav", &WriteWavPy, py::arg("path"), py::arg("samples"), py::arg("sample_rate"),
        py::arg("float32") = false,
        R"doc(Writes mono samples as 16-bit PCM (clipped to [-1, 1]) or float32, atomically.)doc");
}

}  // namespace bindings
}  // namespace kws
