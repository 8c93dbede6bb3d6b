/* kws C API: a stable C99 interface to the kws native core, for callers that cannot use
 * C++ (C, Swift, Kotlin/Java through JNI, Rust, Go, C#, JavaScript through WebAssembly).
 *
 * Conventions (docs/c_api.md has the full reference):
 * - Objects are opaque handles created by kws_*_create / kws_*_load and released by the
 *   matching kws_*_free. Freeing NULL is allowed and does nothing.
 * - Every call that can fail returns a kws_status. On failure, kws_last_error() gives a
 *   message naming the file or argument and the problem; it is per thread and is left
 *   unchanged by calls that succeed. Outputs are written only on success.
 * - A NULL, freed or wrong-type handle, a NULL output pointer or a buffer that is too
 *   small gives KWS_ERROR_INVALID_HANDLE or KWS_ERROR_INVALID_ARGUMENT, never a crash.
 *   No C++ exception ever crosses this interface.
 * - A model is immutable: share one across threads. A stream, a recognizer and an MFCC
 *   front end are used by one thread at a time. Do not free a handle while another thread
 *   is using it. A stream keeps its model alive: the model may be freed first.
 * - Strings returned by the library are UTF-8, owned by the library and valid as long as
 *   the handle they came from (kws_version and kws_build_info: forever).
 */
#ifndef KWS_C_API_H_
#define KWS_C_API_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(KWS_C_API_SHARED)
#define KWS_C_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define KWS_C_EXPORT __attribute__((visibility("default")))
#else
#define KWS_C_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this interface. Grows with additions; a change that breaks callers bumps it
 * and the library's major version. */
#define KWS_C_API_VERSION 6

typedef enum kws_status {
  KWS_OK = 0,
  KWS_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer, bad size or option, wrong call order */
  KWS_ERROR_INVALID_HANDLE = 2,   /* NULL, freed or wrong-type handle */
  KWS_ERROR_MODEL = 3,            /* model.kws cannot be loaded (truncated, corrupt, ...) */
  KWS_ERROR_WAV = 4,              /* WAV file cannot be read */
  KWS_ERROR_IO = 5,               /* file cannot be opened or read */
  KWS_ERROR_OUT_OF_MEMORY = 6,
  KWS_ERROR_INTERNAL = 7 /* a bug in kws: please report it with the message */
} kws_status;

typedef struct kws_model kws_model;
typedef struct kws_stream kws_stream;
typedef struct kws_recognizer kws_recognizer;
typedef struct kws_mfcc kws_mfcc;
typedef struct kws_wav kws_wav;

/* ---- errors, version ------------------------------------------------------------- */

/* Message of the last failed call on this thread ("" if none). Valid until the next
 * failing call on the same thread. */
KWS_C_EXPORT const char* kws_last_error(void);
/* "KWS_OK", "KWS_ERROR_MODEL", ...; "unknown status" for other values. */
KWS_C_EXPORT const char* kws_status_name(kws_status status);
/* The library version, e.g. "0.1.0". */
KWS_C_EXPORT const char* kws_version(void);
/* One line: version, C API version, compiler, target, build flags, and the kernel set in
 * use when first called. */
KWS_C_EXPORT const char* kws_build_info(void);
/* KWS_C_API_VERSION of the library actually linked. */
KWS_C_EXPORT int kws_c_api_version(void);

/* ---- model ----------------------------------------------------------------------- */

/* Loads and validates a model.kws file. */
KWS_C_EXPORT kws_status kws_model_load(const char* path, kws_model** out);
/* Same from bytes in memory (copied: `data` may be freed afterwards). `name` is used in
 * error messages (NULL: "<memory>"). Inputs above 1 GiB are rejected. */
KWS_C_EXPORT kws_status kws_model_load_from_memory(const void* data, size_t size, const char* name,
                                                   kws_model** out);
KWS_C_EXPORT kws_status kws_model_free(kws_model* model);
/* Since version 4. Loads the bundled model `name` (e.g. "speech_commands": letters, digits,
 * '_', '-', '.', at most 64 characters), <folder>/<name>.kws. The folder is the environment
 * variable KWS_MODELS_DIR when set, else `models_dir`, else (NULL or "") the folder this
 * library was configured to install its models in (<prefix>/share/kws/models; a program
 * built with the installed CMake package can pass KWS_MODELS_DIR, the relocated folder the
 * package defines). KWS_ERROR_INVALID_ARGUMENT for a name that is not one; KWS_ERROR_IO,
 * listing the folder's models, when there is no such model. */
KWS_C_EXPORT kws_status kws_model_load_bundled(const char* name, const char* models_dir,
                                               kws_model** out);
/* Since version 4. The decoder settings the bundled model's card (<folder>/<name>.json,
 * the folder as for kws_model_load_bundled) recommends: *has_threshold is 1 and *threshold
 * its recommended detection threshold when the card gives one, else *has_threshold is 0
 * (*threshold untouched); the same for the decision delay. No card: both 0. A card over
 * 1 MiB, not JSON, or recommending values the decoder does not take: KWS_ERROR_MODEL
 * naming it. */
KWS_C_EXPORT kws_status kws_bundled_card_decoder(const char* name, const char* models_dir,
                                                 float* threshold, int32_t* has_threshold,
                                                 int64_t* decision_delay_ms,
                                                 int32_t* has_decision_delay);
/* Since version 5. The averaging window (kws_recognizer_options.average_window_duration_ms)
 * the bundled model's card recommends, the window its threshold and decision delay were
 * chosen with: *has_average_window is 1 and *average_window_ms the window when the card
 * gives one, else 0 (*average_window_ms untouched). Errors as kws_bundled_card_decoder's
 * (a window that is not a whole number of ms in [1, 600000]: KWS_ERROR_MODEL). */
KWS_C_EXPORT kws_status kws_bundled_card_average_window(const char* name, const char* models_dir,
                                                        int64_t* average_window_ms,
                                                        int32_t* has_average_window);
/* Since version 6. Whether the bundled model's card recommends reporting a word said again
 * (kws_recognizer_set_allow_repeats): *has_allow_repeats is 1 and *allow_repeats 1 or 0
 * when the card says, else 0 (*allow_repeats untouched). Errors as
 * kws_bundled_card_decoder's (a value that is not true or false: KWS_ERROR_MODEL). */
KWS_C_EXPORT kws_status kws_bundled_card_allow_repeats(const char* name, const char* models_dir,
                                                       int32_t* allow_repeats,
                                                       int32_t* has_allow_repeats);

KWS_C_EXPORT kws_status kws_model_num_labels(const kws_model* model, int32_t* out);
/* Label `index` in [0, num_labels), in model output order. */
KWS_C_EXPORT kws_status kws_model_label(const kws_model* model, int32_t index, const char** out);
KWS_C_EXPORT kws_status kws_model_architecture(const kws_model* model, const char** out);
/* Audio sample rate in Hz (16000 for the speech-commands models). */
KWS_C_EXPORT kws_status kws_model_sample_rate(const kws_model* model, int32_t* out);
/* Samples in one clip (the window the model scores), e.g. 16000. */
KWS_C_EXPORT kws_status kws_model_clip_samples(const kws_model* model, int32_t* out);
/* Samples between feature frames: every stream hop is a multiple of it (160 = 10 ms). */
KWS_C_EXPORT kws_status kws_model_frame_stride_samples(const kws_model* model, int32_t* out);
/* Bytes of layer outputs one whole-clip inference holds (outputs never needed at the same
 * time share memory; weights and scratch excluded). */
KWS_C_EXPORT kws_status kws_model_whole_clip_memory_bytes(const kws_model* model, int64_t* out);
/* Whole-clip inference: exactly clip_samples samples in, num_labels softmax scores out
 * (`num_scores` is the capacity of `scores`, at least num_labels). */
KWS_C_EXPORT kws_status kws_model_predict(const kws_model* model, const float* samples,
                                          size_t num_samples, float* scores, size_t num_scores);

/* ---- stream: cached-state streaming inference ------------------------------------- */

/* A stream scoring a window of clip_samples every `hop_samples` (a positive multiple of
 * the frame stride); the first window starts at sample 0. */
KWS_C_EXPORT kws_status kws_stream_create(const kws_model* model, int32_t hop_samples,
                                          kws_stream** out);
KWS_C_EXPORT kws_status kws_stream_free(kws_stream* stream);
/* Appends mono samples at the model's rate, nominally in [-1, 1]. `samples` may be NULL
 * only when num_samples is 0. Invalid after kws_stream_input_finished. */
KWS_C_EXPORT kws_status kws_stream_accept_waveform(kws_stream* stream, const float* samples,
                                                   size_t num_samples);
/* No more audio; windows already complete can still be decoded. */
KWS_C_EXPORT kws_status kws_stream_input_finished(kws_stream* stream);
/* *ready = 1 when the next window is complete, else 0. */
KWS_C_EXPORT kws_status kws_stream_is_ready(const kws_stream* stream, int32_t* ready);
/* Scores the next window (KWS_ERROR_INVALID_ARGUMENT when it is not ready). */
KWS_C_EXPORT kws_status kws_stream_decode(kws_stream* stream);
/* The last decoded window: its scores (num_labels softmax values copied into `scores`,
 * whose capacity `num_scores` must be at least num_labels; both may be 0/NULL to read only
 * the position) and its first and one-past-last samples (either pointer may be NULL).
 * KWS_ERROR_INVALID_ARGUMENT before the first decode. */
KWS_C_EXPORT kws_status kws_stream_result(const kws_stream* stream, float* scores,
                                          size_t num_scores, int64_t* start_sample,
                                          int64_t* end_sample);
/* Back to a fresh stream (no audio, next window at sample 0). */
KWS_C_EXPORT kws_status kws_stream_reset(kws_stream* stream);
KWS_C_EXPORT kws_status kws_stream_hop_samples(const kws_stream* stream, int32_t* out);

/* ---- RecognizeCommands: scores of successive windows -> commands ------------------ */

typedef struct kws_recognizer_options {
  int64_t average_window_duration_ms; /* scores are averaged over this window (1000) */
  float detection_threshold;          /* averaged score must exceed this (0.2) */
  int64_t suppression_ms;             /* no new command this soon after the last (1500) */
  int32_t minimum_count;              /* fewer results in the window: no decision (3) */
} kws_recognizer_options;

/* One answer of the decoder. `label` points into the recognizer (valid until it is
 * freed); label_index is -1 for `_silence_` when the labels do not contain it. */
typedef struct kws_recognition {
  const char* label; /* best averaged label, or the previous command when undecided */
  int32_t label_index;
  float score;     /* its averaged score (0 when undecided) */
  int32_t is_new;  /* 1 when this result triggers a new command */
  int64_t time_ms; /* time of the window that produced this answer */
} kws_recognition;

/* Fills `options` with the classic defaults shown above. */
KWS_C_EXPORT kws_status kws_recognizer_options_default(kws_recognizer_options* options);
/* A decoder for `num_labels` labels in model output order; `options` NULL = defaults. */
KWS_C_EXPORT kws_status kws_recognizer_create(const char* const* labels, int32_t num_labels,
                                              const kws_recognizer_options* options,
                                              kws_recognizer** out);
/* A decoder for a model's labels. */
KWS_C_EXPORT kws_status kws_recognizer_create_for_model(const kws_model* model,
                                                        const kws_recognizer_options* options,
                                                        kws_recognizer** out);
KWS_C_EXPORT kws_status kws_recognizer_free(kws_recognizer* recognizer);
/* Feeds one window's scores at `time_ms` (not earlier than the previous one). */
KWS_C_EXPORT kws_status kws_recognizer_process(kws_recognizer* recognizer, const float* scores,
                                               size_t num_scores, int64_t time_ms,
                                               kws_recognition* out);
/* Back to the start state (previous label `_silence_`, nothing queued). */
KWS_C_EXPORT kws_status kws_recognizer_reset(kws_recognizer* recognizer);
/* Replaces the options (validated first; on error nothing changes) and resets. The
 * decision delay and allow_repeats (below) are kept. */
KWS_C_EXPORT kws_status kws_recognizer_set_options(kws_recognizer* recognizer,
                                                   const kws_recognizer_options* options);
KWS_C_EXPORT kws_status kws_recognizer_options_get(const kws_recognizer* recognizer,
                                                   kws_recognizer_options* out);
/* Since C API version 3. The decision delay, 0-10000 ms (0, the default, is the classic
 * rule): a command is decided `delay_ms` after its averaged score passes the threshold,
 * as the label (other than `_silence_`) whose averaged score peaked highest meanwhile;
 * its kws_recognition comes from the first result past then, with is_new 1 and time_ms
 * the time the threshold was passed. Setting it validates (on error nothing changes)
 * and resets the decoder. */
KWS_C_EXPORT kws_status kws_recognizer_set_decision_delay(kws_recognizer* recognizer,
                                                          int64_t delay_ms);
KWS_C_EXPORT kws_status kws_recognizer_decision_delay(const kws_recognizer* recognizer,
                                                      int64_t* out);
/* Since C API version 6. allow 0 (the default, the classic rule): a label is reported
 * again only after another label (or `_silence_`) has been reported between, so a word
 * said twice in a row is reported once. allow 1: the same label may be reported again
 * once suppression_ms has passed since it last was. Other values: KWS_ERROR_INVALID_ARGUMENT
 * (nothing changes). Setting it resets the decoder. */
KWS_C_EXPORT kws_status kws_recognizer_set_allow_repeats(kws_recognizer* recognizer, int32_t allow);
KWS_C_EXPORT kws_status kws_recognizer_allow_repeats(const kws_recognizer* recognizer,
                                                     int32_t* out);
/* Since C API version 3. End of input: the command still being decided (is_new 1), or
 * is_new 0 with the previous command's label. The decoder can go on afterwards. */
KWS_C_EXPORT kws_status kws_recognizer_finish(kws_recognizer* recognizer, kws_recognition* out);

/* ---- MFCC features ---------------------------------------------------------------- */

typedef struct kws_mfcc_options {
  int32_t sample_rate;              /* 16000 */
  double window_size_ms;            /* 30 */
  double window_stride_ms;          /* 10 */
  int32_t filterbank_channel_count; /* 40 */
  double lower_frequency_limit;     /* 20 */
  double upper_frequency_limit;     /* 4000 */
  int32_t dct_coefficient_count;    /* 40 */
  /* 0: the MFCC. > 0: instead of the MFCC, the power spectrogram averaged over groups of
   * this many frequency bins (model.kws front end "average"; kws::MfccOptions). Added in
   * C API version 2: zero it (kws_mfcc_options_default, or `= {0}`) when filling the
   * struct field by field. */
  int32_t average_window_width; /* 0 */
} kws_mfcc_options;

KWS_C_EXPORT kws_status kws_mfcc_options_default(kws_mfcc_options* options);
/* The front-end options a model was trained with. */
KWS_C_EXPORT kws_status kws_model_mfcc_options(const kws_model* model, kws_mfcc_options* out);
/* Builds a front end (options validated; NULL = defaults). Thread-safe once built. */
KWS_C_EXPORT kws_status kws_mfcc_create(const kws_mfcc_options* options, kws_mfcc** out);
KWS_C_EXPORT kws_status kws_mfcc_free(kws_mfcc* mfcc);
KWS_C_EXPORT kws_status kws_mfcc_num_coefficients(const kws_mfcc* mfcc, int32_t* out);
/* Frames produced by `num_samples` samples: 0 below one window. */
KWS_C_EXPORT kws_status kws_mfcc_num_frames(const kws_mfcc* mfcc, size_t num_samples, size_t* out);
/* Writes num_frames x num_coefficients features, row-major, into `features`, whose
 * capacity `num_features` must hold them; *num_frames (may be NULL) gets the frame count. */
KWS_C_EXPORT kws_status kws_mfcc_compute(const kws_mfcc* mfcc, const float* samples,
                                         size_t num_samples, float* features, size_t num_features,
                                         size_t* num_frames);

/* ---- WAV files (PCM 8/16/24/32-bit, float; several channels are averaged to mono) -- */

KWS_C_EXPORT kws_status kws_wav_read(const char* path, kws_wav** out);
KWS_C_EXPORT kws_status kws_wav_read_from_memory(const void* data, size_t size, const char* name,
                                                 kws_wav** out);
KWS_C_EXPORT kws_status kws_wav_free(kws_wav* wav);
/* The mono samples in [-1, 1] (valid until kws_wav_free) and their count. */
KWS_C_EXPORT kws_status kws_wav_samples(const kws_wav* wav, const float** samples,
                                        size_t* num_samples);
KWS_C_EXPORT kws_status kws_wav_sample_rate(const kws_wav* wav, int32_t* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KWS_C_API_H_ */
