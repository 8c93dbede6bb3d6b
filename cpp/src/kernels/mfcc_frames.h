// The MFCC front end's inner loops (kws/mfcc.h): Hann window, FFT power spectrum,
// filterbank, log and DCT of four frames at a time. Like the kernels they are compiled
// once per instruction set and reached through the active KernelSet, but every build of
// them keeps multiply and add separate (-ffp-contract=off) and uses only correctly
// rounded operations, so every set computes the same bits as the baseline. Private to
// kws::core.
#ifndef KWS_SRC_KERNELS_MFCC_FRAMES_H_
#define KWS_SRC_KERNELS_MFCC_FRAMES_H_

#include <cstddef>

namespace kws {
namespace kernels {

// Frames computed together (one lane of every double-precision vector each).
constexpr int kMfccLanes = 4;

// A front end's fixed tables, built once by MfccFrontend (every pointer into memory it
// owns). Frame f of a call starts at samples + f * stride.
struct MfccFrameArgs {
  int window = 0;                // samples per frame
  int stride = 0;                // samples between frame starts
  const double* hann = nullptr;  // `window` values
  // Real FFT of fft_length = 2 * half points: bit_reverse (half entries), per-stage
  // twiddles (the stage of span h at [h - 1, 2h - 1), half - 1 entries), and the split's
  // cos / sin(2 pi k / fft_length), k = 0..half.
  int half = 0;
  const int* bit_reverse = nullptr;
  const double* twiddle_re = nullptr;
  const double* twiddle_im = nullptr;
  const double* split_cos = nullptr;
  const double* split_sin = nullptr;
  // Features per frame: dct_coefficient_count, or the averaged spectrogram's groups.
  int coefficients = 0;
  // Averaged spectrogram (average_width > 0): output j averages the bins
  // [j * average_width - average_pad_before, + average_width) that exist.
  int average_width = 0;
  int average_pad_before = 0;
  // MFCC (average_width == 0): bins [slot_begin[k], slot_end[k]) feed the falling side of
  // channel k - 1 (weight falling_weight[bin]) and the rising side of channel k, for
  // k = 0..channels; dct is coefficient-major (dct[i * channels + j]).
  int channels = 0;
  const int* slot_begin = nullptr;
  const int* slot_end = nullptr;
  const double* falling_weight = nullptr;
  const double* dct = nullptr;
};

// Per-thread working memory: each buffer holds kMfccLanes doubles per entry, 64-byte
// aligned. windowed: 2 * half entries, zero past `window` (the frames never write
// there); power: half + 1; fft: 2 * half; mel: channels + 2.
struct MfccWork {
  double* windowed = nullptr;
  double* power = nullptr;
  double* fft = nullptr;
  double* mel = nullptr;
};

// Writes `count` (1..kMfccLanes) frames' features, `coefficients` floats each, to `out`.
// A frame's values never depend on the other frames of its group.
using MfccFramesFn = void (*)(const MfccFrameArgs& args, const MfccWork& work, const float* samples,
                              int count, float* out);

// The builds (mfcc_baseline.cc: the target's baseline instructions; mfcc_avx2.cc: AVX2,
// x86-64 only).
void MfccFramesBaseline(const MfccFrameArgs& args, const MfccWork& work, const float* samples,
                        int count, float* out);
void MfccFramesAvx2(const MfccFrameArgs& args, const MfccWork& work, const float* samples,
                    int count, float* out);

}  // namespace kernels
}  // namespace kws

#endif  // KWS_SRC_KERNELS_MFCC_FRAMES_H_
