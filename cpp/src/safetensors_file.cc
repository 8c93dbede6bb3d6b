#include "safetensors_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "json_value.h"

namespace kws {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation
constexpr int kMaxRank = 8;

// A JSON number for an error message: whole numbers in full, others as %g.
std::string FormatNumber(double v) {
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else
    std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

size_t SafetensorsDtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

int64_t SafetensorsTensor::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow at parse time
  return n;
}

SafetensorsFile ParseSafetensors(const uint8_t* data, size_t size) {
  if (size < 8)
    throw SafetensorsError("file is " + std::to_string(size) +
                           " bytes, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len == 0) throw SafetensorsError("header length is 0");
  if (header_len > kMaxHeaderBytes)
    throw SafetensorsError("header length " + std::to_string(header_len) +
                           " exceeds the 100 MB limit");
  if (header_len > size - 8)
    throw SafetensorsError("header length " + std::to_string(header_len) +
                           " runs past the end of the file (" + std::to_string(size) +
                           " bytes): truncated?");
  const char* header = reinterpret_cast<const char*>(data + 8);
  if (header[0] != '{') throw SafetensorsError("header does not start with '{'");
  json::Value root;
  try {
    root = json::Parse(header, static_cast<size_t>(header_len));
  } catch (const json::JsonError& e) {
    throw SafetensorsError(std::string("header: ") + e.what());
  }
  if (!root.is_object()) throw SafetensorsError("header is not a JSON object");

  const uint8_t* buffer = data + 8 + header_len;
  const uint64_t buffer_size = size - 8 - header_len;
  SafetensorsFile file;
  file.buffer = buffer;
  file.buffer_size = static_cast<size_t>(buffer_size);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<std::string> range_names;
  try {
    for (const auto& kv : root.AsObject("header")) {
      const std::string& name = kv.first;
      if (name == "__metadata__") {
        for (const auto& m : kv.second.AsObject("__metadata__"))
          file.metadata[m.first] = m.second.AsString("__metadata__['" + m.first + "']");
        continue;
      }
      const std::string what = "tensor '" + name + "'";
      const json::Value& info = kv.second;
      info.AsObject(what);
      for (const auto& field : info.AsObject(what))
        if (field.first != "dtype" && field.first != "shape" && field.first != "data_offsets")
          throw SafetensorsError(what + " has unknown field '" + field.first + "'");
      SafetensorsTensor t;
      t.dtype = info.Get("dtype", what).AsString(what + " dtype");
      size_t esize = SafetensorsDtypeSize(t.dtype);
      if (esize == 0) throw SafetensorsError(what + " has unknown dtype '" + t.dtype + "'");
      const auto& shape = info.Get("shape", what).AsArray(what + " shape");
      if (shape.size() > kMaxRank)
        throw SafetensorsError(what + " has rank " + std::to_string(shape.size()) + " (at most 8)");
      uint64_t elements = 1;
      for (const auto& d : shape) {
        long long dim = d.AsInt(what + " shape entry", 0, std::numeric_limits<int32_t>::max());
        t.shape.push_back(dim);
        if (dim != 0 && elements > std::numeric_limits<uint64_t>::max() / 2 / dim)
          throw SafetensorsError(what + " shape overflows");
        elements *= static_cast<uint64_t>(dim);
      }
      if (elements > std::numeric_limits<uint64_t>::max() / 8)
        throw SafetensorsError(what + " shape overflows");
      const auto& offsets = info.Get("data_offsets", what).AsArray(what + " data_offsets");
      if (offsets.size() != 2) throw SafetensorsError(what + " data_offsets must have 2 entries");
      // Range-check against the buffer before any conversion: an offset past the end is
      // reported as such, and only values that fit the buffer are converted to integers.
      const double b_raw = offsets[0].AsNumber(what + " data_offsets[0]");
      const double e_raw = offsets[1].AsNumber(what + " data_offsets[1]");
      if (!(b_raw >= 0) || !(e_raw >= 0))
        throw SafetensorsError(what + " data_offsets must be non-negative integers");
      if (b_raw > static_cast<double>(buffer_size) || e_raw > static_cast<double>(buffer_size))
        throw SafetensorsError(what + " data_offsets [" + FormatNumber(b_raw) + ", " +
                               FormatNumber(e_raw) + "] run past the end of the data buffer (" +
                               std::to_string(buffer_size) + " bytes): truncated?");
      if (b_raw != std::floor(b_raw) || e_raw != std::floor(e_raw))
        throw SafetensorsError(what + " data_offsets must be non-negative integers");
      uint64_t begin = static_cast<uint64_t>(b_raw), end = static_cast<uint64_t>(e_raw);
      if (end < begin) throw SafetensorsError(what + " data_offsets end before they begin");
      if (end - begin != elements * esize)
        throw SafetensorsError(what + " holds " + std::to_string(end - begin) +
                               " bytes but its shape and dtype need " +
                               std::to_string(elements * esize));
      t.data = buffer + begin;
      t.num_bytes = static_cast<size_t>(end - begin);
      ranges.emplace_back(begin, end);
      range_names.push_back(name);
      file.tensors.emplace(name, std::move(t));
    }
  } catch (const json::JsonError& e) {
    throw SafetensorsError(std::string("header: ") + e.what());
  }
  // Tensors must tile the data buffer exactly: no overlap, no hole, nothing after.
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  uint64_t cursor = 0;
  for (size_t i : order) {
    if (ranges[i].first < cursor)
      throw SafetensorsError("tensor '" + range_names[i] + "' overlaps another tensor's data");
    if (ranges[i].first > cursor)
      throw SafetensorsError("data buffer has a hole before tensor '" + range_names[i] + "'");
    cursor = ranges[i].second;
  }
  if (cursor != buffer_size)
    throw SafetensorsError("data buffer is " + std::to_string(buffer_size) +
                           " bytes but the tensors cover " + std::to_string(cursor) +
                           ": extra or missing data");
  return file;
}

}  // namespace kws
