/* The WebAssembly module's own translation unit: the C API comes from kws::core; this
 * file pins the struct layouts that cpp/wasm/kws_post.js reads from wasm memory. */
#include <stddef.h>

#include "kws/c_api.h"

_Static_assert(sizeof(void*) == 4, "kws.js expects wasm32");
_Static_assert(offsetof(kws_recognition, label) == 0, "kws_recognition.label");
_Static_assert(offsetof(kws_recognition, label_index) == 4, "kws_recognition.label_index");
_Static_assert(offsetof(kws_recognition, score) == 8, "kws_recognition.score");
_Static_assert(offsetof(kws_recognition, is_new) == 12, "kws_recognition.is_new");
_Static_assert(offsetof(kws_recognition, time_ms) == 16, "kws_recognition.time_ms");
_Static_assert(sizeof(kws_recognition) == 24, "kws_recognition size");
_Static_assert(offsetof(kws_recognizer_options, average_window_duration_ms) == 0, "ro.window");
_Static_assert(offsetof(kws_recognizer_options, detection_threshold) == 8, "ro.threshold");
_Static_assert(offsetof(kws_recognizer_options, suppression_ms) == 16, "ro.suppression");
_Static_assert(offsetof(kws_recognizer_options, minimum_count) == 24, "ro.minimum_count");
_Static_assert(sizeof(kws_recognizer_options) == 32, "kws_recognizer_options size");
_Static_assert(offsetof(kws_mfcc_options, sample_rate) == 0, "mo.sample_rate");
_Static_assert(offsetof(kws_mfcc_options, window_size_ms) == 8, "mo.window_size_ms");
_Static_assert(offsetof(kws_mfcc_options, window_stride_ms) == 16, "mo.window_stride_ms");
_Static_assert(offsetof(kws_mfcc_options, filterbank_channel_count) == 24, "mo.channels");
_Static_assert(offsetof(kws_mfcc_options, lower_frequency_limit) == 32, "mo.lower");
_Static_assert(offsetof(kws_mfcc_options, upper_frequency_limit) == 40, "mo.upper");
_Static_assert(offsetof(kws_mfcc_options, dct_coefficient_count) == 48, "mo.dct");
_Static_assert(offsetof(kws_mfcc_options, average_window_width) == 52, "mo.average");
_Static_assert(sizeof(kws_mfcc_options) == 56, "kws_mfcc_options size");

/* Unused: a module needs one entry point of its own. */
int kws_wasm_layout_version(void) { return KWS_C_API_VERSION; }
