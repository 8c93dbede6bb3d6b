// The kws._core extension module. Each public header has one binding file
// (bindings/<header>.cc) defining `void BindX(py::module_&)`, called below.
#include <pybind11/pybind11.h>

#include "kws/error.h"

namespace py = pybind11;

namespace kws {
namespace bindings {
// One declaration per binding file (keep sorted).
void BindModel(py::module_& m);
void BindMfcc(py::module_& m);
void BindVersion(py::module_& m);
void BindRecognizeCommands(py::module_& m);
void BindStreamGenerator(py::module_& m);
void BindStreamingEvaluator(py::module_& m);
void BindWavIo(py::module_& m);
}  // namespace bindings
}  // namespace kws

PYBIND11_MODULE(_core, m) {
  m.doc() = "kws native core: WAV I/O, MFCC front end, model runtime, streaming decoder";

  // Bad input -> ValueError; other kws failures -> RuntimeError (pybind11 already maps
  // std::runtime_error, but be explicit about the split).
  // Messages name files whose names need not be UTF-8: they are decoded as paths are.
  py::register_exception_translator([](std::exception_ptr p) {
    auto raise = [](PyObject* type, const char* what) {
      PyObject* message = PyUnicode_DecodeFSDefault(what);
      if (!message) return;  // the decoding error is raised instead
      PyErr_SetObject(type, message);
      Py_DECREF(message);
    };
    try {
      if (p) std::rethrow_exception(p);
    } catch (const kws::InputError& e) {
      raise(PyExc_ValueError, e.what());
    } catch (const kws::IoError& e) {
      raise(PyExc_OSError, e.what());
    } catch (const kws::Error& e) {
      raise(PyExc_RuntimeError, e.what());
    }
  });

  // One call per binding file (keep sorted).
  kws::bindings::BindModel(m);
  kws::bindings::BindMfcc(m);
  kws::bindings::BindVersion(m);
  kws::bindings::BindRecognizeCommands(m);
  kws::bindings::BindStreamGenerator(m);
  kws::bindings::BindStreamingEvaluator(m);
  kws::bindings::BindWavIo(m);
}
