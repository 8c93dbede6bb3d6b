// libFuzzer target: the C API's kws_model_load_from_memory on arbitrary bytes (see
// fuzz_targets.h FuzzCApiModel).
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kws_fuzz::FuzzCApiModel(data, size);
  return 0;
}
