// libFuzzer target: kws::ParseGroundTruth on arbitrary text (see fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kws_fuzz::FuzzGroundTruth(data, size);
  return 0;
}
