// The MFCC front end's frames on the target's baseline instructions (SSE2 on x86-64,
// Advanced SIMD on aarch64, SIMD128 in WebAssembly); compiled with -ffp-contract=off.
#include "mfcc_frames_impl.h"

namespace kws {
namespace kernels {

void MfccFramesBaseline(const MfccFrameArgs& args, const MfccWork& work, const float* samples,
                        int count, float* out) {
  MfccFrames(args, work, samples, count, out);
}

}  // namespace kernels
}  // namespace kws
