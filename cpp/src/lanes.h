// Lanes: kLanes doubles processed by one SIMD operation, and the few math helpers the MFCC
// front end needs on them (private to kws::core).
#ifndef KWS_SRC_LANES_H_
#define KWS_SRC_LANES_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#if defined(__AVX__)
#include <immintrin.h>
#endif

// Without AVX, GCC notes that 32-byte vector arguments change the ABI. Lanes never cross
// the library's boundary (this header is included only by kws::core's own .cc files), so
// the note is silenced for them.
#if defined(__GNUC__)  // GCC and Clang
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace kws {
namespace internal {

// Frames processed together: frame l of a group lives in lane l of every value, so each
// arithmetic operation works on kLanes frames (one SIMD register with AVX2).
constexpr int kLanes = 4;

#if defined(__GNUC__) || defined(__clang__)
// may_alias: the values live in plain double buffers (see LaneBuffer).
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

// An array of Lanes values aligned for vector loads; contents start zeroed.
class LaneBuffer {
 public:
  LaneBuffer() = default;
  explicit LaneBuffer(size_t n) { Resize(n); }
  void Resize(size_t n) {
    data_.reset(static_cast<double*>(::operator new(
        n* kLanes * sizeof(double), std::align_val_t(alignof(Lanes) > 32 ? alignof(Lanes) : 32))));
    size_ = n;
    for (size_t i = 0; i < n * kLanes; ++i) data_.get()[i] = 0.0;
  }
  size_t size() const { return size_; }
  Lanes* data() { return reinterpret_cast<Lanes*>(data_.get()); }

 private:
  struct Free {
    void operator()(double* p) const {
      ::operator delete(p, std::align_val_t(alignof(Lanes) > 32 ? alignof(Lanes) : 32));
    }
  };
  std::unique_ptr<double[], Free> data_;
  size_t size_ = 0;
};

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

}  // namespace internal
}  // namespace kws

#endif  // KWS_SRC_LANES_H_
