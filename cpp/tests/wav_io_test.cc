// Tests of kws WAV reading and writing: every supported encoding, chunk handling,
// every malformed-header case, and real files from the Speech Commands sample.
#include "kws/wav_io.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kws/error.h"
#include "test_support.h"

namespace {

using Bytes = std::vector<uint8_t>;

void PutU16(Bytes* b, uint32_t v) {
  b->push_back(v & 0xFF);
  b->push_back((v >> 8) & 0xFF);
}
void PutU32(Bytes* b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b->push_back((v >> (8 * i)) & 0xFF);
}
void PutTag(Bytes* b, const char* tag) { b->insert(b->end(), tag, tag + 4); }

// A plain fmt chunk body (16 bytes).
Bytes FmtBody(uint16_t code, uint32_t channels, uint32_t rate, uint32_t bits,
              int block_align = -1) {
  Bytes b;
  const uint32_t align = block_align >= 0 ? block_align : channels * (bits / 8);
  PutU16(&b, code);
  PutU16(&b, channels);
  PutU32(&b, rate);
  PutU32(&b, rate * align);
  PutU16(&b, align);
  PutU16(&b, bits);
  return b;
}

// A WAVE_FORMAT_EXTENSIBLE fmt chunk body (40 bytes) with the given subformat code.
Bytes ExtensibleFmtBody(uint16_t subformat, uint32_t channels, uint32_t rate, uint32_t bits,
                        uint32_t valid_bits) {
  Bytes b = FmtBody(0xFFFE, channels, rate, bits);
  PutU16(&b, 22);  // cbSize
  PutU16(&b, valid_bits);
  PutU32(&b, channels == 2 ? 0x3 : 0x4);  // channel mask
  PutU16(&b, subformat);
  const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                            0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
  b.insert(b.end(), tail, tail + 14);
  return b;
}

struct Chunk {
  std::string tag;
  Bytes body;
  int64_t declared_size = -1;  // -1: the body's real size
  bool pad = true;             // add the pad byte after odd bodies
};

// A RIFF/WAVE file from chunks, with a correct RIFF size.
Bytes MakeWav(const std::vector<Chunk>& chunks, const char* riff = "RIFF",
              const char* form = "WAVE") {
  Bytes body;
  PutTag(&body, form);
  for (const Chunk& c : chunks) {
    PutTag(&body, c.tag.c_str());
    PutU32(&body, c.declared_size < 0 ? c.body.size() : static_cast<uint32_t>(c.declared_size));
    body.insert(body.end(), c.body.begin(), c.body.end());
    if (c.pad && (c.body.size() & 1)) body.push_back(0);
  }
  Bytes out;
  PutTag(&out, riff);
  PutU32(&out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes Pcm16Data(const std::vector<int16_t>& v) {
  Bytes b;
  for (int16_t x : v) PutU16(&b, static_cast<uint16_t>(x));
  return b;
}

Bytes Float32Data(const std::vector<float>& v) {
  Bytes b;
  for (float x : v) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    PutU32(&b, u);
  }
  return b;
}

kws::WavData Parse(const Bytes& b, bool mono = true) {
  return kws::ReadWavFromMemory(b.data(), b.size(), "mem.wav", mono);
}

// A fresh temporary directory for file tests.
std::string TempDir() {
  char tmpl[] = "/tmp/kws_wav_test_XXXXXX";
  const char* d = mkdtemp(tmpl);
  if (!d) throw std::runtime_error("mkdtemp failed");
  return d;
}

void WriteBytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), b.size());
}

Bytes ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  return names;
}

void RemoveDir(const std::string& dir) {
  for (const auto& n : ListDir(dir)) std::remove((dir + "/" + n).c_str());
  rmdir(dir.c_str());
}

// Expects a WavError from parsing `b` whose message names the file and `problem`.
#define CHECK_MALFORMED(bytes, problem)                             \
  do {                                                              \
    KWS_EXPECT_THROW_MSG(Parse(bytes), kws::WavError, "mem.wav: "); \
    KWS_EXPECT_THROW_MSG(Parse(bytes), kws::WavError, problem);     \
  } while (0)

}  // namespace

// ---- round trips -------------------------------------------------------------------

TEST(WavIo, Pcm16RoundTripIsExact) {
  std::vector<float> x;
  for (int v : {-32768, -12345, -1, 0, 1, 2, 16384, 32767}) x.push_back(v / 32768.0f);
  const Bytes b = kws::EncodeWav(x.data(), x.size(), 16000);
  ASSERT_EQ(b.size(), 44 + 2 * x.size());
  const kws::WavData w = Parse(b);
  ASSERT_TRUE(w.sample_rate == 16000 && w.channels == 1 && w.bits_per_sample == 16);
  ASSERT_EQ(w.samples, x);
}

TEST(WavIo, Pcm16WriteClipsAndRounds) {
  const std::vector<float> x = {1.5f, -2.0f, 1.0f, -1.0f, 0.6f / 32768.0f, -0.4f / 32768.0f};
  const kws::WavData w = Parse(kws::EncodeWav(x.data(), x.size(), 8000));
  const std::vector<float> expected = {32767 / 32768.0f, -1.0f, 32767 / 32768.0f, -1.0f,
                                       1 / 32768.0f,     0.0f};
  ASSERT_EQ(w.samples, expected);
  ASSERT_EQ(w.sample_rate, 8000);
}

TEST(WavIo, Float32RoundTripIsExact) {
  const std::vector<float> x = {0.0f, 1e-8f, -0.333333f, 0.999f, -1.0f, 1.0f};
  const Bytes b = kws::EncodeWav(x.data(), x.size(), 44100, kws::WavSampleFormat::kFloat32);
  const kws::WavData w = Parse(b);
  ASSERT_TRUE(w.sample_rate == 44100 && w.channels == 1 && w.bits_per_sample == 32);
  ASSERT_EQ(w.samples, x);
}

TEST(WavIo, EncodeRejectsBadArguments) {
  const float ok[2] = {0.0f, 0.5f};
  KWS_EXPECT_THROW_MSG(kws::EncodeWav(ok, 2, 0), kws::InvalidArgument, "sample rate 0");
  KWS_EXPECT_THROW_MSG(kws::EncodeWav(ok, 2, -5), kws::InvalidArgument, "sample rate -5");
  const float bad[2] = {0.0f, std::nanf("")};
  KWS_EXPECT_THROW_MSG(kws::EncodeWav(bad, 2, 16000), kws::InvalidArgument, "sample 1");
}

TEST(WavIo, EmptySignalRoundTrips) {
  const kws::WavData w = Parse(kws::EncodeWav(nullptr, 0, 16000));
  ASSERT_TRUE(w.samples.empty() && w.sample_rate == 16000 && w.frames() == 0);
}

TEST(WavIo, Pcm8IsUnsigned) {
  const Bytes data = {0, 64, 128, 192, 255};
  const kws::WavData w = Parse(MakeWav({{"fmt ", FmtBody(1, 1, 8000, 8)}, {"data", data}}));
  const std::vector<float> expected = {-1.0f, -0.5f, 0.0f, 0.5f, 127 / 128.0f};
  ASSERT_EQ(w.samples, expected);
  ASSERT_EQ(w.bits_per_sample, 8);
}

TEST(WavIo, Pcm24SignExtends) {
  const Bytes data = {0x00, 0x00, 0x80,   // -2^23
                      0xFF, 0xFF, 0x7F,   // 2^23 - 1
                      0xFF, 0xFF, 0xFF,   // -1
                      0x00, 0x00, 0x40,   // 2^22
                      0x01, 0x00, 0x00};  // 1
  const kws::WavData w = Parse(MakeWav({{"fmt ", FmtBody(1, 1, 48000, 24)}, {"data", data}}));
  const std::vector<float> expected = {-1.0f, 8388607 / 8388608.0f, -1 / 8388608.0f, 0.5f,
                                       1 / 8388608.0f};
  ASSERT_EQ(w.samples, expected);
  ASSERT_TRUE(w.bits_per_sample == 24 && w.sample_rate == 48000);
}

TEST(WavIo, Pcm32Scales) {
  Bytes data;
  for (uint32_t v : {0x80000000u, 0x40000000u, 0xC0000000u, 0u, 0x7FFFFFFFu}) PutU32(&data, v);
  const kws::WavData w = Parse(MakeWav({{"fmt ", FmtBody(1, 1, 16000, 32)}, {"data", data}}));
  ASSERT_EQ(w.samples.size(), 5);
  ASSERT_TRUE(w.samples[0] == -1.0f && w.samples[1] == 0.5f && w.samples[2] == -0.5f &&
              w.samples[3] == 0.0f);
  ASSERT_TRUE(w.samples[4] <= 1.0f && w.samples[4] > 0.99999f);
}

TEST(WavIo, FloatIsClippedAndNonFiniteRejected) {
  const Bytes clip =
      MakeWav({{"fmt ", FmtBody(3, 1, 16000, 32)}, {"data", Float32Data({2.5f, -7.0f, 0.25f})}});
  const std::vector<float> expected = {1.0f, -1.0f, 0.25f};
  ASSERT_EQ(Parse(clip).samples, expected);
  const Bytes nan = MakeWav({{"fmt ", FmtBody(3, 2, 16000, 32)},
                             {"data", Float32Data({0.0f, 0.1f, 0.2f, std::nanf("")})}});
  CHECK_MALFORMED(nan, "sample 1 of channel 1 is NaN");
  const Bytes inf =
      MakeWav({{"fmt ", FmtBody(3, 1, 16000, 32)}, {"data", Float32Data({HUGE_VALF})}});
  CHECK_MALFORMED(inf, "is infinite");
}

TEST(WavIo, ExtensiblePcmAndFloat) {
  // Stereo 16-bit PCM.
  const Bytes pcm = MakeWav({{"fmt ", ExtensibleFmtBody(1, 2, 16000, 16, 16)},
                             {"data", Pcm16Data({16384, -16384, 8192, 0})}});
  const kws::WavData stereo = Parse(pcm, /*mono=*/false);
  ASSERT_TRUE(stereo.channels == 2 && stereo.frames() == 2);
  const std::vector<float> interleaved = {0.5f, -0.5f, 0.25f, 0.0f};
  ASSERT_EQ(stereo.samples, interleaved);
  const kws::WavData mixed = Parse(pcm);
  const std::vector<float> mono = {0.0f, 0.125f};
  ASSERT_TRUE(mixed.channels == 1 && mixed.samples == mono);

  // Mono float.
  const Bytes flt = MakeWav(
      {{"fmt ", ExtensibleFmtBody(3, 1, 22050, 32, 32)}, {"data", Float32Data({0.75f, -0.125f})}});
  const kws::WavData f = Parse(flt);
  ASSERT_TRUE(f.sample_rate == 22050 && f.samples == std::vector<float>({0.75f, -0.125f}));

  // 24 valid bits in a 32-bit container: left-justified, scaled by the container.
  Bytes data;
  PutU32(&data, 0x40000000u);
  const Bytes valid24 = MakeWav({{"fmt ", ExtensibleFmtBody(1, 1, 16000, 32, 24)}, {"data", data}});
  ASSERT_TRUE(Parse(valid24).samples == std::vector<float>({0.5f}));

  // 8-bit and 24-bit subformats.
  const Bytes ext8 =
      MakeWav({{"fmt ", ExtensibleFmtBody(1, 1, 8000, 8, 8)}, {"data", Bytes{0, 128}}});
  ASSERT_TRUE(Parse(ext8).samples == std::vector<float>({-1.0f, 0.0f}));
  const Bytes ext24 =
      MakeWav({{"fmt ", ExtensibleFmtBody(1, 1, 8000, 24, 24)}, {"data", Bytes{0x00, 0x00, 0xC0}}});
  ASSERT_TRUE(Parse(ext24).samples == std::vector<float>({-0.5f}));
}

TEST(WavIo, ExtensibleErrors) {
  const Bytes data = Pcm16Data({0});
  CHECK_MALFORMED(MakeWav({{"fmt ", ExtensibleFmtBody(2, 1, 16000, 16, 16)}, {"data", data}}),
                  "unsupported WAVE_FORMAT_EXTENSIBLE subformat 0x0002 (Microsoft ADPCM)");
  Bytes wrong_guid = ExtensibleFmtBody(1, 1, 16000, 16, 16);
  wrong_guid[39] ^= 0xFF;
  CHECK_MALFORMED(MakeWav({{"fmt ", wrong_guid}, {"data", data}}),
                  "unsupported WAVE_FORMAT_EXTENSIBLE subformat");
  CHECK_MALFORMED(MakeWav({{"fmt ", ExtensibleFmtBody(1, 1, 16000, 16, 20)}, {"data", data}}),
                  "20 valid bits in a 16-bit container");
  Bytes short_ext = ExtensibleFmtBody(1, 1, 16000, 16, 16);
  short_ext.resize(18);
  CHECK_MALFORMED(MakeWav({{"fmt ", short_ext}, {"data", data}}),
                  "WAVE_FORMAT_EXTENSIBLE fmt chunk is 18 bytes, 40 are needed");
  Bytes small_cb = ExtensibleFmtBody(1, 1, 16000, 16, 16);
  small_cb[16] = 10;
  CHECK_MALFORMED(MakeWav({{"fmt ", small_cb}, {"data", data}}), "extension of 10 bytes");
  CHECK_MALFORMED(MakeWav({{"fmt ", ExtensibleFmtBody(3, 1, 16000, 16, 16)}, {"data", data}}),
                  "unsupported bits per sample 16 for IEEE float");
}

TEST(WavIo, MultiChannelMixdownAndMonoRequirement) {
  // 3 channels of 16-bit PCM, 2 frames.
  const Bytes b = MakeWav(
      {{"fmt ", FmtBody(1, 3, 16000, 16)}, {"data", Pcm16Data({3000, 6000, 9000, -300, 0, 300})}});
  const kws::WavData all = Parse(b, false);
  ASSERT_TRUE(all.channels == 3 && all.frames() == 2 && all.samples.size() == 6);
  ASSERT_EQ(all.samples[2], 9000 / 32768.0f);
  const kws::WavData mono = Parse(b, true);
  ASSERT_TRUE(mono.channels == 1 && mono.samples.size() == 2);
  ASSERT_NEAR(mono.samples[0], 6000 / 32768.0, 1e-7);
  ASSERT_NEAR(mono.samples[1], 0.0, 1e-7);

  const std::string dir = TempDir();
  const std::string path = dir + "/three.wav";
  WriteBytes(path, b);
  KWS_EXPECT_THROW_MSG(kws::ReadWavMono(path), kws::WavError,
                       path + ": expected a mono file but it has 3 channels");
  ASSERT_EQ(kws::ReadWav(path, true).samples, mono.samples);
  RemoveDir(dir);
}

TEST(WavIo, UnknownChunksAreSkippedWithPadding) {
  const Bytes data = Pcm16Data({100, -100, 200});
  // Odd-sized chunks (with pad byte) before and between fmt and data; a bogus chunk
  // after the data chunk is never looked at.
  Chunk bogus{"junk", Bytes{1, 2}, 0xFFFFFF00u};
  const Bytes b = MakeWav({{"LIST", Bytes(7, 'x')},
                           {"fmt ", FmtBody(1, 1, 16000, 16)},
                           {"fact", Bytes(5, 0)},
                           {"data", data},
                           bogus});
  const kws::WavData w = Parse(b);
  ASSERT_TRUE(w.samples == std::vector<float>({100 / 32768.0f, -100 / 32768.0f, 200 / 32768.0f}));
  // Data before fmt is legal RIFF.
  const Bytes swapped =
      MakeWav({{"data", data}, {"cue ", Bytes(3, 0)}, {"fmt ", FmtBody(1, 1, 8000, 16)}});
  ASSERT_TRUE(Parse(swapped).sample_rate == 8000 && Parse(swapped).samples.size() == 3);
  // An odd-sized data chunk at the very end without its pad byte is fine.
  Chunk odd{"data", Bytes{0, 64, 255}, -1, false};
  const Bytes odd8 = MakeWav({{"fmt ", FmtBody(1, 1, 8000, 8)}, odd});
  ASSERT_EQ(Parse(odd8).samples.size(), 3);
}

TEST(WavIo, StaleRiffSizeIsTolerated) {
  Bytes b = MakeWav({{"fmt ", FmtBody(1, 1, 16000, 16)}, {"data", Pcm16Data({1, 2})}});
  for (uint32_t riff : {0u, 4u, 0xFFFFFFFFu}) {
    b[4] = riff & 0xFF, b[5] = (riff >> 8) & 0xFF, b[6] = (riff >> 16) & 0xFF, b[7] = riff >> 24;
    ASSERT_EQ(Parse(b).samples.size(), 2);
  }
}

// ---- malformed files ----------------------------------------------------------------

TEST(WavIo, MalformedHeaders) {
  const Bytes fmt = FmtBody(1, 1, 16000, 16);
  const Bytes data = Pcm16Data({1, 2, 3});
  CHECK_MALFORMED(Bytes(), "file is 0 bytes, too short");
  CHECK_MALFORMED(Bytes({'R', 'I', 'F', 'F', 0, 0}), "file is 6 bytes, too short");
  CHECK_MALFORMED(MakeWav({{"fmt ", fmt}, {"data", data}}, "RIFX"),
                  "not a RIFF file (starts with 'RIFX'");
  Bytes text(64, 'a');
  CHECK_MALFORMED(text, "not a RIFF file");
  CHECK_MALFORMED(MakeWav({{"fmt ", fmt}, {"data", data}}, "RIFF", "AVI "),
                  "RIFF file is not WAVE (form type 'AVI '");
  CHECK_MALFORMED(MakeWav({{"data", data}}), "missing fmt chunk");
  CHECK_MALFORMED(MakeWav({{"fmt ", fmt}}), "missing data chunk");
  CHECK_MALFORMED(MakeWav({{"fmt ", fmt}, {"LIST", Bytes(4, 0)}}), "missing data chunk");
  CHECK_MALFORMED(MakeWav({}), "missing fmt chunk");
  CHECK_MALFORMED(MakeWav({{"fmt ", fmt}, {"fmt ", fmt}, {"data", data}}),
                  "more than one fmt chunk");
  CHECK_MALFORMED(MakeWav({{"data", data}, {"data", data}, {"fmt ", fmt}}),
                  "more than one data chunk");
}

TEST(WavIo, TruncatedDataNamesBothSizes) {
  Bytes b = MakeWav({{"fmt ", FmtBody(1, 1, 16000, 16)}, {"data", Pcm16Data({1, 2, 3, 4})}});
  b.resize(b.size() - 3);  // the data chunk declares 8 bytes, 5 remain
  CHECK_MALFORMED(b, "truncated: data chunk declares 8 bytes but only 5 bytes follow");
  // A streaming writer that never patched the size.
  Chunk unpatched{"data", Pcm16Data({1, 2}), 0xFFFFFFFFu};
  CHECK_MALFORMED(MakeWav({{"fmt ", FmtBody(1, 1, 16000, 16)}, unpatched}),
                  "data chunk declares 4294967295 bytes but only 4 bytes follow");
}

TEST(WavIo, ChunkSizesPastTheEnd) {
  Chunk huge_list{"LIST", Bytes(4, 0), 1000};
  CHECK_MALFORMED(
      MakeWav({huge_list, {"fmt ", FmtBody(1, 1, 16000, 16)}, {"data", Pcm16Data({1})}}),
      "chunk 'LIST' at offset 12 declares 1000 bytes but only");
  Chunk huge_fmt{"fmt ", FmtBody(1, 1, 16000, 16), 0xFFFFFFF0u};
  CHECK_MALFORMED(MakeWav({huge_fmt}), "chunk 'fmt ' at offset 12 declares 4294967280");
  Chunk binary_tag{std::string("\x01\x02"
                               "ab",
                               4),
                   Bytes(2, 0), 77};
  CHECK_MALFORMED(MakeWav({binary_tag}), "chunk '\\x01\\x02ab' at offset 12");
  // A chunk header cut short after fmt: no data chunk.
  Bytes cut = MakeWav({{"fmt ", FmtBody(1, 1, 16000, 16)}});
  cut.insert(cut.end(), {'d', 'a', 't'});
  CHECK_MALFORMED(cut, "missing data chunk");
}

TEST(WavIo, BadFmtValues) {
  const Bytes d = Pcm16Data({1, 2});
  auto with_fmt = [&](const Bytes& fmt) { return MakeWav({{"fmt ", fmt}, {"data", d}}); };
  CHECK_MALFORMED(with_fmt(FmtBody(1, 0, 16000, 16, 2)), "fmt chunk declares zero channels");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 1, 0, 16)), "sample rate of zero");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 65535, 16000, 16, 2)),
                  "declares 65535 channels, more than the supported maximum of 1024");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 1, 20000000, 16)), "absurd sample rate of 20000000 Hz");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 1, 0xFFFFFFFFu, 16)), "absurd sample rate");
  CHECK_MALFORMED(with_fmt(FmtBody(6, 1, 8000, 8)), "unsupported format code 0x0006 (A-law)");
  CHECK_MALFORMED(with_fmt(FmtBody(0x55, 1, 8000, 0, 1)),
                  "unsupported format code 0x0055 (MPEG layer 3)");
  CHECK_MALFORMED(with_fmt(FmtBody(0x1234, 1, 8000, 16)), "unsupported format code 0x1234;");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 1, 16000, 12, 2)),
                  "unsupported bits per sample 12 for PCM (supported: 8, 16, 24, 32)");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 1, 16000, 0, 2)), "unsupported bits per sample 0");
  CHECK_MALFORMED(with_fmt(FmtBody(3, 1, 16000, 64)),
                  "unsupported bits per sample 64 for IEEE float (supported: 32)");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 2, 16000, 16, 2)),
                  "block_align 2 does not match channels * bytes per sample = 2 * 2 = 4");
  CHECK_MALFORMED(with_fmt(FmtBody(1, 1, 16000, 16, 0)), "block_align 0 does not match");
  Bytes short_fmt = FmtBody(1, 1, 16000, 16);
  short_fmt.resize(14);
  CHECK_MALFORMED(with_fmt(short_fmt), "fmt chunk is 14 bytes, at least 16 are needed");
  // 3 bytes of 16-bit stereo data: not whole frames.
  CHECK_MALFORMED(MakeWav({{"fmt ", FmtBody(1, 2, 16000, 16)}, {"data", Bytes{1, 2, 3, 4, 5, 6}}}),
                  "data chunk of 6 bytes is not a whole number of 4-byte frames");
}

// Every prefix and thousands of random corruptions of a valid file either decode or throw
// WavError: no crash, no other exception (run under KWS_SANITIZE=ON to catch bad reads).
TEST(WavIo, CorruptionsNeverCrash) {
  const Bytes good = MakeWav({{"LIST", Bytes(5, 'i')},
                              {"fmt ", ExtensibleFmtBody(1, 2, 16000, 24, 24)},
                              {"data", Bytes(3 * 2 * 10, 0x55)}});
  int decoded = 0, rejected = 0;
  for (size_t n = 0; n <= good.size(); ++n) {
    try {
      kws::ReadWavFromMemory(good.data(), n, "prefix.wav");
      ++decoded;
    } catch (const kws::WavError&) {
      ++rejected;
    }
  }
  ASSERT_EQ(decoded, 1);  // only the whole file
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 20000; ++trial) {
    Bytes b = good;
    const int flips = 1 + trial % 4;
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    try {
      const kws::WavData w = kws::ReadWavFromMemory(b.data(), b.size(), "fuzz.wav", trial % 2);
      for (float s : w.samples) ASSERT_TRUE(s >= -1.0f && s <= 1.0f);
      ++decoded;
    } catch (const kws::WavError& e) {
      ASSERT_EQ(std::string(e.what()).rfind("fuzz.wav: ", 0), 0);
      ++rejected;
    }
  }
  ASSERT_TRUE(decoded > 1000 && rejected > 1000);
}

// ---- files ---------------------------------------------------------------------------

TEST(WavIo, WriteWavIsAtomicAndOverwrites) {
  const std::string dir = TempDir();
  const std::string path = dir + "/out.wav";
  const std::vector<float> a = {0.5f, -0.25f, 0.125f};
  kws::WriteWav(path, a.data(), a.size(), 16000);
  ASSERT_EQ(kws::ReadWav(path).samples, a);
  const std::vector<float> b = {0.1f, 0.2f};
  kws::WriteWav(path, b.data(), b.size(), 22050, kws::WavSampleFormat::kFloat32);
  const kws::WavData w = kws::ReadWavMono(path);
  ASSERT_TRUE(w.samples == b && w.sample_rate == 22050 && w.bits_per_sample == 32);
  ASSERT_TRUE(ListDir(dir) == std::vector<std::string>({"out.wav"}));  // no temp files left
  KWS_EXPECT_THROW_MSG(kws::WriteWav(dir + "/missing/x.wav", a.data(), a.size(), 16000),
                       kws::IoError, dir + "/missing/x.wav");
  KWS_EXPECT_THROW_MSG(kws::WriteWav(path, a.data(), a.size(), 0), kws::InvalidArgument,
                       "sample rate 0");
  ASSERT_EQ(kws::ReadWav(path).samples, b);  // a failed write leaves the old file
  RemoveDir(dir);
}

TEST(WavIo, OpenFailuresAreIoErrors) {
  const std::string dir = TempDir();
  KWS_EXPECT_THROW_MSG(kws::ReadWav(dir + "/nope.wav"), kws::IoError,
                       "cannot open WAV file '" + dir + "/nope.wav': No such file or directory");
  KWS_EXPECT_THROW_MSG(kws::ReadWav(dir), kws::IoError, "it is a directory");
  WriteBytes(dir + "/empty.wav", Bytes());
  KWS_EXPECT_THROW_MSG(kws::ReadWav(dir + "/empty.wav"), kws::WavError,
                       dir + "/empty.wav: file is 0 bytes");
  RemoveDir(dir);
}

TEST(WavIo, RealSpeechSampleReadsAndReencodesByteForByte) {
  // Sample files are 16-bit mono with a 44-byte canonical header; the long noise files
  // carry LIST and 'id3 ' chunks after the data. Decoding and encoding again must give
  // the original header and data bytes back.
  int checked = 0, with_trailing_chunks = 0, expected = 0, noise_files = 0;
  for (const char* rel : {"/yes", "/no", "/_background_noise_"}) {
    const std::string dir = kws_test::SampleDir() + rel;
    std::vector<std::string> names = ListDir(dir);
    std::sort(names.begin(), names.end());
    ASSERT_TRUE(!names.empty());
    expected += static_cast<int>(std::min<size_t>(names.size(), 3));
    if (std::string(rel) == "/_background_noise_") {
      noise_files = static_cast<int>(std::min<size_t>(names.size(), 3));
    }
    for (size_t i = 0; i < names.size() && i < 3; ++i) {
      const std::string path = dir + "/" + names[i];
      const kws::WavData w = kws::ReadWav(path);
      ASSERT_TRUE(w.sample_rate == 16000 && w.channels == 1 && w.bits_per_sample == 16);
      ASSERT_GT(w.frames(), 1000);
      const Bytes original = ReadBytes(path);
      const size_t end_of_data = 44 + 2 * w.frames();
      ASSERT_GE(original.size(), end_of_data);
      if (original.size() > end_of_data) ++with_trailing_chunks;
      // Independent check of a few samples straight from the bytes.
      for (size_t k : {size_t{0}, w.frames() / 2, w.frames() - 1}) {
        const int16_t raw =
            static_cast<int16_t>(original[44 + 2 * k] | (original[45 + 2 * k] << 8));
        ASSERT_EQ(w.samples[k], raw / 32768.0f);
      }
      const Bytes encoded = kws::EncodeWav(w.samples.data(), w.samples.size(), 16000);
      ASSERT_EQ(encoded.size(), end_of_data);
      // Bytes 4..7 (RIFF size) differ when the original has trailing chunks.
      ASSERT_TRUE(std::equal(encoded.begin() + 8, encoded.end(), original.begin() + 8));
      ++checked;
    }
  }
  ASSERT_TRUE(checked == expected && checked >= 5);
  ASSERT_EQ(with_trailing_chunks, noise_files);
}

TEST(WavIo, OnlyRegularFilesAreOpenedAndSizesAreCapped) {
  const std::string dir = TempDir();
  // A FIFO named x.wav would block open() until a writer came: refused at once.
  const std::string fifo = dir + "/x.wav";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  KWS_EXPECT_THROW_MSG(kws::ReadWav(fifo), kws::IoError,
                       "cannot open WAV file '" + fifo + "': it is a FIFO");
  KWS_EXPECT_THROW_MSG(kws::WavReader reader(fifo), kws::IoError, "it is a FIFO");
  // /dev/zero would be read without end.
  KWS_EXPECT_THROW_MSG(kws::ReadWav("/dev/zero"), kws::IoError, "it is a character device");
  KWS_EXPECT_THROW_MSG(kws::WavReader reader(dir), kws::IoError, "it is a directory");
  // A sparse file past the cap is refused unread (it would not fit a RIFF header anyway).
  const std::string big = dir + "/big.wav";
  WriteBytes(big, MakeWav({{"fmt ", FmtBody(1, 1, 16000, 16)}, {"data", Pcm16Data({1, 2})}}));
  ASSERT_EQ(truncate(big.c_str(), static_cast<off_t>(kws::kMaxWavFileBytes + 1)), 0);
  KWS_EXPECT_THROW_MSG(kws::ReadWav(big), kws::InputError, "larger than the 4097 MiB limit");
  KWS_EXPECT_THROW_MSG(kws::WavReader reader(big), kws::InputError, "larger than");
  unlink(big.c_str());
  unlink(fifo.c_str());
  RemoveDir(dir);
}

// Reads the whole file with a WavReader in pieces of `piece` frames.
std::vector<float> ReadInPieces(const std::string& path, size_t piece, bool mono) {
  kws::WavReader reader(path);
  std::vector<float> all;
  while (true) {
    const std::vector<float> got = reader.Read(piece, mono);
    if (got.empty()) break;
    all.insert(all.end(), got.begin(), got.end());
  }
  EXPECT_EQ(reader.frames_read(), reader.frames());  // non-fatal: this returns a value
  return all;
}

TEST(WavIo, WavReaderInPiecesEqualsReadWav) {
  const std::string dir = TempDir();
  std::mt19937 gen(3);
  std::uniform_int_distribution<int> sample(-32768, 32767);
  std::vector<int16_t> stereo(2 * 5001);
  for (auto& x : stereo) x = static_cast<int16_t>(sample(gen));
  std::vector<float> floats(3 * 777);
  for (size_t i = 0; i < floats.size(); ++i) floats[i] = std::sin(0.01f * i) * 1.5f;
  struct Case {
    std::string name;
    Bytes bytes;
  };
  const std::vector<Case> cases = {
      {"stereo16.wav", MakeWav({{"LIST", Bytes(7, 'x')},
                                {"fmt ", FmtBody(1, 2, 16000, 16)},
                                {"data", Pcm16Data(stereo)},
                                {"junk", Bytes(3, 0)}})},
      {"float3.wav", MakeWav({{"fmt ", FmtBody(3, 3, 8000, 32)}, {"data", Float32Data(floats)}})},
      {"data_first.wav",
       MakeWav({{"data", Pcm16Data(stereo)}, {"fmt ", FmtBody(1, 1, 16000, 16)}})},
  };
  for (const Case& c : cases) {
    const std::string path = dir + "/" + c.name;
    WriteBytes(path, c.bytes);
    for (bool mono : {false, true}) {
      const kws::WavData whole = kws::ReadWav(path, mono);
      for (size_t piece : {size_t{1}, size_t{7}, size_t{1000}, size_t{1} << 20}) {
        ASSERT_EQ(ReadInPieces(path, piece, mono), whole.samples);
      }
      kws::WavReader reader(path);
      ASSERT_EQ(reader.sample_rate(), whole.sample_rate);
      ASSERT_EQ(reader.channels(), (c.name == "float3.wav" ? 3 : c.name == "stereo16.wav" ? 2 : 1));
      ASSERT_EQ(reader.frames(), kws::ReadWav(path, false).frames());
    }
  }
  // Real files (16-bit mono, trailing chunks after the data).
  const std::string noise = kws_test::SampleDir() + "/_background_noise_";
  std::vector<std::string> names = ListDir(noise);
  std::sort(names.begin(), names.end());
  ASSERT_TRUE(!names.empty());
  const std::string real = noise + "/" + names[0];
  ASSERT_EQ(ReadInPieces(real, 16000, true), kws::ReadWav(real).samples);
  // Header errors come when the reader is made, with ReadWav's message.
  const std::string bad = dir + "/bad.wav";
  WriteBytes(bad,
             MakeWav({{"fmt ", FmtBody(1, 1, 16000, 16)}, {"data", Pcm16Data({1, 2, 3}), 100}}));
  KWS_EXPECT_THROW_MSG(kws::WavReader reader(bad), kws::WavError,
                       "truncated: data chunk declares 100 bytes");
  // A NaN is reported by the read that reaches it, with its index in the file.
  std::vector<float> with_nan(5000, 0.25f);
  with_nan[4321] = std::nanf("");
  const std::string nan = dir + "/nan.wav";
  WriteBytes(nan, MakeWav({{"fmt ", FmtBody(3, 1, 16000, 32)}, {"data", Float32Data(with_nan)}}));
  KWS_EXPECT_THROW_MSG(kws::ReadWav(nan), kws::WavError, "sample 4321 of channel 0 is NaN");
  kws::WavReader reader(nan);
  ASSERT_EQ(reader.Read(4000).size(), 4000);
  KWS_EXPECT_THROW_MSG(reader.Read(4000), kws::WavError, "sample 4321 of channel 0 is NaN");
  for (const Case& c : cases) unlink((dir + "/" + c.name).c_str());
  unlink(bad.c_str());
  unlink(nan.c_str());
  RemoveDir(dir);
}
