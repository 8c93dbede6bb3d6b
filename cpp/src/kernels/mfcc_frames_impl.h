// The MFCC front end's frames (mfcc_frames.h), written once over Lanes (kMfccLanes doubles
// one SIMD operation handles) and compiled by mfcc_baseline.cc and mfcc_avx2.cc with their
// own flags, both with -ffp-contract=off. Everything is in an anonymous namespace:
// internal linkage per build, so the linker never mixes two builds' inline functions.
#ifndef KWS_SRC_KERNELS_MFCC_FRAMES_IMPL_H_
#define KWS_SRC_KERNELS_MFCC_FRAMES_IMPL_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mfcc_frames.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

// Without AVX, GCC notes that 32-byte vector arguments change the ABI. Lanes never leave
// the translation unit that includes this header, so the note is silenced for them.
#if defined(__GNUC__)  // GCC and Clang
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace kws {
namespace kernels {
namespace {

// Frames processed together: frame l of a group lives in lane l of every value, so each
// arithmetic operation works on kLanes frames (one SIMD register with AVX2).
constexpr int kLanes = kMfccLanes;
static_assert(kLanes == 4, "Lanes, Splat and MfccFrames are written for four lanes");

#if defined(__GNUC__) || defined(__clang__)
// may_alias: the values live in plain double buffers (MfccWork).
typedef double Lanes __attribute__((vector_size(kLanes * sizeof(double)), __may_alias__));
inline Lanes Splat(double c) { return Lanes{c, c, c, c}; }
#else
struct Lanes {
  double v[kLanes];
  double& operator[](int i) { return v[i]; }
  double operator[](int i) const { return v[i]; }
};
inline Lanes Splat(double c) { return Lanes{{c, c, c, c}}; }
inline Lanes operator+(Lanes a, Lanes b) {
  for (int i = 0; i < kLanes; ++i) a.v[i] += b.v[i];
  return a;
}
inline Lanes operator-(Lanes a, Lanes b) {
  for (int i = 0; i < kLanes; ++i) a.v[i] -= b.v[i];
  return a;
}
inline Lanes operator*(Lanes a, Lanes b) {
  for (int i = 0; i < kLanes; ++i) a.v[i] *= b.v[i];
  return a;
}
inline Lanes operator-(Lanes a) {
  for (int i = 0; i < kLanes; ++i) a.v[i] = -a.v[i];
  return a;
}
inline Lanes& operator+=(Lanes& a, Lanes b) { return a = a + b; }
#endif

// sqrt of each lane after rounding it to float32 (TensorFlow hands its power spectrum
// over as float32 before the filterbank takes the square root).
inline Lanes SqrtOfFloat32(Lanes v) {
#if defined(__GNUC__) || defined(__clang__)
  typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
  const Lanes rounded = __builtin_convertvector(__builtin_convertvector(v, Floats), Lanes);
#if defined(__AVX__)
  return _mm256_sqrt_pd(rounded);
#else
  Lanes out;
  for (int l = 0; l < kLanes; ++l) out[l] = std::sqrt(rounded[l]);
  return out;
#endif
#else
  Lanes out;
  for (int l = 0; l < kLanes; ++l)
    out[l] = std::sqrt(static_cast<double>(static_cast<float>(v[l])));
  return out;
#endif
}

// The bits of `from` as a `To` of the same size.
template <typename To, typename From>
inline To BitCast(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "BitCast needs equal sizes");
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

// Natural log of each lane, for lanes >= 1e-300 (the MFCC floor keeps them >= 1e-12);
// NaN and +inf lanes pass through. Within a few ulp of std::log: x = 2^e * m with m in
// [sqrt(1/2), sqrt(2)), log m = 2 atanh((m - 1) / (m + 1)) summed to s^9 (s = f^2 <= 0.03,
// first omitted term ~2e-17), e * ln 2 added in two parts to keep its low bits.
inline Lanes LogOfPositive(Lanes x) {
#if defined(__GNUC__) || defined(__clang__)
  using Ints = decltype(x < x);  // 64-bit integer lanes, as comparisons yield
  const Ints bits = BitCast<Ints>(x);
  const Ints mantissa_bits =
      (bits & (Ints{} + 0x000FFFFFFFFFFFFFLL)) | (Ints{} + 0x3FF0000000000000LL);
  Lanes m = BitCast<Lanes>(mantissa_bits);  // in [1, 2)
  Ints exponent = ((bits >> 52) & (Ints{} + 0x7FF)) - 1023;
  const Ints above = m > Splat(1.4142135623730951);  // -1 where m > sqrt(2)
  m = above ? m * Splat(0.5) : m;
  exponent -= above;
  // int64 -> double without AVX-512: place exponent + 2048 (>= 0) in the mantissa of 2^52.
  const Ints biased = (exponent + 2048) | (Ints{} + 0x4330000000000000LL);
  const Lanes e = BitCast<Lanes>(biased) - Splat(4503599627370496.0 + 2048.0);
  const Lanes f = (m - Splat(1.0)) / (m + Splat(1.0));
  const Lanes s = f * f;
  Lanes series = Splat(1.0 / 19);
  series = series * s + Splat(1.0 / 17);
  series = series * s + Splat(1.0 / 15);
  series = series * s + Splat(1.0 / 13);
  series = series * s + Splat(1.0 / 11);
  series = series * s + Splat(1.0 / 9);
  series = series * s + Splat(1.0 / 7);
  series = series * s + Splat(1.0 / 5);
  series = series * s + Splat(1.0 / 3);
  const Lanes log_m = Splat(2.0) * f + Splat(2.0) * f * s * series;
  const Lanes ln2_high = Splat(6.93147180369123816490e-01);  // few mantissa bits: e * it is exact
  const Lanes ln2_low = Splat(1.90821492927058770002e-10);
  const Lanes result = e * ln2_high + (e * ln2_low + log_m);
  const Ints finite = x < Splat(INFINITY);  // false for NaN and +inf
  return finite ? result : x;
#else
  Lanes out;
  for (int l = 0; l < kLanes; ++l) out[l] = std::log(x[l]);
  return out;
#endif
}

// (ar + i ai) * (wr + i wi) for a scalar twiddle.
inline void Rotate(const Lanes& ar, const Lanes& ai, double wr, double wi, Lanes* out_r,
                   Lanes* out_i) {
  const Lanes r = Splat(wr), i = Splat(wi);
  *out_r = ar * r - ai * i;
  *out_i = ar * i + ai * r;
}

// |X[k]|^2, k = 0..half, of the 2 * half real values `x` (a power of two), kLanes signals
// at a time, in double precision: the values are packed as half complex ones, transformed
// by an iterative radix-2 FFT (bit-reversed input order, two stages per pass over the
// data) and split into the spectrum of the real signal. `work` holds 2 * half values.
inline void PowerSpectrum(const MfccFrameArgs& a, const Lanes* x, Lanes* power, Lanes* work) {
  const int m = a.half;
  Lanes* re = work;
  Lanes* im = work + m;
  const int* rev = a.bit_reverse;
  // Pack x[2k] + i x[2k+1] into bit-reversed order so the stages run in place.
  for (int k = 0; k < m; ++k) {
    re[rev[k]] = x[2 * k];
    im[rev[k]] = x[2 * k + 1];
  }
  const double* twr = a.twiddle_re;
  const double* twi = a.twiddle_im;
  int h = 1;
  // Two radix-2 stages (spans h and 2h) per pass: four values are loaded, go through
  // both stages in registers, and are stored once.
  for (; 4 * h <= m; h *= 4) {
    const double* w1r = twr + (h - 1);
    const double* w1i = twi + (h - 1);
    const double* w2r = twr + (2 * h - 1);
    const double* w2i = twi + (2 * h - 1);
    for (int start = 0; start < m; start += 4 * h) {
      for (int j = 0; j < h; ++j) {
        const int ia = start + j, ib = ia + h, ic = ia + 2 * h, id = ia + 3 * h;
        Lanes tr, ti;
        // Span h: (a, b) and (c, d), twiddle w1[j].
        Rotate(re[ib], im[ib], w1r[j], w1i[j], &tr, &ti);
        const Lanes a1r = re[ia] + tr, a1i = im[ia] + ti;
        const Lanes b1r = re[ia] - tr, b1i = im[ia] - ti;
        Rotate(re[id], im[id], w1r[j], w1i[j], &tr, &ti);
        const Lanes c1r = re[ic] + tr, c1i = im[ic] + ti;
        const Lanes d1r = re[ic] - tr, d1i = im[ic] - ti;
        // Span 2h: (a, c) with w2[j], (b, d) with w2[j + h].
        Rotate(c1r, c1i, w2r[j], w2i[j], &tr, &ti);
        re[ia] = a1r + tr;
        im[ia] = a1i + ti;
        re[ic] = a1r - tr;
        im[ic] = a1i - ti;
        Rotate(d1r, d1i, w2r[j + h], w2i[j + h], &tr, &ti);
        re[ib] = b1r + tr;
        im[ib] = b1i + ti;
        re[id] = b1r - tr;
        im[id] = b1i - ti;
      }
    }
  }
  if (2 * h <= m) {  // an odd number of stages leaves one radix-2 stage
    const double* wr = twr + (h - 1);
    const double* wi = twi + (h - 1);
    for (int start = 0; start < m; start += 2 * h) {
      for (int j = 0; j < h; ++j) {
        const int ia = start + j, ib = ia + h;
        Lanes tr, ti;
        Rotate(re[ib], im[ib], wr[j], wi[j], &tr, &ti);
        re[ib] = re[ia] - tr;
        im[ib] = im[ia] - ti;
        re[ia] = re[ia] + tr;
        im[ia] = im[ia] + ti;
      }
    }
  }
  // Split the half-length transform Z into the real signal's spectrum:
  // X[k] = E[k] + exp(-2 pi i k / n) O[k], E = (Z[k] + conj Z[m-k]) / 2,
  // O = (Z[k] - conj Z[m-k]) / 2i.
  const Lanes dc = re[0] + im[0];
  const Lanes nyquist = re[0] - im[0];
  power[0] = dc * dc;
  power[m] = nyquist * nyquist;
  const Lanes half = Splat(0.5);
  for (int k = 1; k < m; ++k) {
    const Lanes zr = re[k], zi = im[k];
    const Lanes yr = re[m - k], yi = im[m - k];
    const Lanes er = half * (zr + yr), ei = half * (zi - yi);
    const Lanes orr = half * (zi + yi), oi = half * (yr - zr);
    const Lanes c = Splat(a.split_cos[k]), s = Splat(a.split_sin[k]);
    const Lanes xr = er + c * orr + s * oi;
    const Lanes xi = ei + c * oi - s * orr;
    power[k] = xr * xr + xi * xi;
  }
}

// The averaged spectrogram of `count` frames from their power spectra: each bin as the
// float32 TensorFlow hands over, summed in float32 in bin order, then divided by the
// number of bins in the group (padding is not counted).
inline void Average(const MfccFrameArgs& a, const Lanes* power, int count, float* out) {
  const int bins = a.half + 1;
  for (int l = 0; l < count; ++l) {
    float* o = out + static_cast<size_t>(l) * a.coefficients;
    for (int j = 0; j < a.coefficients; ++j) {
      const int begin = std::max(j * a.average_width - a.average_pad_before, 0);
      const int end = std::min(j * a.average_width - a.average_pad_before + a.average_width, bins);
      float sum = 0.0f;
      for (int i = begin; i < end; ++i) sum += static_cast<float>(power[i][l]);
      o[j] = sum / static_cast<float>(end - begin);
    }
  }
}

// MfccFramesFn (mfcc_frames.h). Every frame goes through the same lane arithmetic
// whatever its group, so a frame's values never depend on how the signal was chunked.
inline void MfccFrames(const MfccFrameArgs& a, const MfccWork& work, const float* samples,
                       int count, float* out) {
  constexpr double kFilterbankFloor = 1e-12;
  // Locals: Lanes may alias anything, so members would be reloaded after every store.
  const int window_length = a.window;
  const int num_channels = a.channels;
  const int num_coefficients = a.coefficients;
  const float* start[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    start[l] = samples + static_cast<size_t>(std::min(l, count - 1)) * a.stride;
  }
  Lanes* __restrict windowed = reinterpret_cast<Lanes*>(work.windowed);
  const double* __restrict w = a.hann;
  for (int i = 0; i < window_length; ++i) {
    const Lanes frame_values = {start[0][i], start[1][i], start[2][i], start[3][i]};
    windowed[i] = frame_values * Splat(w[i]);
  }
  Lanes* __restrict power = reinterpret_cast<Lanes*>(work.power);
  PowerSpectrum(a, windowed, power, reinterpret_cast<Lanes*>(work.fft));
  if (a.average_width > 0) {
    Average(a, power, count, out);
    return;
  }

  Lanes* __restrict mel = reinterpret_cast<Lanes*>(work.mel);
  for (int j = 0; j < num_channels + 2; ++j) mel[j] = Splat(0.0);
  // Bins of slot k (a contiguous run) feed the falling side of channel k - 1 (mel[k])
  // and the rising side of channel k (mel[k + 1]); sums stay in registers per run.
  const double* __restrict weights = a.falling_weight;
  for (int k = 0; k <= num_channels; ++k) {
    Lanes falling_sum = Splat(0.0), rising_sum = Splat(0.0);
    const int end = a.slot_end[k];
    for (int i = a.slot_begin[k]; i < end; ++i) {
      const Lanes magnitude = SqrtOfFloat32(power[i]);
      const Lanes falling = magnitude * Splat(weights[i]);
      falling_sum += falling;
      rising_sum += magnitude - falling;
    }
    mel[k] += falling_sum;
    mel[k + 1] += rising_sum;
  }
  // Log in place: mel[1 + j] becomes log(max(channel j, floor)).
  Lanes* __restrict log_mel = mel + 1;
  const Lanes floor = Splat(kFilterbankFloor);
  for (int j = 0; j < num_channels; ++j) {
    const Lanes v = log_mel[j];
    log_mel[j] = LogOfPositive(v < floor ? floor : v);  // NaN stays NaN, like TensorFlow
  }
  // DCT, four coefficients per pass: independent accumulators keep the adds pipelined.
  const double* __restrict d = a.dct;
  const size_t stride_out = static_cast<size_t>(num_coefficients);
  int i = 0;
  for (; i + 4 <= num_coefficients; i += 4) {
    const double* __restrict r0 = d + static_cast<size_t>(i) * num_channels;
    const double* __restrict r1 = r0 + num_channels;
    const double* __restrict r2 = r1 + num_channels;
    const double* __restrict r3 = r2 + num_channels;
    Lanes a0 = Splat(0.0), a1 = Splat(0.0), a2 = Splat(0.0), a3 = Splat(0.0);
    for (int j = 0; j < num_channels; ++j) {
      const Lanes v = log_mel[j];
      a0 += Splat(r0[j]) * v;
      a1 += Splat(r1[j]) * v;
      a2 += Splat(r2[j]) * v;
      a3 += Splat(r3[j]) * v;
    }
    for (int l = 0; l < count; ++l) {
      float* o = out + l * stride_out + i;
      o[0] = static_cast<float>(a0[l]);
      o[1] = static_cast<float>(a1[l]);
      o[2] = static_cast<float>(a2[l]);
      o[3] = static_cast<float>(a3[l]);
    }
  }
  for (; i < num_coefficients; ++i) {
    const double* __restrict row = d + static_cast<size_t>(i) * num_channels;
    Lanes acc = Splat(0.0);
    for (int j = 0; j < num_channels; ++j) acc += Splat(row[j]) * log_mel[j];
    for (int l = 0; l < count; ++l) out[l * stride_out + i] = static_cast<float>(acc[l]);
  }
}
}  // namespace
}  // namespace kernels
}  // namespace kws

#endif  // KWS_SRC_KERNELS_MFCC_FRAMES_IMPL_H_
