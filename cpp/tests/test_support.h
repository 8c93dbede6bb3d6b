// Shared helpers for the C++ unit tests (GoogleTest; each *_test.cc is one test program,
// run through cpp/tests/test_main.cc).
#ifndef KWS_TESTS_TEST_SUPPORT_H_
#define KWS_TESTS_TEST_SUPPORT_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace kws_test {

// Directory of the real Speech Commands clips (KWS_SAMPLE_DIR, set by CMake for ctest).
inline std::string SampleDir() {
  const char* d = std::getenv("KWS_SAMPLE_DIR");
  return d ? d : "tests/data/speech_commands";
}

}  // namespace kws_test

// Expects `stmt` to throw `type` (or a subclass) whose what() contains `substr`.
#define KWS_EXPECT_THROW_MSG(stmt, type, substr)                                             \
  do {                                                                                       \
    auto kws_throwing_ = [&] { stmt; };                                                      \
    EXPECT_THAT(kws_throwing_, ::testing::ThrowsMessage<type>(::testing::HasSubstr(substr))) \
        << "from: " #stmt;                                                                   \
  } while (0)

#endif  // KWS_TESTS_TEST_SUPPORT_H_
