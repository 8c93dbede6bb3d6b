// The MFCC front end's frames with AVX2 (x86-64; this file is compiled with -mavx2
// -ffp-contract=off: four doubles per instruction, the baseline's bits).
#if defined(__x86_64__) || defined(_M_X64)
#include "mfcc_frames_impl.h"

namespace kws {
namespace kernels {

void MfccFramesAvx2(const MfccFrameArgs& args, const MfccWork& work, const float* samples,
                    int count, float* out) {
  MfccFrames(args, work, samples, count, out);
}

}  // namespace kernels
}  // namespace kws
#endif
