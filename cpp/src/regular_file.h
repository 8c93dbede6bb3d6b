// Opening and reading user-named input files safely. Private to kws.
// A path is checked with stat() before it is opened, so a FIFO (which would block in
// open()), a device such as /dev/zero (endless data) or a directory is refused with a
// clear message instead of hanging or reading without end; the file is then opened with
// O_NONBLOCK and checked again, in case it was replaced in between. Sizes are capped.
#ifndef KWS_SRC_REGULAR_FILE_H_
#define KWS_SRC_REGULAR_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kws {

// An open regular file (closed by the destructor). Throws IoError naming `what` and
// `path` with the OS's reason ("No such file or directory", "Permission denied"), or
// "it is a directory", "it is a FIFO (named pipe)", ...; throws InputError when the file
// is larger than `max_bytes`.
class RegularFile {
 public:
  RegularFile(const std::string& path, const std::string& what, uint64_t max_bytes);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly n bytes at `offset` (within size()); throws IoError when the file
  // shrank or the read fails.
  void ReadAt(uint64_t offset, uint8_t* out, size_t n) const;
  // The whole file.
  std::vector<uint8_t> ReadAll() const;

 private:
  std::string path_;
  std::string what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Convenience: the whole content of a regular file of at most max_bytes.
std::vector<uint8_t> ReadRegularFile(const std::string& path, const std::string& what,
                                     uint64_t max_bytes);

}  // namespace kws

#endif  // KWS_SRC_REGULAR_FILE_H_
