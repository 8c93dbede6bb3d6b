// Strict reader of the safetensors container (used by model.kws files). Private to kws.
// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data
// buffer. The header maps tensor names to {dtype, shape, data_offsets} (offsets relative
// to the data buffer) plus an optional "__metadata__" object of string values.
#ifndef KWS_SRC_SAFETENSORS_FILE_H_
#define KWS_SRC_SAFETENSORS_FILE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace kws {

class SafetensorsError : public std::runtime_error {
 public:
  explicit SafetensorsError(const std::string& what) : std::runtime_error(what) {}
};

struct SafetensorsTensor {
  std::string dtype;              // e.g. "F32"
  std::vector<int64_t> shape;     // may be empty (a scalar)
  const uint8_t* data = nullptr;  // points into the caller's buffer
  size_t num_bytes = 0;
  int64_t num_elements() const;
};

struct SafetensorsFile {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;
  const uint8_t* buffer = nullptr;  // the data buffer (after the header), in the caller's bytes
  size_t buffer_size = 0;
};

// Parses and validates a whole file image: header length within the file, header JSON
// well-formed, every tensor's dtype known, its byte size equal to shape x dtype size,
// offsets in range, tensors not overlapping, the data buffer fully covered with no holes
// and nothing after it. Tensor data pointers refer into [data, data + size).
SafetensorsFile ParseSafetensors(const uint8_t* data, size_t size);

// Bytes per element of a safetensors dtype name, 0 if unknown.
size_t SafetensorsDtypeSize(const std::string& dtype);

}  // namespace kws

#endif  // KWS_SRC_SAFETENSORS_FILE_H_
