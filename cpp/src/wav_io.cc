#include "kws/wav_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "kws/error.h"
#include "regular_file.h"

namespace kws {
namespace {

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatFloat = 3;
constexpr uint16_t kFormatExtensible = 0xFFFE;
// The 14 bytes after the format code in a KSDATAFORMAT_SUBTYPE_* GUID
// (xxxxxxxx-0000-0010-8000-00aa00389b71) as stored in the file.
constexpr uint8_t kSubformatGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                            0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void StoreU16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v & 0xFF));
  out->push_back(static_cast<uint8_t>(v >> 8));
}

void StoreU32(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>((v >> (8 * i)) & 0xFF));
}

void StoreTag(std::vector<uint8_t>* out, const char* tag) { out->insert(out->end(), tag, tag + 4); }

// A chunk id as printable text for messages ('data', 'LIST', '\x00\x01ab').
std::string TagText(const uint8_t* p) {
  std::string s = "'";
  for (int i = 0; i < 4; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '\'' && p[i] != '\\') {
      s += static_cast<char>(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", p[i]);
      s += buf;
    }
  }
  return s + "'";
}

bool TagIs(const uint8_t* p, const char* tag) { return std::memcmp(p, tag, 4) == 0; }

const char* KnownFormatName(uint16_t code) {
  switch (code) {
    case 0x0002:
      return " (Microsoft ADPCM)";
    case 0x0006:
      return " (A-law)";
    case 0x0007:
      return " (mu-law)";
    case 0x0011:
      return " (IMA ADPCM)";
    case 0x0031:
      return " (GSM 6.10)";
    case 0x0050:
      return " (MPEG)";
    case 0x0055:
      return " (MPEG layer 3)";
    default:
      return "";
  }
}

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", v);
  return buf;
}

[[noreturn]] void Fail(const std::string& name, const std::string& problem) {
  throw WavError(name + ": " + problem);
}

// What the fmt chunk says, after validation.
struct Format {
  uint16_t code = 0;  // kFormatPcm or kFormatFloat (extensible resolved to its subformat)
  int channels = 0;
  int sample_rate = 0;
  int bits = 0;
  int block_align = 0;
};

Format ParseFmt(const uint8_t* p, uint32_t size, const std::string& name) {
  if (size < 16) {
    Fail(name, "fmt chunk is " + std::to_string(size) + " bytes, at least 16 are needed");
  }
  const uint16_t tag = LoadU16(p);
  const uint32_t channels = LoadU16(p + 2);
  const uint32_t rate = LoadU32(p + 4);
  // p + 8: byte rate. It is redundant (rate * block_align) and often wrong in files
  // written by streaming tools, so it is not checked.
  const uint32_t block_align = LoadU16(p + 12);
  const uint32_t bits = LoadU16(p + 14);

  if (channels == 0) Fail(name, "fmt chunk declares zero channels");
  if (channels > static_cast<uint32_t>(kMaxWavChannels)) {
    Fail(name, "fmt chunk declares " + std::to_string(channels) +
                   " channels, more than the supported maximum of " +
                   std::to_string(kMaxWavChannels));
  }
  if (rate == 0) Fail(name, "fmt chunk declares a sample rate of zero");
  if (rate > static_cast<uint32_t>(kMaxWavSampleRate)) {
    Fail(name, "fmt chunk declares an absurd sample rate of " + std::to_string(rate) +
                   " Hz (maximum " + std::to_string(kMaxWavSampleRate) + ")");
  }

  uint16_t code = tag;
  if (tag == kFormatExtensible) {
    if (size < 40) {
      Fail(name,
           "WAVE_FORMAT_EXTENSIBLE fmt chunk is " + std::to_string(size) + " bytes, 40 are needed");
    }
    const uint16_t extension_size = LoadU16(p + 16);
    if (extension_size < 22) {
      Fail(name, "WAVE_FORMAT_EXTENSIBLE fmt chunk has an extension of " +
                     std::to_string(extension_size) + " bytes, 22 are needed");
    }
    const uint16_t valid_bits = LoadU16(p + 18);
    if (valid_bits > bits) {
      Fail(name, "WAVE_FORMAT_EXTENSIBLE declares " + std::to_string(valid_bits) +
                     " valid bits in a " + std::to_string(bits) + "-bit container");
    }
    // Samples are left-justified in their container, so scaling by the container size
    // is right whatever valid_bits says.
    const uint8_t* guid = p + 24;
    code = LoadU16(guid);
    if (std::memcmp(guid + 2, kSubformatGuidTail, sizeof(kSubformatGuidTail)) != 0 ||
        (code != kFormatPcm && code != kFormatFloat)) {
      Fail(name, "unsupported WAVE_FORMAT_EXTENSIBLE subformat " + Hex16(code) +
                     KnownFormatName(code) + "; kws reads PCM and IEEE float subformats");
    }
  } else if (tag != kFormatPcm && tag != kFormatFloat) {
    Fail(name, "unsupported format code " + Hex16(tag) + KnownFormatName(tag) +
                   "; kws reads PCM (0x0001), IEEE float (0x0003) and "
                   "WAVE_FORMAT_EXTENSIBLE (0xFFFE) with those");
  }

  if (code == kFormatPcm && bits != 8 && bits != 16 && bits != 24 && bits != 32) {
    Fail(name, "unsupported bits per sample " + std::to_string(bits) +
                   " for PCM (supported: 8, 16, 24, 32)");
  }
  if (code == kFormatFloat && bits != 32) {
    Fail(name,
         "unsupported bits per sample " + std::to_string(bits) + " for IEEE float (supported: 32)");
  }
  const uint32_t expected_align = channels * (bits / 8);
  if (block_align != expected_align) {
    Fail(name, "block_align " + std::to_string(block_align) +
                   " does not match channels * bytes per sample = " + std::to_string(channels) +
                   " * " + std::to_string(bits / 8) + " = " + std::to_string(expected_align));
  }

  Format f;
  f.code = code;
  f.channels = static_cast<int>(channels);
  f.sample_rate = static_cast<int>(rate);
  f.bits = static_cast<int>(bits);
  f.block_align = static_cast<int>(block_align);
  return f;
}

// Converts `count` little-endian samples of the given format to floats.
// `first` is the index of p's first sample in the file (for messages).
void DecodeSamples(const uint8_t* p, size_t count, const Format& f, float* out,
                   const std::string& name, uint64_t first = 0) {
  if (f.code == kFormatFloat) {
    for (size_t i = 0; i < count; ++i) {
      const uint32_t bits = LoadU32(p + 4 * i);
      float v;
      std::memcpy(&v, &bits, sizeof(v));
      if (!std::isfinite(v)) {
        Fail(name, "sample " + std::to_string((first + i) / f.channels) + " of channel " +
                       std::to_string((first + i) % f.channels) + " is " +
                       (std::isnan(v) ? "NaN" : "infinite"));
      }
      out[i] = std::clamp(v, -1.0f, 1.0f);
    }
    return;
  }
  switch (f.bits) {
    case 8:
      for (size_t i = 0; i < count; ++i) out[i] = (static_cast<int>(p[i]) - 128) / 128.0f;
      break;
    case 16:
      for (size_t i = 0; i < count; ++i) {
        out[i] = static_cast<int16_t>(LoadU16(p + 2 * i)) / 32768.0f;
      }
      break;
    case 24:
      for (size_t i = 0; i < count; ++i) {
        const uint8_t* q = p + 3 * i;
        const int32_t u = q[0] | (q[1] << 8) | (q[2] << 16);
        const int32_t v = (u & 0x800000) ? u - 0x1000000 : u;
        out[i] = v / 8388608.0f;  // exact: |v| < 2^24 fits a float
      }
      break;
    case 32:
      for (size_t i = 0; i < count; ++i) {
        const int64_t u = LoadU32(p + 4 * i);
        const int64_t v = u >= (int64_t{1} << 31) ? u - (int64_t{1} << 32) : u;
        out[i] = static_cast<float>(static_cast<double>(v) / 2147483648.0);
      }
      break;
    default:  // ParseFmt admits nothing else
      Fail(name, "internal error: unexpected bits " + std::to_string(f.bits));
  }
}

// Where the samples are: the validated format and the data chunk's place in the file.
struct Layout {
  Format fmt;
  uint64_t data_offset = 0;
  uint64_t data_size = 0;
};

// Walks the chunks of a file of `size` bytes; read(offset, out, n) gives bytes of it
// (always within [0, size)). Only the headers and the fmt chunk are read.
template <typename ReadFn>
Layout ParseLayout(uint64_t size, ReadFn read, const std::string& name) {
  if (size < 12) {
    Fail(name,
         "file is " + std::to_string(size) + " bytes, too short for a RIFF/WAVE header (12 bytes)");
  }
  uint8_t riff[12];
  read(0, riff, 12);
  if (!TagIs(riff, "RIFF")) {
    Fail(name, "not a RIFF file (starts with " + TagText(riff) + ", expected 'RIFF')");
  }
  if (!TagIs(riff + 8, "WAVE")) {
    Fail(name, "RIFF file is not WAVE (form type " + TagText(riff + 8) + ", expected 'WAVE')");
  }
  // The RIFF size field is not trusted: many writers leave it stale. Chunks are walked
  // within the bytes actually present, and every chunk size is checked against them.
  bool have_fmt = false;
  bool have_data = false;
  Layout layout;
  uint64_t pos = 12;
  while (size - pos >= 8 && !(have_fmt && have_data)) {
    uint8_t header[8];
    read(pos, header, 8);
    const uint64_t chunk_size = LoadU32(header + 4);
    const uint64_t body = pos + 8;
    const uint64_t available = size - body;
    if (TagIs(header, "data")) {
      if (have_data) Fail(name, "more than one data chunk");
      if (chunk_size > available) {
        Fail(name, "truncated: data chunk declares " + std::to_string(chunk_size) +
                       " bytes but only " + std::to_string(available) +
                       " bytes follow it in the file");
      }
      have_data = true;
      layout.data_offset = body;
      layout.data_size = chunk_size;
    } else {
      if (chunk_size > available) {
        Fail(name, "chunk " + TagText(header) + " at offset " + std::to_string(pos) + " declares " +
                       std::to_string(chunk_size) + " bytes but only " + std::to_string(available) +
                       " remain: its size points past the end of the file");
      }
      if (TagIs(header, "fmt ")) {
        if (have_fmt) Fail(name, "more than one fmt chunk");
        // ParseFmt reads at most 40 bytes (and checks chunk_size before reading more
        // than 16).
        uint8_t body_bytes[40] = {0};
        read(body, body_bytes, static_cast<size_t>(std::min<uint64_t>(chunk_size, 40)));
        layout.fmt = ParseFmt(body_bytes, static_cast<uint32_t>(chunk_size), name);
        have_fmt = true;
      }
    }
    // Chunks are padded to an even size; a missing final pad byte just ends the walk.
    const uint64_t next = body + chunk_size + (chunk_size & 1);
    if (next >= size) break;
    pos = next;
  }
  if (!have_fmt) Fail(name, "missing fmt chunk");
  if (!have_data) Fail(name, "missing data chunk");
  if (layout.data_size % layout.fmt.block_align != 0) {
    Fail(name, "data chunk of " + std::to_string(layout.data_size) +
                   " bytes is not a whole number of " + std::to_string(layout.fmt.block_align) +
                   "-byte frames");
  }
  return layout;
}

// Averages `frames` interleaved frames of `channels` into out[0 .. frames) (in place
// allowed: frame f reads from index f * channels >= f).
void AverageChannels(const float* in, size_t frames, int channels, float* out) {
  for (size_t f = 0; f < frames; ++f) {
    const float* frame = in + f * channels;
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) sum += frame[c];
    out[f] = sum / channels;
  }
}

}  // namespace

WavData ReadWavFromMemory(const uint8_t* data, size_t size, const std::string& name, bool mono) {
  const Layout layout = ParseLayout(
      size, [data](uint64_t offset, uint8_t* out, size_t n) { std::memcpy(out, data + offset, n); },
      name);
  const Format& fmt = layout.fmt;
  const uint8_t* payload = data + layout.data_offset;
  const size_t payload_size = static_cast<size_t>(layout.data_size);

  WavData out;
  out.sample_rate = fmt.sample_rate;
  out.channels = fmt.channels;
  out.bits_per_sample = fmt.bits;
  const size_t count = payload_size / (fmt.bits / 8);
  out.samples.resize(count);
  DecodeSamples(payload, count, fmt, out.samples.data(), name);
  if (mono && fmt.channels > 1) {
    const size_t frames = count / fmt.channels;
    AverageChannels(out.samples.data(), frames, fmt.channels, out.samples.data());
    out.samples.resize(frames);
    out.samples.shrink_to_fit();
    out.channels = 1;
  }
  return out;
}

WavData ReadWav(const std::string& path, bool mono) {
  const std::vector<uint8_t> bytes = ReadRegularFile(path, "WAV file", kMaxWavFileBytes);
  return ReadWavFromMemory(bytes.data(), bytes.size(), path, mono);
}

struct WavReader::Impl {
  Impl(const std::string& path) : file(path, "WAV file", kMaxWavFileBytes) {}
  RegularFile file;
  Layout layout;
  uint64_t frames = 0;
  uint64_t next_frame = 0;
  std::vector<uint8_t> bytes;  // scratch for one read
  std::vector<float> interleaved;
};

WavReader::WavReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {
  const RegularFile& file = impl_->file;
  impl_->layout = ParseLayout(
      file.size(),
      [&file](uint64_t offset, uint8_t* out, size_t n) { file.ReadAt(offset, out, n); }, path);
  impl_->frames = impl_->layout.data_size / impl_->layout.fmt.block_align;
}

WavReader::~WavReader() = default;

const std::string& WavReader::path() const { return impl_->file.path(); }
int WavReader::sample_rate() const { return impl_->layout.fmt.sample_rate; }
int WavReader::channels() const { return impl_->layout.fmt.channels; }
int WavReader::bits_per_sample() const { return impl_->layout.fmt.bits; }
uint64_t WavReader::frames() const { return impl_->frames; }
uint64_t WavReader::frames_read() const { return impl_->next_frame; }

size_t WavReader::Read(float* out, size_t max_frames, bool mono) {
  Impl& m = *impl_;
  const Format& fmt = m.layout.fmt;
  const size_t frames =
      static_cast<size_t>(std::min<uint64_t>(max_frames, m.frames - m.next_frame));
  if (frames == 0) return 0;
  const size_t count = frames * fmt.channels;
  m.bytes.resize(frames * fmt.block_align);
  m.file.ReadAt(m.layout.data_offset + m.next_frame * fmt.block_align, m.bytes.data(),
                m.bytes.size());
  const uint64_t first = m.next_frame * fmt.channels;
  if (mono && fmt.channels > 1) {
    m.interleaved.resize(count);
    DecodeSamples(m.bytes.data(), count, fmt, m.interleaved.data(), m.file.path(), first);
    AverageChannels(m.interleaved.data(), frames, fmt.channels, out);
  } else {
    DecodeSamples(m.bytes.data(), count, fmt, out, m.file.path(), first);
  }
  m.next_frame += frames;
  return frames;
}

std::vector<float> WavReader::Read(size_t max_frames, bool mono) {
  const uint64_t left = impl_->frames - impl_->next_frame;
  const size_t frames = static_cast<size_t>(std::min<uint64_t>(max_frames, left));
  std::vector<float> out(frames * (mono ? 1 : channels()));
  out.resize(Read(out.data(), frames, mono) * (mono ? 1 : channels()));
  return out;
}

WavData ReadWavMono(const std::string& path) {
  WavData wav = ReadWav(path, /*mono=*/false);
  if (wav.channels != 1) {
    throw WavError(path + ": expected a mono file but it has " + std::to_string(wav.channels) +
                   " channels");
  }
  return wav;
}

namespace {

// The header of a mono file of n samples (everything before the data bytes).
std::vector<uint8_t> EncodeWavHeader(uint64_t n, int sample_rate, WavSampleFormat format,
                                     const char* who) {
  if (sample_rate <= 0 || sample_rate > kMaxWavSampleRate) {
    throw InvalidArgument(std::string(who) + ": sample rate " + std::to_string(sample_rate) +
                          " is outside (0, " + std::to_string(kMaxWavSampleRate) + "]");
  }
  const bool is_float = format == WavSampleFormat::kFloat32;
  const uint32_t bytes_per_sample = is_float ? 4 : 2;
  const uint32_t fmt_size = is_float ? 18 : 16;
  const uint32_t fact_chunk = is_float ? 12 : 0;
  const uint64_t header = 12 + 8 + fmt_size + fact_chunk + 8;
  const uint64_t data_size = n * bytes_per_sample;
  if (n > 0xFFFFFFFFull || header - 8 + data_size > 0xFFFFFFFFull) {
    throw InvalidArgument(std::string(who) + ": " + std::to_string(n) +
                          " samples do not fit a RIFF file (4 GiB limit)");
  }
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(header));
  StoreTag(&out, "RIFF");
  StoreU32(&out, static_cast<uint32_t>(header - 8 + data_size));
  StoreTag(&out, "WAVE");
  StoreTag(&out, "fmt ");
  StoreU32(&out, fmt_size);
  StoreU16(&out, is_float ? kFormatFloat : kFormatPcm);
  StoreU16(&out, 1);  // channels
  StoreU32(&out, static_cast<uint32_t>(sample_rate));
  StoreU32(&out, static_cast<uint32_t>(sample_rate) * bytes_per_sample);
  StoreU16(&out, static_cast<uint16_t>(bytes_per_sample));  // block_align
  StoreU16(&out, static_cast<uint16_t>(8 * bytes_per_sample));
  if (is_float) {
    StoreU16(&out, 0);  // cbSize: non-PCM formats carry it
    StoreTag(&out, "fact");
    StoreU32(&out, 4);
    StoreU32(&out, static_cast<uint32_t>(n));  // frames
  }
  StoreTag(&out, "data");
  StoreU32(&out, static_cast<uint32_t>(data_size));
  return out;
}

// Appends the encoding of n samples; `first` numbers them in messages.
void EncodeWavSamples(const float* samples, size_t n, WavSampleFormat format,
                      std::vector<uint8_t>* out, const char* who, uint64_t first = 0) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(samples[i])) {
      throw InvalidArgument(std::string(who) + ": sample " + std::to_string(first + i) +
                            " is not finite");
    }
  }
  const bool is_float = format == WavSampleFormat::kFloat32;
  out->reserve(out->size() + n * (is_float ? 4 : 2));
  for (size_t i = 0; i < n; ++i) {
    if (is_float) {
      uint32_t bits;
      std::memcpy(&bits, &samples[i], sizeof(bits));
      StoreU32(out, bits);
    } else {
      // Scale by 32768 (the inverse of reading) so 16-bit values round-trip exactly.
      const long v = std::lrint(static_cast<double>(samples[i]) * 32768.0);
      StoreU16(out,
               static_cast<uint16_t>(static_cast<int16_t>(std::clamp<long>(v, -32768, 32767))));
    }
  }
}

}  // namespace

std::vector<uint8_t> EncodeWav(const float* samples, size_t n, int sample_rate,
                               WavSampleFormat format) {
  std::vector<uint8_t> out = EncodeWavHeader(n, sample_rate, format, "EncodeWav");
  EncodeWavSamples(samples, n, format, &out, "EncodeWav");
  return out;
}

struct WavWriter::Impl {
  std::string path;
  std::string tmp;
  int fd = -1;
  WavSampleFormat format = WavSampleFormat::kPcm16;
  uint64_t total = 0;
  uint64_t written = 0;
  std::vector<uint8_t> bytes;  // scratch

  void WriteBytes(const uint8_t* data, size_t size) {
    size_t done = 0;
    while (done < size) {
      const ssize_t r = ::write(fd, data + done, size - done);
      if (r < 0) {
        if (errno == EINTR) continue;
        throw IoError("cannot write '" + path + "': " + std::strerror(errno));
      }
      done += static_cast<size_t>(r);
    }
  }
  void Abandon() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (!tmp.empty()) ::unlink(tmp.c_str());
    tmp.clear();
  }
};

WavWriter::WavWriter(const std::string& path, int sample_rate, uint64_t total_samples,
                     WavSampleFormat format)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.format = format;
  m.total = total_samples;
  const std::vector<uint8_t> header =
      EncodeWavHeader(total_samples, sample_rate, format, "WavWriter");
  // A unique temporary name beside `path` so the rename stays on one file system; mode
  // 0666 less the umask, as for any new file.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100 && m.fd < 0; ++attempt) {
    m.tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    m.fd = ::open(m.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (m.fd < 0 && errno != EEXIST) break;
  }
  if (m.fd < 0) {
    const int err = errno;
    m.tmp.clear();
    throw IoError("cannot write '" + path +
                  "': creating a temporary file failed: " + std::strerror(err));
  }
  try {
    m.WriteBytes(header.data(), header.size());
  } catch (...) {
    m.Abandon();
    throw;
  }
}

WavWriter::~WavWriter() { impl_->Abandon(); }

uint64_t WavWriter::samples_written() const { return impl_->written; }

void WavWriter::Write(const float* samples, size_t n) {
  Impl& m = *impl_;
  if (m.fd < 0) throw InvalidArgument("WavWriter: '" + m.path + "' is already committed");
  if (n > m.total - m.written)
    throw InvalidArgument("WavWriter: '" + m.path + "' was opened for " + std::to_string(m.total) +
                          " samples; writing " + std::to_string(n) + " more after " +
                          std::to_string(m.written) + " exceeds that");
  m.bytes.clear();
  EncodeWavSamples(samples, n, m.format, &m.bytes, "WavWriter", m.written);
  try {
    m.WriteBytes(m.bytes.data(), m.bytes.size());
  } catch (...) {
    m.Abandon();
    throw;
  }
  m.written += n;
}

void WavWriter::Commit() {
  Impl& m = *impl_;
  if (m.fd < 0) throw InvalidArgument("WavWriter: '" + m.path + "' is already committed");
  if (m.written != m.total) {
    m.Abandon();
    throw InvalidArgument("WavWriter: '" + m.path + "' got " + std::to_string(m.written) +
                          " samples of the " + std::to_string(m.total) + " announced");
  }
  const int fd = m.fd;
  m.fd = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    m.Abandon();
    throw IoError("cannot write '" + m.path + "': " + std::strerror(err));
  }
  if (std::rename(m.tmp.c_str(), m.path.c_str()) != 0) {
    const int err = errno;
    m.Abandon();
    throw IoError("cannot write '" + m.path +
                  "': renaming the temporary file failed: " + std::strerror(err));
  }
  m.tmp.clear();
}

void WriteWav(const std::string& path, const float* samples, size_t n, int sample_rate,
              WavSampleFormat format) {
  // Arguments are checked before any file is created.
  EncodeWavHeader(n, sample_rate, format, "EncodeWav");
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(samples[i])) {
      throw InvalidArgument("EncodeWav: sample " + std::to_string(i) + " is not finite");
    }
  }
  WavWriter writer(path, sample_rate, n, format);
  // Pieces of 1 M samples keep the encoded copy small.
  const size_t piece = size_t{1} << 20;
  for (size_t offset = 0; offset < n; offset += piece)
    writer.Write(samples + offset, std::min(piece, n - offset));
  writer.Commit();
}

}  // namespace kws
