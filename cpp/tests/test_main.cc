// main() of every C++ test program. Under KWS_ISA=<set> (the per-kernel-set ctest runs),
// a set this build or CPU cannot run skips the whole program: the library would fall back
// to another set, so the results would say nothing about the requested one. The skip line
// has GoogleTest's "[  SKIPPED ]" form, which ctest reports as a skipped test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kws/version.h"

namespace {

// The KWS_ISA set when it is set and not runnable here; "" otherwise.
std::string UnrunnableRequestedSet() {
  const char* env = std::getenv("KWS_ISA");
  if (env == nullptr || *env == '\0') return "";
  const kws::BuildInfo b = kws::GetBuildInfo();
  const bool runnable =
      std::find(b.supported_sets.begin(), b.supported_sets.end(), env) != b.supported_sets.end();
  return runnable ? "" : env;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!GTEST_FLAG_GET(list_tests)) {
    const std::string set = UnrunnableRequestedSet();
    if (!set.empty()) {
      std::printf("[  SKIPPED ] KWS_ISA=%s is not a kernel set this build can run on this CPU\n",
                  set.c_str());
      return 0;
    }
  }
  return RUN_ALL_TESTS();
}
