// Options structs from Python: an options object (or the C++ defaults) with keyword
// overrides, e.g. StreamingEvaluator(path, clip_stride_ms=20).
#ifndef KWS_BINDINGS_OPTIONS_H_
#define KWS_BINDINGS_OPTIONS_H_

#include <pybind11/pybind11.h>

#include <charconv>
#include <string>

#include "kws/error.h"

namespace kws {
namespace bindings {

// `options` (None: T's defaults) with each keyword set as a field of the same name;
// an unknown name is an InvalidArgument naming `what` and the name.
template <class T>
T OptionsWithOverrides(const pybind11::object& options, const pybind11::kwargs& overrides,
                       const char* what) {
  T base = options.is_none() ? T() : options.cast<T>();
  if (overrides.empty()) return base;
  pybind11::object copy = pybind11::cast(base);
  for (auto item : overrides) {
    const std::string name = pybind11::str(item.first);
    pybind11::object current = pybind11::none();
    if (!name.empty() && name[0] != '_' && pybind11::hasattr(copy, name.c_str())) {
      current = copy.attr(name.c_str());
    }
    if (current.is_none() || PyCallable_Check(current.ptr())) {
      throw InvalidArgument(std::string(what) + ": unknown option '" + name + "'");
    }
    pybind11::setattr(copy, item.first, item.second);
  }
  return copy.cast<T>();
}

// `x` as the Python float its shortest decimal text reads as: a threshold of 0.85f shows as
// 0.85 (not 0.8500000238418579) in dicts, JSON and model cards, and converts back to the
// same float.
inline pybind11::float_ ShortestFloat(float x) {
  char text[32];
  const std::to_chars_result r = std::to_chars(text, text + sizeof(text), x);
  return pybind11::float_(pybind11::str(text, static_cast<size_t>(r.ptr - text)));
}

}  // namespace bindings
}  // namespace kws

#endif  // KWS_BINDINGS_OPTIONS_H_
