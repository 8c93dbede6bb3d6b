// stream_wav: keyword spotting on a WAV file the way a live app does it. The file is
// fed to a kws::Stream in fixed-size chunks (as a microphone callback would deliver
// them); every hop the stream scores the last clip of audio, RecognizeCommands averages
// the scores and reports new commands, printed as they are found:
//
//   1230ms: yes (0.912345)
//
// The time is the start of the window that triggered the command (as in the streaming
// accuracy test and its ground truth files). `_silence_` is never printed.
//
//   stream_wav [flags] [MODEL] FILE.wav
//     MODEL                    a model.kws file or a bundled model's name (default: the
//                              bundled speech_commands, from the installed share/kws/models
//                              or $KWS_MODELS_DIR)
//     --clip_stride_ms N       hop between windows (default 30; whole feature frames)
//     --chunk_ms N             audio handed over per call, like a microphone buffer
//                              (default 100)
//     --average_window_ms N    decoder averaging window (default 1000)
//     --detection_threshold X  averaged score needed for a command (default 0.2)
//     --suppression_ms N       no new command this soon after the last (default 1500)
//     --minimum_count N        fewer results in the window: no decision (default 3)
//     --decision_delay_ms N    decide N ms after the threshold is passed, on the label
//                              whose average peaked highest (default 0: at once)
//     --allow_repeats B        true/1: a word said again is reported again once the
//                              suppression has passed (default false: the classic rule)
//
// Decoder defaults are the classic RecognizeCommands ones (kws::RecognizeCommandsOptions),
// except that a bundled model is decoded with the threshold, decision delay and repeats
// rule its model card recommends (kws::Model::BundledCardDecoder) for the flags not given,
// and with the averaging window they were chosen with.
// A WAV with several channels is averaged to mono; its rate must be the model's.
// Exit status: 0 on success, 1 for a bad model or WAV file, 2 for bad flags.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "kws/error.h"
#include "kws/model.h"
#include "kws/recognize_commands.h"
#include "kws/wav_io.h"

namespace {

constexpr char kDefaultModel[] = "speech_commands";

struct Flags {
  std::string model_path;  // a file, or a bundled model's name
  std::string wav_path;
  int64_t clip_stride_ms = 30;
  int64_t chunk_ms = 100;
  kws::RecognizeCommandsOptions decoder;  // the classic defaults
  bool threshold_given = false;           // --detection_threshold was given
  bool delay_given = false;               // --decision_delay_ms was given
  bool window_given = false;              // --average_window_ms was given
  bool repeats_given = false;             // --allow_repeats was given
};

void PrintUsage(const char* program) {
  std::fprintf(stderr,
               "usage: %s [--clip_stride_ms N] [--chunk_ms N] [--average_window_ms N]\n"
               "          [--detection_threshold X] [--suppression_ms N] [--minimum_count N]\n"
               "          [--decision_delay_ms N] [--allow_repeats true|false]\n"
               "          [MODEL.kws | BUNDLED_NAME] FILE.wav\n",
               program);
}

// Parses a whole-string number; false if `text` is not one.
bool ParseInt(const char* text, int64_t* value) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') return false;
  *value = v;
  return true;
}

bool ParseFloat(const char* text, float* value) {
  errno = 0;
  char* end = nullptr;
  const float v = std::strtof(text, &end);
  if (errno != 0 || end == text || *end != '\0') return false;
  *value = v;
  return true;
}

bool ParseBool(const std::string& text, bool* value) {
  if (text == "1" || text == "true") {
    *value = true;
  } else if (text == "0" || text == "false") {
    *value = false;
  } else {
    return false;
  }
  return true;
}

// Fills `flags` from argv; prints what is wrong and returns false on a bad command line.
bool ParseFlags(int argc, char** argv, Flags* flags) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      positional.push_back(arg);
      continue;
    }
    std::string value;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "stream_wav: %s needs a value\n", arg.c_str());
      return false;
    }
    int64_t number = 0;
    bool ok = true;
    if (arg == "--clip_stride_ms") {
      ok = ParseInt(value.c_str(), &flags->clip_stride_ms);
    } else if (arg == "--chunk_ms") {
      ok = ParseInt(value.c_str(), &flags->chunk_ms);
    } else if (arg == "--average_window_ms") {
      ok = ParseInt(value.c_str(), &flags->decoder.average_window_duration_ms);
      flags->window_given = true;
    } else if (arg == "--detection_threshold") {
      ok = ParseFloat(value.c_str(), &flags->decoder.detection_threshold);
      flags->threshold_given = true;
    } else if (arg == "--suppression_ms") {
      ok = ParseInt(value.c_str(), &flags->decoder.suppression_ms);
    } else if (arg == "--minimum_count") {
      ok = ParseInt(value.c_str(), &number) && number >= 0 && number <= 1000000;
      flags->decoder.minimum_count = static_cast<int>(number);
    } else if (arg == "--decision_delay_ms") {
      ok = ParseInt(value.c_str(), &flags->decoder.decision_delay_ms);
      flags->delay_given = true;
    } else if (arg == "--allow_repeats") {
      ok = ParseBool(value, &flags->decoder.allow_repeats);
      flags->repeats_given = true;
    } else {
      std::fprintf(stderr, "stream_wav: unknown flag %s\n", arg.c_str());
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "stream_wav: %s: '%s' is not a valid value\n", arg.c_str(),
                   value.c_str());
      return false;
    }
  }
  if (positional.size() == 1) {
    std::fprintf(stderr, "stream_wav: no model given: using the bundled model '%s'\n",
                 kDefaultModel);
    positional.insert(positional.begin(), kDefaultModel);
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "stream_wav: expected [MODEL] FILE.wav, got %zu arguments\n",
                 positional.size());
    return false;
  }
  if (flags->chunk_ms <= 0 || flags->chunk_ms > 60000) {
    std::fprintf(stderr, "stream_wav: --chunk_ms must be in [1, 60000], got %lld\n",
                 static_cast<long long>(flags->chunk_ms));
    return false;
  }
  if (flags->clip_stride_ms <= 0 || flags->clip_stride_ms > 60000) {
    std::fprintf(stderr, "stream_wav: --clip_stride_ms must be in [1, 60000], got %lld\n",
                 static_cast<long long>(flags->clip_stride_ms));
    return false;
  }
  flags->model_path = positional[0];
  flags->wav_path = positional[1];
  return true;
}

// A bundled model: the decoder settings its card recommends, for the flags not given,
// said in one line on stderr. A card that cannot be read is said, and the defaults stay.
void UseCardDecoder(Flags* flags) {
  kws::CardDecoderOptions card;
  try {
    card = kws::Model::BundledCardDecoder(flags->model_path);
  } catch (const kws::Error& e) {
    std::fprintf(stderr,
                 "stream_wav: no decoder settings from the card of the bundled model '%s' "
                 "(%s): the decoder defaults\n",
                 flags->model_path.c_str(), e.what());
    return;
  }
  char said[160] = "";
  if (card.detection_threshold && !flags->threshold_given) {
    flags->decoder.detection_threshold = *card.detection_threshold;
    std::snprintf(said, sizeof(said), " --detection_threshold %g",
                  static_cast<double>(*card.detection_threshold));
  }
  if (card.decision_delay_ms && !flags->delay_given) {
    flags->decoder.decision_delay_ms = *card.decision_delay_ms;
    const size_t used = std::strlen(said);
    std::snprintf(said + used, sizeof(said) - used, " --decision_delay_ms %lld",
                  static_cast<long long>(*card.decision_delay_ms));
  }
  if (card.average_window_duration_ms && !flags->window_given) {
    flags->decoder.average_window_duration_ms = *card.average_window_duration_ms;
    const size_t used = std::strlen(said);
    std::snprintf(said + used, sizeof(said) - used, " --average_window_ms %lld",
                  static_cast<long long>(*card.average_window_duration_ms));
  }
  if (card.allow_repeats && !flags->repeats_given) {
    flags->decoder.allow_repeats = *card.allow_repeats;
    const size_t used = std::strlen(said);
    std::snprintf(said + used, sizeof(said) - used, " --allow_repeats %s",
                  *card.allow_repeats ? "true" : "false");
  }
  if (said[0] != '\0')
    std::fprintf(stderr, "stream_wav:%s, as the card of the bundled model '%s' recommends\n", said,
                 flags->model_path.c_str());
}

// Streams `wav` through `model` chunk by chunk and prints each new command; returns the
// number of commands printed.
int StreamAndPrint(const kws::Model& model, const kws::WavData& wav, const Flags& flags) {
  const int rate = model.sample_rate();
  // The model checks that the hop is a whole number of feature frames.
  std::unique_ptr<kws::Stream> stream =
      model.CreateStream(static_cast<int>(flags.clip_stride_ms * rate / 1000));
  kws::RecognizeCommands decoder(model.labels(), flags.decoder);
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(1, flags.chunk_ms * rate / 1000));
  int printed = 0;
  // A new command is stamped with the time its averaged score passed the threshold.
  auto print = [&](const kws::RecognizeResult& result) {
    if (!result.is_new || result.label == "_silence_") return;
    std::printf("%lldms: %s (%.6f)\n", static_cast<long long>(result.time_ms), result.label.c_str(),
                result.score);
    std::fflush(stdout);  // a live app shows each command as it happens
    ++printed;
  };
  auto decode_ready_windows = [&]() {
    while (stream->IsReady()) {
      stream->Decode();
      const kws::StreamResult& window = stream->GetResult();
      print(decoder.Process(window.scores, window.start_sample * 1000 / rate));
    }
  };
  const std::vector<float>& samples = wav.samples;
  for (size_t offset = 0; offset < samples.size(); offset += chunk) {
    const size_t n = std::min(chunk, samples.size() - offset);
    stream->AcceptWaveform(samples.data() + offset, n);
    decode_ready_windows();
  }
  stream->InputFinished();
  decode_ready_windows();
  print(decoder.Finish());  // a command still being decided (--decision_delay_ms)
  return printed;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    PrintUsage(argv[0]);
    return 2;
  }
  try {
    flags.decoder.Validate();
    // A path that exists is a file; a bare name is a bundled model.
    std::ifstream probe(flags.model_path);
    const bool bundled = !probe && flags.model_path.find('/') == std::string::npos;
    const std::shared_ptr<const kws::Model> model =
        bundled ? kws::Model::LoadBundled(flags.model_path) : kws::Model::Load(flags.model_path);
    if (bundled) UseCardDecoder(&flags);
    const kws::WavData wav = kws::ReadWav(flags.wav_path, /*mono=*/true);
    if (wav.sample_rate != model->sample_rate()) {
      throw kws::WavError(flags.wav_path + ": sample rate " + std::to_string(wav.sample_rate) +
                          " Hz, the model takes " + std::to_string(model->sample_rate()) +
                          " Hz (resample the file first)");
    }
    std::fprintf(stderr,
                 "stream_wav: %s (%s, %d labels), %s (%.2f s), hop %lld ms, chunks of %lld ms, "
                 "%s\n",
                 flags.model_path.c_str(), model->architecture().c_str(), model->num_labels(),
                 flags.wav_path.c_str(), static_cast<double>(wav.frames()) / wav.sample_rate,
                 static_cast<long long>(flags.clip_stride_ms),
                 static_cast<long long>(flags.chunk_ms), flags.decoder.ToString().c_str());
    const int commands = StreamAndPrint(*model, wav, flags);
    std::fprintf(stderr, "stream_wav: %d commands\n", commands);
  } catch (const kws::Error& e) {
    std::fprintf(stderr, "stream_wav: %s\n", e.what());
    return 1;
  }
  return 0;
}
