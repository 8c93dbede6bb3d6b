// Reading and writing RIFF/WAVE files.
#ifndef KWS_WAV_IO_H_
#define KWS_WAV_IO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kws {

// Header values beyond these limits are rejected as absurd (a corrupt or hostile file).
constexpr int kMaxWavChannels = 1024;
constexpr int kMaxWavSampleRate = 10000000;  // 10 MHz
// The largest file ReadWav and WavReader open: the biggest data chunk a RIFF header can
// declare (4 GiB) plus 1 MiB for the other chunks. Larger files are refused unread.
constexpr uint64_t kMaxWavFileBytes = (uint64_t{1} << 32) + (uint64_t{1} << 20);

// Decoded audio: interleaved float samples in [-1, 1].
struct WavData {
  std::vector<float> samples;  // frames * channels, interleaved
  int sample_rate = 0;
  int channels = 0;
  int bits_per_sample = 0;  // of the source encoding
  size_t frames() const { return channels > 0 ? samples.size() / channels : 0; }
};

// Reads PCM 8 (unsigned)/16/24/32-bit, IEEE float 32-bit and WAVE_FORMAT_EXTENSIBLE with
// those subformats; unknown chunks are skipped. Integer samples are scaled by 2^(bits-1)
// (8-bit: (x - 128) / 128); float samples are clipped to [-1, 1]. With mono=true,
// several channels are averaged into one (channels == 1 in the result). Throws WavError
// (naming `path` and the problem) for malformed files: bad magic, missing or duplicate
// fmt, missing data, chunks or data past the end of the file, data that is not whole
// frames, zero/absurd channels or rate, unsupported format or bits, block_align that
// does not match, non-finite float samples, files over kMaxWavFileBytes. Throws IoError
// (with the OS's reason) when the file cannot be opened or read, and without opening it
// when it is not a regular file (a directory, a FIFO, a device).
WavData ReadWav(const std::string& path, bool mono = true);

// Same as ReadWav, from bytes in memory; `name` is used in error messages. Never reads
// outside [data, data + size).
WavData ReadWavFromMemory(const uint8_t* data, size_t size, const std::string& name,
                          bool mono = true);

// Reads a file that must be mono (throws WavError naming the channel count otherwise).
WavData ReadWavMono(const std::string& path);

// Reads a WAV file piece by piece, so that memory does not grow with its length. The
// header is parsed and checked when the reader is constructed (the same checks and
// messages as ReadWav); samples are decoded as they are read, and give exactly what
// ReadWav gives for the same frames. A non-finite float sample throws WavError from the
// Read that reaches it. Not thread-safe.
class WavReader {
 public:
  explicit WavReader(const std::string& path);
  ~WavReader();
  WavReader(const WavReader&) = delete;
  WavReader& operator=(const WavReader&) = delete;

  const std::string& path() const;
  int sample_rate() const;
  int channels() const;
  int bits_per_sample() const;
  uint64_t frames() const;       // in the whole file
  uint64_t frames_read() const;  // so far

  // Reads up to max_frames frames into `out` (frames * channels interleaved floats, or
  // one float per frame with mono = true: channels averaged as ReadWav does) and returns
  // how many were read; 0 at the end of the data.
  size_t Read(float* out, size_t max_frames, bool mono = false);
  std::vector<float> Read(size_t max_frames, bool mono = false);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class WavSampleFormat { kPcm16, kFloat32 };

// Writes mono samples (clipped to [-1, 1] for 16-bit) atomically: the data goes to a
// temporary file in the same folder that is renamed over `path` once complete.
// Throws InvalidArgument for a bad rate, non-finite samples or a too-long signal, and
// IoError when the file cannot be written.
void WriteWav(const std::string& path, const float* samples, size_t n, int sample_rate,
              WavSampleFormat format = WavSampleFormat::kPcm16);

// Writes a mono WAV file piece by piece, so that memory does not grow with its length.
// The sample count is announced up front (it is in the header); the data goes to a
// temporary file beside `path` (mode 0666 less the umask) that Commit() renames over
// `path` once all samples are written. Destroyed without Commit(), or after a failure,
// it removes the temporary file and leaves `path` as it was. Throws as WriteWav does.
class WavWriter {
 public:
  WavWriter(const std::string& path, int sample_rate, uint64_t total_samples,
            WavSampleFormat format = WavSampleFormat::kPcm16);
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  void Write(const float* samples, size_t n);
  void Commit();
  uint64_t samples_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Encodes mono samples as a complete WAV file in memory (16-bit PCM: 44-byte header;
// float32: fmt with cbSize = 0 plus a fact chunk, as the format requires).
std::vector<uint8_t> EncodeWav(const float* samples, size_t n, int sample_rate,
                               WavSampleFormat format = WavSampleFormat::kPcm16);

}  // namespace kws

#endif  // KWS_WAV_IO_H_
