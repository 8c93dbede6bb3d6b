/* Unit tests of the C API (kws/c_api.h), written in C99: every entry point with NULL,
 * freed, foreign and wrong-type handles, NULL outputs and wrong sizes (an error status and
 * a message, never a crash; under scripts/sanitize.sh also no sanitizer report), and
 * the real behaviour on a committed model and the real speech sample: streaming equals
 * whole-clip inference, the decoder reports a command, MFCC frames, WAV reading, the
 * per-thread last error, bundled models and their cards by name, and every committed
 * model-loader fuzz input loads or is rejected with a message through
 * kws_model_load_from_memory. */
#define _POSIX_C_SOURCE 200809L

#include "kws/c_api.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    ++g_checks;                                                                                \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              kws_last_error());                                                               \
      ++g_failures;                                                                            \
    }                                                                                          \
  } while (0)

/* `call` returns `status` and the last error contains `text`. */
#define CHECK_ERROR(call, status, text)                                                     \
  do {                                                                                      \
    kws_status got_ = (call);                                                               \
    ++g_checks;                                                                             \
    if (got_ != (status) || strstr(kws_last_error(), (text)) == NULL) {                     \
      fprintf(stderr, "%s:%d: %s returned %s (wanted %s), last error '%s' (wanted '%s')\n", \
              __FILE__, __LINE__, #call, kws_status_name(got_), kws_status_name(status),    \
              kws_last_error(), (text));                                                    \
      ++g_failures;                                                                         \
    }                                                                                       \
  } while (0)

#define CHECK_OK(call) CHECK((call) == KWS_OK)

static char g_model_path[4096 + 64];
static char g_regression_dir[4096];
static char g_sample_dir[4096];

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  data = (unsigned char*)malloc((size_t)n + 1);
  if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

static kws_model* load_model(void) {
  kws_model* model = NULL;
  if (kws_model_load(g_model_path, &model) != KWS_OK) {
    fprintf(stderr, "cannot load %s: %s\n", g_model_path, kws_last_error());
    exit(1);
  }
  return model;
}

/* The first real "yes" clip of the sample, mono at 16 kHz. */
static kws_wav* load_yes(void) {
  char path[8192];
  DIR* d;
  struct dirent* e;
  char best[1024] = "";
  kws_wav* wav = NULL;
  snprintf(path, sizeof path, "%s/yes", g_sample_dir);
  d = opendir(path);
  if (d == NULL) {
    fprintf(stderr, "real sample folder %s is missing\n", path);
    exit(1);
  }
  while ((e = readdir(d)) != NULL) {
    if (strstr(e->d_name, ".wav") && (best[0] == '\0' || strcmp(e->d_name, best) < 0)) {
      snprintf(best, sizeof best, "%s", e->d_name);
    }
  }
  closedir(d);
  snprintf(path, sizeof path, "%s/yes/%s", g_sample_dir, best);
  if (kws_wav_read(path, &wav) != KWS_OK) {
    fprintf(stderr, "cannot read %s: %s\n", path, kws_last_error());
    exit(1);
  }
  return wav;
}

static void test_version_and_status_names(void) {
  const char* v = kws_version();
  const char* info = kws_build_info();
  CHECK(v != NULL && strchr(v, '.') != NULL);
  CHECK(strncmp(info, "kws ", 4) == 0 && strstr(info, v) != NULL);
  char api[32];
  snprintf(api, sizeof(api), "C API %d;", KWS_C_API_VERSION);
  CHECK(strstr(info, api) != NULL && strstr(info, "compiler ") != NULL);
  CHECK(kws_c_api_version() == KWS_C_API_VERSION && KWS_C_API_VERSION == 6);
  CHECK(strcmp(kws_status_name(KWS_OK), "KWS_OK") == 0);
  CHECK(strcmp(kws_status_name(KWS_ERROR_MODEL), "KWS_ERROR_MODEL") == 0);
  CHECK(strcmp(kws_status_name((kws_status)99), "unknown status") == 0);
}

static void test_model_load_errors(void) {
  kws_model* model = (kws_model*)&g_checks; /* must stay untouched on failure */
  kws_model* const sentinel = model;
  unsigned char* bytes;
  size_t size = 0;
  char name[64];

  CHECK_ERROR(kws_model_load("/nonexistent/model.kws", &model), KWS_ERROR_IO,
              "/nonexistent/model.kws");
  CHECK(model == sentinel);
  CHECK_ERROR(kws_model_load(NULL, &model), KWS_ERROR_INVALID_ARGUMENT, "path is NULL");
  CHECK_ERROR(kws_model_load(g_model_path, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "output pointer out is NULL");

  bytes = read_file(g_model_path, &size);
  CHECK(bytes != NULL && size > 100);
  CHECK_ERROR(kws_model_load_from_memory(bytes, 100, "cut.kws", &model), KWS_ERROR_MODEL,
              "kws_model_load_from_memory: cut.kws: ");
  CHECK_ERROR(kws_model_load_from_memory(bytes, 0, NULL, &model), KWS_ERROR_MODEL, "<memory>");
  CHECK_ERROR(kws_model_load_from_memory(NULL, 10, "x.kws", &model), KWS_ERROR_INVALID_ARGUMENT,
              "x.kws: data is NULL");
  CHECK_ERROR(kws_model_load_from_memory(bytes, (size_t)1 << 31, "huge.kws", &model),
              KWS_ERROR_INVALID_ARGUMENT, "at most 1 GiB");
  CHECK_ERROR(kws_model_load_from_memory(bytes, size, "m.kws", NULL), KWS_ERROR_INVALID_ARGUMENT,
              "out is NULL");
  CHECK(model == sentinel);
  /* A corrupted byte in the header is named with the given name. */
  bytes[9] ^= 0x55;
  snprintf(name, sizeof name, "flipped.kws");
  CHECK_ERROR(kws_model_load_from_memory(bytes, size, name, &model), KWS_ERROR_MODEL,
              "flipped.kws");
  bytes[9] ^= 0x55;
  /* The bytes are copied: the model outlives them. */
  model = NULL;
  CHECK_OK(kws_model_load_from_memory(bytes, size, "m.kws", &model));
  memset(bytes, 0, size);
  free(bytes);
  {
    int32_t n = 0;
    const char* label = NULL;
    CHECK_OK(kws_model_num_labels(model, &n));
    CHECK(n == 3);
    CHECK_OK(kws_model_label(model, 2, &label));
    CHECK(label != NULL && strcmp(label, "yes") == 0);
  }
  CHECK_OK(kws_model_free(model));
}

static void write_file(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  CHECK(f != NULL && fwrite(data, 1, size, f) == size);
  if (f != NULL) fclose(f);
}

static void write_text(const char* path, const char* text) { write_file(path, text, strlen(text)); }

/* A models folder made here: tiny.kws (the committed model) with a card, nocard.kws
 * without one, broken.json a card that is not JSON, far.json one whose delay is out of
 * range (and wide.json, made later, one whose averaging window is). */
static void test_bundled_models(void) {
  char dir[] = "/tmp/kws_c_api_models_XXXXXX";
  char path[4200];
  unsigned char* bytes;
  size_t size = 0;
  kws_model* model = NULL;
  kws_model* const sentinel = (kws_model*)&g_checks;
  float threshold = -1.0f;
  int32_t has_threshold = -1, has_delay = -1, has_window = -1, n = 0;
  int32_t repeats = -1, has_repeats = -1;
  int64_t delay = -1, window = -1;
  const char* env = getenv("KWS_MODELS_DIR");
  char saved_env[4096] = "";
  if (env != NULL) snprintf(saved_env, sizeof saved_env, "%s", env);
  unsetenv("KWS_MODELS_DIR");
  CHECK(mkdtemp(dir) != NULL);
  bytes = read_file(g_model_path, &size);
  CHECK(bytes != NULL);
  if (bytes == NULL) return;
  snprintf(path, sizeof path, "%s/tiny.kws", dir);
  write_file(path, bytes, size);
  snprintf(path, sizeof path, "%s/nocard.kws", dir);
  write_file(path, bytes, size);
  free(bytes);
  snprintf(path, sizeof path, "%s/tiny.json", dir);
  write_text(path,
             "{\"name\": \"tiny\", \"stream\": {\"recommended_threshold\": 0.45, "
             "\"recommended_decision_delay_ms\": 600, \"recommended_average_window_ms\": 250, "
             "\"recommended_allow_repeats\": true}}");
  snprintf(path, sizeof path, "%s/broken.json", dir);
  write_text(path, "{\"stream\": ");
  snprintf(path, sizeof path, "%s/far.json", dir);
  write_text(path, "{\"stream\": {\"recommended_decision_delay_ms\": 1e9}}");

  /* By name from the given folder: the same model as the file. */
  CHECK_OK(kws_model_load_bundled("tiny", dir, &model));
  CHECK_OK(kws_model_num_labels(model, &n));
  CHECK(n == 3);
  CHECK_OK(kws_model_free(model));
  model = sentinel;
  CHECK_ERROR(kws_model_load_bundled("missing", dir, &model), KWS_ERROR_IO,
              "no bundled model 'missing'");
  CHECK(strstr(kws_last_error(), "nocard, tiny") != NULL);
  CHECK_ERROR(kws_model_load_bundled("../tiny", dir, &model), KWS_ERROR_INVALID_ARGUMENT,
              "not a bundled model name");
  CHECK_ERROR(kws_model_load_bundled(NULL, dir, &model), KWS_ERROR_INVALID_ARGUMENT,
              "name is NULL");
  CHECK_ERROR(kws_model_load_bundled("tiny", dir, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK(model == sentinel);
  /* KWS_MODELS_DIR wins over the folder given. */
  setenv("KWS_MODELS_DIR", dir, 1);
  model = NULL;
  CHECK_OK(kws_model_load_bundled("tiny", "/nonexistent", &model));
  CHECK_OK(kws_model_free(model));
  /* No folder given (NULL): the default, here KWS_MODELS_DIR's. */
  model = NULL;
  CHECK_OK(kws_model_load_bundled("tiny", NULL, &model));
  CHECK_OK(kws_model_free(model));
  CHECK_OK(kws_bundled_card_decoder("tiny", NULL, &threshold, &has_threshold, &delay, &has_delay));
  CHECK(has_threshold == 1 && has_delay == 1 && delay == 600);
  unsetenv("KWS_MODELS_DIR");

  /* The card's recommendation; none without a card; a bad card named. */
  CHECK_OK(kws_bundled_card_decoder("tiny", dir, &threshold, &has_threshold, &delay, &has_delay));
  CHECK(has_threshold == 1 && fabsf(threshold - 0.45f) < 1e-6f);
  CHECK(has_delay == 1 && delay == 600);
  threshold = -1.0f;
  delay = -1;
  CHECK_OK(kws_bundled_card_decoder("nocard", dir, &threshold, &has_threshold, &delay, &has_delay));
  CHECK(has_threshold == 0 && has_delay == 0 && threshold == -1.0f && delay == -1);
  CHECK_ERROR(
      kws_bundled_card_decoder("broken", dir, &threshold, &has_threshold, &delay, &has_delay),
      KWS_ERROR_MODEL, "broken.json");
  CHECK_ERROR(kws_bundled_card_decoder("far", dir, &threshold, &has_threshold, &delay, &has_delay),
              KWS_ERROR_MODEL, "recommended_decision_delay_ms");
  CHECK_ERROR(kws_bundled_card_decoder("a/b", dir, &threshold, &has_threshold, &delay, &has_delay),
              KWS_ERROR_INVALID_ARGUMENT, "not a bundled model name");
  CHECK_ERROR(kws_bundled_card_decoder("tiny", dir, NULL, &has_threshold, &delay, &has_delay),
              KWS_ERROR_INVALID_ARGUMENT, "threshold is NULL");
  CHECK_ERROR(kws_bundled_card_decoder("tiny", dir, &threshold, &has_threshold, &delay, NULL),
              KWS_ERROR_INVALID_ARGUMENT, "has_decision_delay is NULL");
  CHECK(has_threshold == 0 && has_delay == 0); /* outputs untouched by failures */

  /* The averaging window the card's settings were chosen with (version 5). */
  CHECK_OK(kws_bundled_card_average_window("tiny", dir, &window, &has_window));
  CHECK(has_window == 1 && window == 250);
  window = -1;
  CHECK_OK(kws_bundled_card_average_window("nocard", dir, &window, &has_window));
  CHECK(has_window == 0 && window == -1);
  CHECK_ERROR(kws_bundled_card_average_window("broken", dir, &window, &has_window), KWS_ERROR_MODEL,
              "broken.json");
  CHECK_ERROR(kws_bundled_card_average_window("tiny", dir, NULL, &has_window),
              KWS_ERROR_INVALID_ARGUMENT, "average_window_ms is NULL");
  CHECK_ERROR(kws_bundled_card_average_window(NULL, dir, &window, &has_window),
              KWS_ERROR_INVALID_ARGUMENT, "name is NULL");
  snprintf(path, sizeof path, "%s/wide.json", dir);
  write_text(path, "{\"stream\": {\"recommended_average_window_ms\": 600001}}");
  CHECK_ERROR(kws_bundled_card_average_window("wide", dir, &window, &has_window), KWS_ERROR_MODEL,
              "recommended_average_window_ms must be an integer in [1, 600000]");
  CHECK(has_window == 0 && window == -1);

  /* Whether the card reports a word said again (version 6). */
  CHECK_OK(kws_bundled_card_allow_repeats("tiny", dir, &repeats, &has_repeats));
  CHECK(has_repeats == 1 && repeats == 1);
  repeats = -1;
  CHECK_OK(kws_bundled_card_allow_repeats("nocard", dir, &repeats, &has_repeats));
  CHECK(has_repeats == 0 && repeats == -1);
  CHECK_ERROR(kws_bundled_card_allow_repeats("tiny", dir, &repeats, NULL),
              KWS_ERROR_INVALID_ARGUMENT, "has_allow_repeats is NULL");
  snprintf(path, sizeof path, "%s/often.json", dir);
  write_text(path, "{\"stream\": {\"recommended_allow_repeats\": \"yes\"}}");
  CHECK_ERROR(kws_bundled_card_allow_repeats("often", dir, &repeats, &has_repeats), KWS_ERROR_MODEL,
              "often.json: stream.recommended_allow_repeats");
  CHECK(has_repeats == 0 && repeats == -1);

  {
    const char* names[] = {"tiny.kws", "nocard.kws", "tiny.json", "broken.json",
                           "far.json", "wide.json",  "often.json"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; ++i) {
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      CHECK(remove(path) == 0);
    }
    CHECK(rmdir(dir) == 0);
  }
  if (saved_env[0] != '\0') setenv("KWS_MODELS_DIR", saved_env, 1);
}

static void test_model_accessors(void) {
  kws_model* model = load_model();
  int32_t n = 0, rate = 0, clip = 0, stride = 0;
  int64_t memory = 0;
  const char* s = NULL;
  kws_mfcc_options fo;
  float scores[3];
  float* clip_samples;
  CHECK_OK(kws_model_num_labels(model, &n));
  CHECK_OK(kws_model_sample_rate(model, &rate));
  CHECK_OK(kws_model_clip_samples(model, &clip));
  CHECK_OK(kws_model_frame_stride_samples(model, &stride));
  CHECK(n == 3 && rate == 16000 && clip == 3200 && stride == 320);
  /* The layer outputs of one clip: at least the features (9 frames x 8 coefficients) and
   * the 3 logits, each padded to 16 floats. */
  CHECK_OK(kws_model_whole_clip_memory_bytes(model, &memory));
  CHECK(memory >= 4 * (80 + 16) && memory % 64 == 0 && memory < (1 << 20));
  CHECK_OK(kws_model_architecture(model, &s));
  CHECK(strcmp(s, "single_fc") == 0);
  CHECK_OK(kws_model_label(model, 0, &s));
  CHECK(strcmp(s, "_silence_") == 0);
  CHECK_OK(kws_model_label(model, 1, &s));
  CHECK(strcmp(s, "_unknown_") == 0);
  CHECK_ERROR(kws_model_label(model, 3, &s), KWS_ERROR_INVALID_ARGUMENT,
              "label index 3 is outside [0, 3)");
  CHECK_ERROR(kws_model_label(model, -1, &s), KWS_ERROR_INVALID_ARGUMENT, "label index -1");
  CHECK_ERROR(kws_model_label(model, 0, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERROR(kws_model_num_labels(model, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERROR(kws_model_sample_rate(model, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERROR(kws_model_clip_samples(model, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERROR(kws_model_frame_stride_samples(model, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "out is NULL");
  CHECK_ERROR(kws_model_architecture(model, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERROR(kws_model_whole_clip_memory_bytes(model, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "out is NULL");
  CHECK_ERROR(kws_model_mfcc_options(model, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_OK(kws_model_mfcc_options(model, &fo));
  CHECK(fo.sample_rate == 16000 && fo.dct_coefficient_count == 8 && fo.window_stride_ms == 20);

  clip_samples = (float*)calloc((size_t)clip + 1, sizeof(float));
  CHECK_ERROR(kws_model_predict(model, clip_samples, (size_t)clip + 1, scores, 3),
              KWS_ERROR_INVALID_ARGUMENT, "got 3201 samples; the model scores clips of 3200");
  CHECK_ERROR(kws_model_predict(model, clip_samples, (size_t)clip, scores, 2),
              KWS_ERROR_INVALID_ARGUMENT, "scores holds 2 values; the model has 3 labels");
  CHECK_ERROR(kws_model_predict(model, NULL, (size_t)clip, scores, 3), KWS_ERROR_INVALID_ARGUMENT,
              "samples is NULL");
  CHECK_ERROR(kws_model_predict(model, clip_samples, (size_t)clip, NULL, 3),
              KWS_ERROR_INVALID_ARGUMENT, "scores is NULL");
  CHECK_OK(kws_model_predict(model, clip_samples, (size_t)clip, scores, 3));
  CHECK(fabsf(scores[0] + scores[1] + scores[2] - 1.0f) < 1e-5f);
  free(clip_samples);
  CHECK_OK(kws_model_free(model));
}

/* Every entry point taking a handle, called with `bad` in place of it: an
 * KWS_ERROR_INVALID_HANDLE whose message contains `text`. */
static void check_all_reject(const void* bad, const char* text) {
  kws_model* m = (kws_model*)bad;
  kws_stream* s = (kws_stream*)bad;
  kws_recognizer* r = (kws_recognizer*)bad;
  kws_mfcc* f = (kws_mfcc*)bad;
  kws_wav* w = (kws_wav*)bad;
  int32_t i32 = 0;
  int64_t i64 = 0;
  size_t n = 0;
  const char* str = NULL;
  const float* fp = NULL;
  float scores[4] = {0};
  kws_stream* stream_out = NULL;
  kws_recognizer* recognizer_out = NULL;
  kws_recognizer_options ro;
  kws_mfcc_options mo;
  kws_recognition rec;
  kws_recognizer_options_default(&ro);
  kws_mfcc_options_default(&mo);

  CHECK_ERROR(kws_model_num_labels(m, &i32), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_label(m, 0, &str), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_architecture(m, &str), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_sample_rate(m, &i32), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_clip_samples(m, &i32), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_frame_stride_samples(m, &i32), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_whole_clip_memory_bytes(m, &i64), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_predict(m, scores, 4, scores, 4), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_model_mfcc_options(m, &mo), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_create(m, 320, &stream_out), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_recognizer_create_for_model(m, NULL, &recognizer_out), KWS_ERROR_INVALID_HANDLE,
              text);
  CHECK(stream_out == NULL && recognizer_out == NULL);

  CHECK_ERROR(kws_stream_accept_waveform(s, scores, 4), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_input_finished(s), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_is_ready(s, &i32), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_decode(s), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_result(s, scores, 4, &i64, &i64), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_reset(s), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_stream_hop_samples(s, &i32), KWS_ERROR_INVALID_HANDLE, text);

  CHECK_ERROR(kws_recognizer_process(r, scores, 4, 0, &rec), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_recognizer_reset(r), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_recognizer_set_options(r, &ro), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_recognizer_options_get(r, &ro), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_recognizer_set_decision_delay(r, 0), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_recognizer_finish(r, &rec), KWS_ERROR_INVALID_HANDLE, text);

  CHECK_ERROR(kws_mfcc_num_coefficients(f, &i32), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_mfcc_num_frames(f, 100, &n), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_mfcc_compute(f, scores, 4, scores, 4, &n), KWS_ERROR_INVALID_HANDLE, text);

  CHECK_ERROR(kws_wav_samples(w, &fp, &n), KWS_ERROR_INVALID_HANDLE, text);
  CHECK_ERROR(kws_wav_sample_rate(w, &i32), KWS_ERROR_INVALID_HANDLE, text);

  if (bad != NULL) {
    CHECK_ERROR(kws_model_free(m), KWS_ERROR_INVALID_HANDLE, "");
    CHECK_ERROR(kws_stream_free(s), KWS_ERROR_INVALID_HANDLE, "");
    CHECK_ERROR(kws_recognizer_free(r), KWS_ERROR_INVALID_HANDLE, "");
    CHECK_ERROR(kws_mfcc_free(f), KWS_ERROR_INVALID_HANDLE, "");
    CHECK_ERROR(kws_wav_free(w), KWS_ERROR_INVALID_HANDLE, "");
  }
}

static void test_bad_handles_never_crash(void) {
  int not_a_handle = 42;
  kws_model* model = load_model();
  kws_model* freed = load_model();
  kws_mfcc* mfcc = NULL;
  kws_stream* stream = NULL;

  /* NULL: every call says which argument; freeing NULL is allowed. */
  check_all_reject(NULL, "is NULL");
  CHECK_OK(kws_model_free(NULL));
  CHECK_OK(kws_stream_free(NULL));
  CHECK_OK(kws_recognizer_free(NULL));
  CHECK_OK(kws_mfcc_free(NULL));
  CHECK_OK(kws_wav_free(NULL));

  /* A pointer kws never made. */
  check_all_reject(&not_a_handle, "not a live");

  /* A freed handle, and a double free. */
  CHECK_OK(kws_model_free(freed));
  check_all_reject(freed, "not a live");
  CHECK_ERROR(kws_model_free(freed), KWS_ERROR_INVALID_HANDLE, "already freed");

  /* A handle of another type: each function names what it got. */
  CHECK_OK(kws_mfcc_create(NULL, &mfcc));
  CHECK_ERROR(kws_model_num_labels((kws_model*)mfcc, NULL), KWS_ERROR_INVALID_HANDLE,
              "model is a kws_mfcc, not a kws_model");
  CHECK_ERROR(kws_model_free((kws_model*)mfcc), KWS_ERROR_INVALID_HANDLE,
              "handle is a kws_mfcc, not a kws_model");
  CHECK_OK(kws_stream_create(model, 320, &stream));
  CHECK_ERROR(kws_stream_decode((kws_stream*)model), KWS_ERROR_INVALID_HANDLE,
              "stream is a kws_model, not a kws_stream");
  CHECK_ERROR(kws_mfcc_num_frames((kws_mfcc*)stream, 1, NULL), KWS_ERROR_INVALID_HANDLE,
              "mfcc is a kws_stream, not a kws_mfcc");
  CHECK_ERROR(kws_wav_samples((kws_wav*)stream, NULL, NULL), KWS_ERROR_INVALID_HANDLE,
              "wav is a kws_stream, not a kws_wav");
  CHECK_ERROR(kws_recognizer_reset((kws_recognizer*)mfcc), KWS_ERROR_INVALID_HANDLE,
              "recognizer is a kws_mfcc, not a kws_recognizer");
  /* ... and the right handles still work afterwards. */
  {
    int32_t hop = 0;
    CHECK_OK(kws_stream_hop_samples(stream, &hop));
    CHECK(hop == 320);
  }
  CHECK_OK(kws_stream_free(stream));
  CHECK_OK(kws_mfcc_free(mfcc));
  CHECK_OK(kws_model_free(model));
}

static void test_stream_equals_whole_clip(void) {
  kws_model* model = load_model();
  kws_wav* wav = load_yes();
  kws_stream* stream = NULL;
  const float* samples = NULL;
  size_t n = 0, fed = 0;
  int32_t clip = 0, ready = 0, hop = 0;
  float expected[3], got[3], small[2];
  int64_t start = -1, end = -1;
  int windows = 0;

  CHECK_OK(kws_wav_samples(wav, &samples, &n));
  CHECK_OK(kws_model_clip_samples(model, &clip));
  CHECK(n >= 8000);

  CHECK_ERROR(kws_stream_create(model, 0, &stream), KWS_ERROR_INVALID_ARGUMENT,
              "not a whole number of feature frames");
  CHECK_ERROR(kws_stream_create(model, 100, &stream), KWS_ERROR_INVALID_ARGUMENT,
              "hop of 100 samples");
  CHECK_ERROR(kws_stream_create(model, -320, &stream), KWS_ERROR_INVALID_ARGUMENT, "hop of");
  CHECK_ERROR(kws_stream_create(model, 320, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK(stream == NULL);
  CHECK_OK(kws_stream_create(model, 640, &stream));
  CHECK_OK(kws_stream_hop_samples(stream, &hop));
  CHECK(hop == 640);

  CHECK_ERROR(kws_stream_result(stream, got, 3, &start, &end), KWS_ERROR_INVALID_ARGUMENT,
              "no window decoded yet");
  CHECK_ERROR(kws_stream_decode(stream), KWS_ERROR_INVALID_ARGUMENT, "not complete");
  CHECK_ERROR(kws_stream_is_ready(stream, NULL), KWS_ERROR_INVALID_ARGUMENT, "ready is NULL");
  CHECK_ERROR(kws_stream_accept_waveform(stream, NULL, 5), KWS_ERROR_INVALID_ARGUMENT,
              "samples is NULL");
  CHECK_ERROR(kws_stream_accept_waveform(stream, samples, (size_t)1 << 29),
              KWS_ERROR_INVALID_ARGUMENT, "samples in one call; at most 268435456");
  CHECK_OK(kws_stream_accept_waveform(stream, NULL, 0));

  /* Microphone-sized chunks of 37 samples; every ready window equals whole-clip inference
   * on the same samples. */
  while (fed < n) {
    size_t chunk = n - fed < 37 ? n - fed : 37;
    CHECK_OK(kws_stream_accept_waveform(stream, samples + fed, chunk));
    fed += chunk;
    for (;;) {
      CHECK_OK(kws_stream_is_ready(stream, &ready));
      if (!ready) break;
      CHECK_OK(kws_stream_decode(stream));
      CHECK_OK(kws_stream_result(stream, got, 3, &start, &end));
      CHECK(start == (int64_t)windows * 640 && end == start + clip);
      CHECK_OK(kws_model_predict(model, samples + start, (size_t)clip, expected, 3));
      CHECK(fabsf(got[0] - expected[0]) < 1e-4f && fabsf(got[1] - expected[1]) < 1e-4f &&
            fabsf(got[2] - expected[2]) < 1e-4f);
      ++windows;
    }
  }
  CHECK(windows == (int)((n - (size_t)clip) / 640 + 1));
  CHECK_ERROR(kws_stream_result(stream, small, 2, &start, &end), KWS_ERROR_INVALID_ARGUMENT,
              "scores holds 2 values; the model has 3 labels");
  CHECK_ERROR(kws_stream_result(stream, NULL, 3, &start, &end), KWS_ERROR_INVALID_ARGUMENT,
              "scores is NULL");
  start = end = -1;
  CHECK_OK(kws_stream_result(stream, NULL, 0, &start, NULL));
  CHECK(start == (int64_t)(windows - 1) * 640 && end == -1);

  CHECK_OK(kws_stream_input_finished(stream));
  CHECK_ERROR(kws_stream_accept_waveform(stream, samples, 10), KWS_ERROR_INVALID_ARGUMENT,
              "after InputFinished");

  /* Reset: a fresh stream, first window at sample 0 again, same scores. */
  CHECK_OK(kws_stream_reset(stream));
  CHECK_ERROR(kws_stream_result(stream, got, 3, NULL, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "no window decoded yet");
  CHECK_OK(kws_stream_accept_waveform(stream, samples, (size_t)clip));
  CHECK_OK(kws_stream_is_ready(stream, &ready));
  CHECK(ready == 1);
  CHECK_OK(kws_stream_decode(stream));
  CHECK_OK(kws_stream_result(stream, got, 3, &start, &end));
  CHECK_OK(kws_model_predict(model, samples, (size_t)clip, expected, 3));
  CHECK(start == 0 && end == clip && fabsf(got[2] - expected[2]) < 1e-4f);

  /* The stream keeps its model alive. */
  CHECK_OK(kws_model_free(model));
  CHECK_OK(kws_stream_accept_waveform(stream, samples + clip, 640));
  CHECK_OK(kws_stream_decode(stream));
  CHECK_OK(kws_stream_result(stream, got, 3, &start, NULL));
  CHECK(start == 640);
  CHECK_OK(kws_stream_free(stream));
  CHECK_OK(kws_wav_free(wav));
}

static void test_recognizer(void) {
  const char* labels[] = {"_silence_", "_unknown_", "yes", "no"};
  const char* with_null[] = {"a", NULL};
  kws_recognizer_options o, got;
  kws_recognizer* r = NULL;
  kws_recognition rec;
  float scores[4];
  int64_t t;
  int detections = 0;
  int32_t repeats;

  CHECK_ERROR(kws_recognizer_options_default(NULL), KWS_ERROR_INVALID_ARGUMENT, "options is NULL");
  CHECK_OK(kws_recognizer_options_default(&o));
  CHECK(o.average_window_duration_ms == 1000 && fabsf(o.detection_threshold - 0.2f) < 1e-7f &&
        o.suppression_ms == 1500 && o.minimum_count == 3);

  CHECK_ERROR(kws_recognizer_create(NULL, 4, &o, &r), KWS_ERROR_INVALID_ARGUMENT, "labels is NULL");
  CHECK_ERROR(kws_recognizer_create(labels, 0, &o, &r), KWS_ERROR_INVALID_ARGUMENT,
              "num_labels is 0");
  CHECK_ERROR(kws_recognizer_create(labels, 70000, &o, &r), KWS_ERROR_INVALID_ARGUMENT,
              "num_labels is 70000");
  CHECK_ERROR(kws_recognizer_create(with_null, 2, &o, &r), KWS_ERROR_INVALID_ARGUMENT,
              "labels[1] is NULL");
  CHECK_ERROR(kws_recognizer_create(labels, 4, &o, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "out is NULL");
  o.detection_threshold = 1.5f;
  CHECK_ERROR(kws_recognizer_create(labels, 4, &o, &r), KWS_ERROR_INVALID_ARGUMENT,
              "detection_threshold must be in [0, 1]");
  CHECK(r == NULL);
  kws_recognizer_options_default(&o);
  o.average_window_duration_ms = 500;
  CHECK_OK(kws_recognizer_create(labels, 4, &o, &r));
  CHECK_OK(kws_recognizer_options_get(r, &got));
  CHECK(got.average_window_duration_ms == 500 && got.minimum_count == 3);

  CHECK_ERROR(kws_recognizer_process(r, scores, 3, 0, &rec), KWS_ERROR_INVALID_ARGUMENT,
              "got 3 scores; the recognizer has 4 labels");
  CHECK_ERROR(kws_recognizer_process(r, NULL, 4, 0, &rec), KWS_ERROR_INVALID_ARGUMENT,
              "scores is NULL");
  CHECK_ERROR(kws_recognizer_process(r, scores, 4, 0, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "out is NULL");

  /* Silence, then "yes" for a second: one new "yes" command, then silence again. */
  for (t = 0; t <= 3000; t += 30) {
    int yes = t >= 1000 && t < 2000;
    scores[0] = yes ? 0.05f : 0.9f;
    scores[1] = 0.05f;
    scores[2] = yes ? 0.9f : 0.05f;
    scores[3] = 0.0f;
    CHECK_OK(kws_recognizer_process(r, scores, 4, t, &rec));
    CHECK(rec.time_ms == t && rec.label != NULL);
    CHECK(strcmp(rec.label, labels[rec.label_index]) == 0);
    if (rec.is_new && rec.label_index != 0) {
      ++detections;
      CHECK(strcmp(rec.label, "yes") == 0 && rec.label_index == 2);
      CHECK(rec.score > 0.2f && rec.score <= 0.9f + 1e-6f);
      CHECK(t > 1000 && t < 1600);
    } else if (rec.is_new) {
      CHECK(detections == 1 && t > 2000); /* back to silence after the command */
    }
  }
  CHECK(detections == 1);
  CHECK_ERROR(kws_recognizer_process(r, scores, 4, 10, &rec), KWS_ERROR_INVALID_ARGUMENT,
              "time order");

  /* Bad options leave the recognizer as it was; good ones replace them and reset. */
  o.minimum_count = 0;
  CHECK_ERROR(kws_recognizer_set_options(r, &o), KWS_ERROR_INVALID_ARGUMENT,
              "minimum_count must be in [1, ");
  CHECK_ERROR(kws_recognizer_set_options(r, NULL), KWS_ERROR_INVALID_ARGUMENT, "options is NULL");
  CHECK_OK(kws_recognizer_options_get(r, &got));
  CHECK(got.minimum_count == 3 && got.average_window_duration_ms == 500);
  o.minimum_count = 1;
  o.detection_threshold = 0.95f;
  CHECK_OK(kws_recognizer_set_options(r, &o));
  CHECK_OK(kws_recognizer_options_get(r, &got));
  CHECK(got.minimum_count == 1 && fabsf(got.detection_threshold - 0.95f) < 1e-7f);
  CHECK_OK(kws_recognizer_process(r, scores, 4, 10, &rec)); /* reset: time 10 is fine */
  CHECK(rec.is_new == 0);
  CHECK_OK(kws_recognizer_reset(r));
  CHECK_OK(kws_recognizer_free(r));

  /* A decision delay: "no" passes the threshold first, "yes" peaks higher within 300 ms;
   * the command is "yes", reported after the delay with the time "no" passed. */
  kws_recognizer_options_default(&o);
  o.average_window_duration_ms = 3;
  o.minimum_count = 1;
  o.detection_threshold = 0.5f;
  CHECK_OK(kws_recognizer_create(labels, 4, &o, &r));
  CHECK_ERROR(kws_recognizer_set_decision_delay(r, 10001), KWS_ERROR_INVALID_ARGUMENT,
              "decision_delay_ms must be in [0, 10000]");
  CHECK_ERROR(kws_recognizer_set_decision_delay(r, -1), KWS_ERROR_INVALID_ARGUMENT,
              "decision_delay_ms must be in [0, 10000]");
  CHECK_ERROR(kws_recognizer_decision_delay(r, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_OK(kws_recognizer_decision_delay(r, &t));
  CHECK(t == 0);
  CHECK_OK(kws_recognizer_set_decision_delay(r, 300));
  CHECK_OK(kws_recognizer_set_options(r, &o)); /* keeps the delay */
  CHECK_OK(kws_recognizer_decision_delay(r, &t));
  CHECK(t == 300);
  detections = 0;
  for (t = 0; t <= 1500; t += 50) {
    int word = t < 500 ? 0 : t < 600 ? 3 : t < 1000 ? 2 : 0;
    scores[0] = scores[1] = scores[2] = scores[3] = 0.02f;
    scores[word] = word == 3 ? 0.6f : 0.94f;
    CHECK_OK(kws_recognizer_process(r, scores, 4, t, &rec));
    if (rec.is_new && rec.label_index != 0) {
      ++detections;
      CHECK(rec.label_index == 2 && strcmp(rec.label, "yes") == 0);
      CHECK(rec.time_ms == 500 && t == 850 && fabsf(rec.score - 0.94f) < 1e-6f);
    }
  }
  CHECK(detections == 1);
  /* At the end of input, finish() reports the command still being decided, once. */
  scores[0] = scores[1] = scores[2] = 0.02f;
  scores[3] = 0.94f;
  CHECK_OK(kws_recognizer_process(r, scores, 4, 3000, &rec));
  CHECK(rec.is_new == 0);
  CHECK_ERROR(kws_recognizer_finish(r, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_OK(kws_recognizer_finish(r, &rec));
  CHECK(rec.is_new == 1 && rec.label_index == 3 && strcmp(rec.label, "no") == 0 &&
        rec.time_ms == 3000);
  CHECK_OK(kws_recognizer_finish(r, &rec));
  CHECK(rec.is_new == 0);
  CHECK_OK(kws_recognizer_free(r));

  /* allow_repeats (version 6): "yes" said twice 2 s apart, with no silence reported
   * between, is one command by the classic rule and two with repeats allowed. */
  kws_recognizer_options_default(&o);
  o.average_window_duration_ms = 3;
  o.minimum_count = 1;
  o.detection_threshold = 0.5f;
  for (repeats = 0; repeats <= 1; ++repeats) {
    int32_t allowed = -1;
    CHECK_OK(kws_recognizer_create(labels, 4, &o, &r));
    CHECK_OK(kws_recognizer_allow_repeats(r, &allowed));
    CHECK(allowed == 0);
    CHECK_ERROR(kws_recognizer_set_allow_repeats(r, 2), KWS_ERROR_INVALID_ARGUMENT,
                "allow_repeats must be 0 or 1, got 2");
    CHECK_ERROR(kws_recognizer_allow_repeats(r, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
    CHECK_OK(kws_recognizer_set_allow_repeats(r, repeats));
    CHECK_OK(kws_recognizer_set_options(r, &o)); /* keeps it */
    CHECK_OK(kws_recognizer_allow_repeats(r, &allowed));
    CHECK(allowed == repeats);
    detections = 0;
    for (t = 0; t <= 4000; t += 50) {
      int word = (t >= 500 && t < 700) || (t >= 2500 && t < 2700) ? 2 : 1;
      scores[0] = scores[1] = scores[2] = scores[3] = 0.1f;
      scores[word] = word == 2 ? 0.9f : 0.4f;
      CHECK_OK(kws_recognizer_process(r, scores, 4, t, &rec));
      if (rec.is_new) {
        ++detections;
        CHECK(rec.label_index == 2 && (rec.time_ms == 500 || rec.time_ms == 2500));
      }
    }
    CHECK(detections == 1 + repeats);
    CHECK_OK(kws_recognizer_free(r));
  }

  /* Without `_silence_` in the labels, the undecided answer is `_silence_`, index -1. */
  CHECK_OK(kws_recognizer_create(labels + 2, 2, NULL, &r));
  scores[0] = scores[1] = 0.5f;
  CHECK_OK(kws_recognizer_process(r, scores, 2, 0, &rec));
  CHECK(rec.label_index == -1 && strcmp(rec.label, "_silence_") == 0 && rec.is_new == 0);
  CHECK_OK(kws_recognizer_free(r));
}

static void test_recognizer_for_model(void) {
  kws_model* model = load_model();
  kws_recognizer* r = NULL;
  kws_recognition rec;
  const float scores[3] = {0.1f, 0.1f, 0.8f};
  CHECK_ERROR(kws_recognizer_create_for_model(model, NULL, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "out is NULL");
  CHECK_OK(kws_recognizer_create_for_model(model, NULL, &r));
  CHECK_OK(kws_model_free(model)); /* the recognizer copied the labels */
  CHECK_OK(kws_recognizer_process(r, scores, 3, 0, &rec));
  CHECK_OK(kws_recognizer_process(r, scores, 3, 150, &rec));
  CHECK(rec.is_new == 0); /* fewer than minimum_count results */
  CHECK_OK(kws_recognizer_process(r, scores, 3, 300, &rec));
  CHECK(rec.is_new == 1 && strcmp(rec.label, "yes") == 0);
  CHECK_OK(kws_recognizer_free(r));
}

static void test_mfcc(void) {
  kws_mfcc_options o;
  kws_mfcc* mfcc = NULL;
  kws_wav* wav = load_yes();
  const float* samples = NULL;
  size_t n = 0, frames = 0, i;
  int32_t coefficients = 0;
  float* all;
  float first[40];
  float averaged[86];
  int finite = 1, same = 1;

  CHECK_ERROR(kws_mfcc_options_default(NULL), KWS_ERROR_INVALID_ARGUMENT, "options is NULL");
  CHECK_OK(kws_mfcc_options_default(&o));
  CHECK(o.sample_rate == 16000 && o.window_size_ms == 30.0 && o.window_stride_ms == 10.0 &&
        o.filterbank_channel_count == 40 && o.lower_frequency_limit == 20.0 &&
        o.upper_frequency_limit == 4000.0 && o.dct_coefficient_count == 40 &&
        o.average_window_width == 0);
  o.average_window_width = -1;
  CHECK_ERROR(kws_mfcc_create(&o, &mfcc), KWS_ERROR_INVALID_ARGUMENT, "average_window_width");
  o.average_window_width = 258; /* a 512-point FFT has 257 bins */
  CHECK_ERROR(kws_mfcc_create(&o, &mfcc), KWS_ERROR_INVALID_ARGUMENT, "257 spectrogram bins");
  /* The averaged power spectrogram: ceil(257 / 3) = 86 values per frame, each >= 0. */
  o.average_window_width = 3;
  CHECK_OK(kws_mfcc_create(&o, &mfcc));
  CHECK_OK(kws_mfcc_num_coefficients(mfcc, &coefficients));
  CHECK(coefficients == 86);
  CHECK_OK(kws_wav_samples(wav, &samples, &n));
  CHECK_ERROR(kws_mfcc_compute(mfcc, samples, 480, averaged, 85, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "features holds");
  CHECK_OK(kws_mfcc_compute(mfcc, samples, 480, averaged, 86, &i));
  CHECK(i == 1);
  for (i = 0; i < 86; ++i) finite = finite && isfinite(averaged[i]) && averaged[i] >= 0.0f;
  CHECK(finite);
  CHECK_OK(kws_mfcc_free(mfcc));
  mfcc = NULL;
  kws_mfcc_options_default(&o);
  o.sample_rate = 0;
  CHECK_ERROR(kws_mfcc_create(&o, &mfcc), KWS_ERROR_INVALID_ARGUMENT, "sample_rate");
  kws_mfcc_options_default(&o);
  o.window_size_ms = -1.0;
  CHECK_ERROR(kws_mfcc_create(&o, &mfcc), KWS_ERROR_INVALID_ARGUMENT, "window_size_ms");
  CHECK_ERROR(kws_mfcc_create(NULL, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK(mfcc == NULL);
  CHECK_OK(kws_mfcc_create(NULL, &mfcc));
  CHECK_OK(kws_mfcc_num_coefficients(mfcc, &coefficients));
  CHECK(coefficients == 40);
  CHECK_OK(kws_mfcc_num_frames(mfcc, 16000, &frames));
  CHECK(frames == 98);
  CHECK_OK(kws_mfcc_num_frames(mfcc, 479, &frames));
  CHECK(frames == 0);
  CHECK_ERROR(kws_mfcc_num_frames(mfcc, 10, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_ERROR(kws_mfcc_num_frames(mfcc, (size_t)1 << 30, &frames), KWS_ERROR_INVALID_ARGUMENT,
              "at most");

  CHECK_OK(kws_wav_samples(wav, &samples, &n));
  CHECK_OK(kws_mfcc_num_frames(mfcc, n, &frames));
  all = (float*)malloc(frames * 40 * sizeof(float));
  CHECK_ERROR(kws_mfcc_compute(mfcc, samples, n, all, frames * 40 - 1, NULL),
              KWS_ERROR_INVALID_ARGUMENT, "features holds");
  CHECK_ERROR(kws_mfcc_compute(mfcc, samples, n, NULL, frames * 40, NULL),
              KWS_ERROR_INVALID_ARGUMENT, "features is NULL");
  CHECK_ERROR(kws_mfcc_compute(mfcc, NULL, n, all, frames * 40, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "samples is NULL");
  i = 0;
  CHECK_OK(kws_mfcc_compute(mfcc, samples, n, all, frames * 40, &i));
  CHECK(i == frames && frames == (n - 480) / 160 + 1);
  for (i = 0; i < frames * 40; ++i) finite = finite && isfinite(all[i]);
  CHECK(finite);
  /* A frame depends only on its own window: the first frame alone is the same. */
  CHECK_OK(kws_mfcc_compute(mfcc, samples, 480, first, 40, &i));
  CHECK(i == 1);
  for (i = 0; i < 40; ++i) same = same && first[i] == all[i];
  CHECK(same);
  /* Too short for one frame: zero frames, no output needed. */
  i = 99;
  CHECK_OK(kws_mfcc_compute(mfcc, samples, 100, NULL, 0, &i));
  CHECK(i == 0);
  free(all);
  CHECK_OK(kws_mfcc_free(mfcc));
  CHECK_OK(kws_wav_free(wav));
}

static void test_wav(void) {
  kws_wav* wav = NULL;
  const float* samples = NULL;
  size_t n = 0, i;
  int32_t rate = 0;
  float peak = 0.0f;
  static const unsigned char bad[] = "RIFF\x04\x00\x00\x00WAVE";

  CHECK_ERROR(kws_wav_read("/nonexistent/a.wav", &wav), KWS_ERROR_IO, "/nonexistent/a.wav");
  CHECK_ERROR(kws_wav_read(NULL, &wav), KWS_ERROR_INVALID_ARGUMENT, "path is NULL");
  CHECK_ERROR(kws_wav_read_from_memory(bad, 12, "bad.wav", &wav), KWS_ERROR_WAV,
              "bad.wav: missing fmt chunk");
  CHECK_ERROR(kws_wav_read_from_memory(NULL, 12, "n.wav", &wav), KWS_ERROR_INVALID_ARGUMENT,
              "n.wav: data is NULL");
  CHECK_ERROR(kws_wav_read_from_memory(bad, (size_t)1 << 31, "h.wav", &wav),
              KWS_ERROR_INVALID_ARGUMENT, "at most 1 GiB");
  CHECK(wav == NULL);
  wav = load_yes();
  CHECK_ERROR(kws_wav_samples(wav, NULL, &n), KWS_ERROR_INVALID_ARGUMENT, "samples is NULL");
  CHECK_ERROR(kws_wav_samples(wav, &samples, NULL), KWS_ERROR_INVALID_ARGUMENT,
              "num_samples is NULL");
  CHECK_ERROR(kws_wav_sample_rate(wav, NULL), KWS_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_OK(kws_wav_samples(wav, &samples, &n));
  CHECK_OK(kws_wav_sample_rate(wav, &rate));
  CHECK(rate == 16000 && n > 8000 && n <= 16000);
  for (i = 0; i < n; ++i) peak = fabsf(samples[i]) > peak ? fabsf(samples[i]) : peak;
  CHECK(peak > 0.01f && peak <= 1.0f);
  CHECK_OK(kws_wav_free(wav));
}

/* Each thread keeps its own last error while others fail concurrently. */
static void* error_thread(void* arg) {
  const char* name = (const char*)arg;
  char expected[128];
  kws_model* model = NULL;
  int i, ok = 1;
  snprintf(expected, sizeof expected, "kws_model_load_from_memory: %s: ", name);
  for (i = 0; i < 200; ++i) {
    if (kws_model_load_from_memory("abc", 3, name, &model) != KWS_ERROR_MODEL) ok = 0;
    if (strncmp(kws_last_error(), expected, strlen(expected)) != 0) ok = 0;
    if (kws_stream_decode(NULL) != KWS_ERROR_INVALID_HANDLE) ok = 0;
    if (strstr(kws_last_error(), "kws_stream_decode: stream is NULL") == NULL) ok = 0;
  }
  return ok ? arg : NULL;
}

static void test_last_error_is_per_thread(void) {
  pthread_t threads[4];
  static const char* names[4] = {"t0.kws", "t1.kws", "t2.kws", "t3.kws"};
  void* result;
  int i;
  kws_model* model = NULL;
  CHECK(kws_model_load_from_memory("xyz", 3, "main.kws", &model) == KWS_ERROR_MODEL);
  for (i = 0; i < 4; ++i) {
    CHECK(pthread_create(&threads[i], NULL, error_thread, (void*)names[i]) == 0);
  }
  for (i = 0; i < 4; ++i) {
    CHECK(pthread_join(threads[i], &result) == 0);
    CHECK(result == names[i]);
  }
  CHECK(strstr(kws_last_error(), "main.kws") != NULL);
  /* A successful call leaves the last error as it was. */
  CHECK_OK(kws_mfcc_options_default(&(kws_mfcc_options){0}));
  CHECK(strstr(kws_last_error(), "main.kws") != NULL);
}

/* Every committed model-loader fuzz input through kws_model_load_from_memory: loads and
 * runs, or fails with KWS_ERROR_MODEL and a message naming it. */
static void test_model_loader_regressions(void) {
  char dir[8192], path[8192 + 300];
  DIR* d;
  struct dirent* e;
  int accepted = 0, rejected = 0;
  snprintf(dir, sizeof dir, "%s/model_loader", g_regression_dir);
  d = opendir(dir);
  CHECK(d != NULL);
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL) {
    unsigned char* bytes;
    size_t size = 0;
    kws_model* model = NULL;
    kws_status status;
    if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    bytes = read_file(path, &size);
    CHECK(bytes != NULL);
    if (bytes == NULL) continue;
    status = kws_model_load_from_memory(size ? bytes : NULL, size, e->d_name, &model);
    if (status == KWS_OK) {
      int32_t labels = 0, clip = 0, stride = 0, ready = 0;
      kws_stream* stream = NULL;
      float* audio;
      float scores[64];
      ++accepted;
      CHECK_OK(kws_model_num_labels(model, &labels));
      CHECK_OK(kws_model_clip_samples(model, &clip));
      CHECK_OK(kws_model_frame_stride_samples(model, &stride));
      CHECK(labels >= 1 && labels <= 64 && clip > 0 && stride > 0);
      audio = (float*)calloc((size_t)clip, sizeof(float));
      CHECK_OK(kws_stream_create(model, stride, &stream));
      CHECK_OK(kws_stream_accept_waveform(stream, audio, (size_t)clip));
      CHECK_OK(kws_stream_is_ready(stream, &ready));
      CHECK(ready == 1);
      CHECK_OK(kws_stream_decode(stream));
      CHECK_OK(kws_stream_result(stream, scores, 64, NULL, NULL));
      CHECK_OK(kws_stream_free(stream));
      free(audio);
      CHECK_OK(kws_model_free(model));
    } else {
      ++rejected;
      CHECK(status == KWS_ERROR_MODEL);
      CHECK(strstr(kws_last_error(), e->d_name) != NULL);
      CHECK(model == NULL);
    }
    free(bytes);
  }
  closedir(d);
  printf("model_loader regressions: %d accepted, %d rejected\n", accepted, rejected);
  CHECK(accepted >= 4 && rejected >= 10);
}

int main(void) {
  const char* regression = getenv("KWS_FUZZ_REGRESSION_DIR");
  const char* sample = getenv("KWS_SAMPLE_DIR");
  snprintf(g_regression_dir, sizeof g_regression_dir, "%s",
           regression ? regression : "fuzz/regressions");
  snprintf(g_sample_dir, sizeof g_sample_dir, "%s",
           sample ? sample : "../shared/data/speech_commands_sample");
  snprintf(g_model_path, sizeof g_model_path, "%s/model_loader/seed_single_fc.kws",
           g_regression_dir);

  test_version_and_status_names();
  test_model_load_errors();
  test_bundled_models();
  test_model_accessors();
  test_bad_handles_never_crash();
  test_stream_equals_whole_clip();
  test_recognizer();
  test_recognizer_for_model();
  test_mfcc();
  test_wav();
  test_last_error_is_per_thread();
  test_model_loader_regressions();

  printf("c_api_test: %d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
