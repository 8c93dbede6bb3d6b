/* stream_wav_c: keyword spotting on a WAV file through the C API (kws/c_api.h), the way
 * an app in C, Swift, Kotlin or Go would do it. The file is fed to a kws_stream in chunks,
 * as a microphone callback would deliver them; every ready window's scores go to the
 * RecognizeCommands decoder, and new commands are printed as they are found:
 *
 *   1230ms: yes (0.912345)
 *
 * The time is the start of the window whose averaged score passed the threshold. `_silence_` is
 * never printed. Same output as the C++ example stream_wav for the same flags.
 *
 *   stream_wav_c [flags] [MODEL] FILE.wav
 *     MODEL                    a model.kws file or a bundled model's name (default: the
 *                              bundled speech_commands, from the installed models folder
 *                              or $KWS_MODELS_DIR)
 *     --clip_stride_ms N       hop between windows (default 30; whole feature frames)
 *     --chunk_ms N             audio handed over per call (default 100)
 *     --average_window_ms N    decoder averaging window (default 1000)
 *     --detection_threshold X  averaged score needed for a command (default 0.2)
 *     --suppression_ms N       no new command this soon after the last (default 1500)
 *     --minimum_count N        fewer results in the window: no decision (default 3)
 *     --decision_delay_ms N    decide N ms after the threshold is passed, on the label
 *                              whose average peaked highest (default 0: at once)
 *     --allow_repeats B        true/1: a word said again is reported again once the
 *                              suppression has passed (default false: the classic rule)
 *
 * A bundled model is decoded with the threshold and decision delay its model card recommends
 * (kws_bundled_card_decoder), the averaging window they were chosen with
 * (kws_bundled_card_average_window) and its repeats rule (kws_bundled_card_allow_repeats),
 * for the flags not given, and says so on stderr.
 *
 * Exit status: 0 on success, 1 for a bad model or WAV file, 2 for bad flags. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kws/c_api.h"

/* The folder of the bundled models: the installed package defines KWS_MODELS_DIR for the
 * code that links it; NULL is the folder the library was configured with. */
#ifdef KWS_MODELS_DIR
#define MODELS_DIR KWS_MODELS_DIR
#else
#define MODELS_DIR NULL
#endif
#define DEFAULT_MODEL "speech_commands"

typedef struct Flags {
  const char* model_path;
  const char* wav_path;
  long long clip_stride_ms;
  long long chunk_ms;
  kws_recognizer_options decoder;
  long long decision_delay_ms; /* set apart from the options struct (C API version 3) */
  int threshold_given;         /* --detection_threshold was given */
  int delay_given;             /* --decision_delay_ms was given */
  int window_given;            /* --average_window_ms was given */
  int allow_repeats;           /* set apart too (C API version 6) */
  int repeats_given;           /* --allow_repeats was given */
} Flags;

static int parse_int(const char* text, long long lo, long long hi, long long* value) {
  char* end = NULL;
  long long v;
  errno = 0;
  v = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) return 0;
  *value = v;
  return 1;
}

static int parse_float(const char* text, float* value) {
  char* end = NULL;
  float v;
  errno = 0;
  v = strtof(text, &end);
  if (errno != 0 || end == text || *end != '\0') return 0;
  *value = v;
  return 1;
}

static void usage(const char* program) {
  fprintf(stderr,
          "usage: %s [--clip_stride_ms N] [--chunk_ms N] [--average_window_ms N]\n"
          "          [--detection_threshold X] [--suppression_ms N] [--minimum_count N]\n"
          "          [--decision_delay_ms N] [--allow_repeats true|false] [MODEL] FILE.wav\n",
          program);
}

/* Fills `flags` from argv; prints what is wrong and returns 0 on a bad command line. */
static int parse_flags(int argc, char** argv, Flags* flags) {
  const char* positional[2];
  int count = 0, i;
  for (i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    const char* value;
    long long n = 0;
    int ok;
    if (strncmp(arg, "--", 2) != 0) {
      if (count == 2) {
        fprintf(stderr, "stream_wav_c: expected [MODEL] FILE.wav, got more arguments\n");
        return 0;
      }
      positional[count++] = arg;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "stream_wav_c: %s needs a value\n", arg);
      return 0;
    }
    value = argv[++i];
    if (strcmp(arg, "--clip_stride_ms") == 0) {
      ok = parse_int(value, 1, 60000, &flags->clip_stride_ms);
    } else if (strcmp(arg, "--chunk_ms") == 0) {
      ok = parse_int(value, 1, 60000, &flags->chunk_ms);
    } else if (strcmp(arg, "--average_window_ms") == 0) {
      ok = parse_int(value, INT32_MIN, INT32_MAX, &n);
      flags->decoder.average_window_duration_ms = n;
      flags->window_given = 1;
    } else if (strcmp(arg, "--detection_threshold") == 0) {
      ok = parse_float(value, &flags->decoder.detection_threshold);
      flags->threshold_given = 1;
    } else if (strcmp(arg, "--suppression_ms") == 0) {
      ok = parse_int(value, INT32_MIN, INT32_MAX, &n);
      flags->decoder.suppression_ms = n;
    } else if (strcmp(arg, "--minimum_count") == 0) {
      ok = parse_int(value, 0, 1000000, &n);
      flags->decoder.minimum_count = (int32_t)n;
    } else if (strcmp(arg, "--decision_delay_ms") == 0) {
      ok = parse_int(value, INT32_MIN, INT32_MAX, &flags->decision_delay_ms);
      flags->delay_given = 1;
    } else if (strcmp(arg, "--allow_repeats") == 0) {
      ok = 1;
      if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
        flags->allow_repeats = 1;
      } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
        flags->allow_repeats = 0;
      } else {
        ok = 0;
      }
      flags->repeats_given = 1;
    } else {
      fprintf(stderr, "stream_wav_c: unknown flag %s\n", arg);
      return 0;
    }
    if (!ok) {
      fprintf(stderr, "stream_wav_c: %s: '%s' is not a valid value\n", arg, value);
      return 0;
    }
  }
  if (count == 1) {
    fprintf(stderr, "stream_wav_c: no model given: using the bundled model '%s'\n", DEFAULT_MODEL);
    positional[1] = positional[0];
    positional[0] = DEFAULT_MODEL;
    count = 2;
  }
  if (count != 2) {
    fprintf(stderr, "stream_wav_c: expected [MODEL] FILE.wav, got %d arguments\n", count);
    return 0;
  }
  flags->model_path = positional[0];
  flags->wav_path = positional[1];
  return 1;
}

/* A bundled model: the decoder settings its card recommends, for the flags not given, said
 * in one line on stderr. A card that cannot be read is said, and the defaults stay. */
static void use_card_decoder(Flags* flags) {
  float threshold = 0.0f;
  int64_t delay = 0, window = 0;
  int32_t has_threshold = 0, has_delay = 0, has_window = 0, repeats = 0, has_repeats = 0;
  char said[160] = "";
  size_t used;
  if (kws_bundled_card_decoder(flags->model_path, MODELS_DIR, &threshold, &has_threshold, &delay,
                               &has_delay) != KWS_OK ||
      kws_bundled_card_average_window(flags->model_path, MODELS_DIR, &window, &has_window) !=
          KWS_OK ||
      kws_bundled_card_allow_repeats(flags->model_path, MODELS_DIR, &repeats, &has_repeats) !=
          KWS_OK) {
    fprintf(stderr,
            "stream_wav_c: no decoder settings from the card of the bundled model '%s' "
            "(%s): the decoder defaults\n",
            flags->model_path, kws_last_error());
    return;
  }
  if (has_threshold && !flags->threshold_given) {
    flags->decoder.detection_threshold = threshold;
    snprintf(said, sizeof said, " --detection_threshold %g", (double)threshold);
  }
  if (has_delay && !flags->delay_given) {
    flags->decision_delay_ms = delay;
    used = strlen(said);
    snprintf(said + used, sizeof said - used, " --decision_delay_ms %lld", (long long)delay);
  }
  if (has_window && !flags->window_given) {
    flags->decoder.average_window_duration_ms = window;
    used = strlen(said);
    snprintf(said + used, sizeof said - used, " --average_window_ms %lld", (long long)window);
  }
  if (has_repeats && !flags->repeats_given) {
    flags->allow_repeats = repeats;
    used = strlen(said);
    snprintf(said + used, sizeof said - used, " --allow_repeats %s", repeats ? "true" : "false");
  }
  if (said[0] != '\0') {
    fprintf(stderr, "stream_wav_c:%s, as the card of the bundled model '%s' recommends\n", said,
            flags->model_path);
  }
}

/* Prints a new command other than `_silence_` (with the time its averaged score passed
 * the threshold); returns 1 when it printed one. */
static int print_command(const kws_recognition* answer) {
  if (!answer->is_new || strcmp(answer->label, "_silence_") == 0) return 0;
  printf("%lldms: %s (%.6f)\n", (long long)answer->time_ms, answer->label, answer->score);
  fflush(stdout); /* a live app shows each command as it happens */
  return 1;
}

/* Decodes every ready window, feeds the decoder and prints new commands; returns the
 * number printed, or -1 on error. */
static int decode_ready(kws_stream* stream, kws_recognizer* recognizer, float* scores,
                        size_t num_scores, int32_t rate) {
  int printed = 0;
  for (;;) {
    int32_t ready = 0;
    int64_t start = 0, time_ms;
    kws_recognition answer;
    if (kws_stream_is_ready(stream, &ready) != KWS_OK) return -1;
    if (!ready) return printed;
    if (kws_stream_decode(stream) != KWS_OK ||
        kws_stream_result(stream, scores, num_scores, &start, NULL) != KWS_OK) {
      return -1;
    }
    time_ms = start * 1000 / rate;
    if (kws_recognizer_process(recognizer, scores, num_scores, time_ms, &answer) != KWS_OK) {
      return -1;
    }
    printed += print_command(&answer);
  }
}

int main(int argc, char** argv) {
  Flags flags;
  kws_model* model = NULL;
  kws_wav* wav = NULL;
  kws_stream* stream = NULL;
  kws_recognizer* recognizer = NULL;
  const char* architecture = "";
  const float* samples = NULL;
  float* scores = NULL;
  size_t num_samples = 0, chunk, offset;
  int32_t rate = 0, wav_rate = 0, labels = 0;
  int total = 0, got, status = 1, bundled;
  kws_recognition last;

  memset(&flags, 0, sizeof flags);
  flags.clip_stride_ms = 30;
  flags.chunk_ms = 100;
  kws_recognizer_options_default(&flags.decoder);
  if (!parse_flags(argc, argv, &flags)) {
    usage(argv[0]);
    return 2;
  }

  {
    /* A path that exists is a file; a bare name is a bundled model. */
    FILE* probe = fopen(flags.model_path, "rb");
    bundled = probe == NULL && strchr(flags.model_path, '/') == NULL;
    if (probe != NULL) fclose(probe);
  }
  if ((bundled ? kws_model_load_bundled(flags.model_path, MODELS_DIR, &model)
               : kws_model_load(flags.model_path, &model)) != KWS_OK ||
      kws_model_sample_rate(model, &rate) != KWS_OK ||
      kws_model_num_labels(model, &labels) != KWS_OK ||
      kws_model_architecture(model, &architecture) != KWS_OK ||
      kws_wav_read(flags.wav_path, &wav) != KWS_OK ||
      kws_wav_samples(wav, &samples, &num_samples) != KWS_OK ||
      kws_wav_sample_rate(wav, &wav_rate) != KWS_OK) {
    fprintf(stderr, "stream_wav_c: %s\n", kws_last_error());
    goto done;
  }
  if (bundled) use_card_decoder(&flags);
  if (wav_rate != rate) {
    fprintf(stderr,
            "stream_wav_c: %s: sample rate %d Hz, the model takes %d Hz "
            "(resample the file first)\n",
            flags.wav_path, (int)wav_rate, (int)rate);
    goto done;
  }
  /* The model checks that the hop is a whole number of feature frames. */
  if (kws_stream_create(model, (int32_t)(flags.clip_stride_ms * rate / 1000), &stream) != KWS_OK ||
      kws_recognizer_create_for_model(model, &flags.decoder, &recognizer) != KWS_OK ||
      kws_recognizer_set_decision_delay(recognizer, flags.decision_delay_ms) != KWS_OK ||
      kws_recognizer_set_allow_repeats(recognizer, flags.allow_repeats) != KWS_OK) {
    fprintf(stderr, "stream_wav_c: %s\n", kws_last_error());
    goto done;
  }
  fprintf(stderr, "stream_wav_c: %s (%s, %d labels), %s (%.2f s), hop %lld ms, chunks of %lld ms\n",
          flags.model_path, architecture, (int)labels, flags.wav_path, (double)num_samples / rate,
          flags.clip_stride_ms, flags.chunk_ms);

  scores = (float*)malloc((size_t)labels * sizeof(float));
  if (scores == NULL) {
    fprintf(stderr, "stream_wav_c: out of memory\n");
    goto done;
  }
  chunk = (size_t)(flags.chunk_ms * rate / 1000);
  if (chunk == 0) chunk = 1;
  for (offset = 0; offset < num_samples; offset += chunk) {
    size_t n = num_samples - offset < chunk ? num_samples - offset : chunk;
    if (kws_stream_accept_waveform(stream, samples + offset, n) != KWS_OK) break;
    got = decode_ready(stream, recognizer, scores, (size_t)labels, rate);
    if (got < 0) break;
    total += got;
  }
  if (offset < num_samples || kws_stream_input_finished(stream) != KWS_OK ||
      (got = decode_ready(stream, recognizer, scores, (size_t)labels, rate)) < 0) {
    fprintf(stderr, "stream_wav_c: %s\n", kws_last_error());
    goto done;
  }
  total += got;
  /* A command still being decided (--decision_delay_ms). */
  if (kws_recognizer_finish(recognizer, &last) != KWS_OK) {
    fprintf(stderr, "stream_wav_c: %s\n", kws_last_error());
    goto done;
  }
  total += print_command(&last);
  fprintf(stderr, "stream_wav_c: %d commands\n", total);
  status = 0;

done:
  free(scores);
  kws_recognizer_free(recognizer);
  kws_stream_free(stream);
  kws_wav_free(wav);
  kws_model_free(model);
  return status;
}
