// File-system paths in the bindings: accepted as Python accepts them in open() (str,
// bytes or os.PathLike; str encoded with the file-system encoding and its
// surrogateescape handler, so names that are not UTF-8 work), and returned as str
// decoded the same way.
#ifndef KWS_BINDINGS_FS_PATH_H_
#define KWS_BINDINGS_FS_PATH_H_

#include <pybind11/pybind11.h>

#include <string>

namespace kws {
namespace bindings {

// A path as the OS sees it (bytes).
struct FsPath {
  std::string value;
  operator const std::string&() const { return value; }
};

// A path (or a message holding one) as a Python str, undecodable bytes kept as
// surrogates, as os.fsdecode does.
inline pybind11::str PathStr(const std::string& path) {
  return pybind11::reinterpret_steal<pybind11::str>(
      PyUnicode_DecodeFSDefaultAndSize(path.data(), static_cast<Py_ssize_t>(path.size())));
}

}  // namespace bindings
}  // namespace kws

namespace pybind11 {
namespace detail {

template <>
struct type_caster<kws::bindings::FsPath> {
  PYBIND11_TYPE_CASTER(kws::bindings::FsPath, const_name("os.PathLike"));

  bool load(handle src, bool) {
    PyObject* bytes = nullptr;
    // str, bytes or os.PathLike -> bytes (ValueError for an embedded NUL).
    if (!src || !PyUnicode_FSConverter(src.ptr(), &bytes)) {
      PyErr_Clear();
      return false;
    }
    object owner = reinterpret_steal<object>(bytes);
    char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(bytes, &data, &size) != 0) {
      PyErr_Clear();
      return false;
    }
    value.value.assign(data, static_cast<size_t>(size));
    return true;
  }

  static handle cast(const kws::bindings::FsPath& path, return_value_policy, handle) {
    return kws::bindings::PathStr(path.value).release();
  }
};

}  // namespace detail
}  // namespace pybind11

#endif  // KWS_BINDINGS_FS_PATH_H_
