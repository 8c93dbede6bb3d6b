#include "regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kws/error.h"

namespace kws {
namespace {

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory";
  if (S_ISFIFO(mode)) return "it is a FIFO (named pipe), not a regular file";
  if (S_ISCHR(mode)) return "it is a character device, not a regular file";
  if (S_ISBLK(mode)) return "it is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
  return "not a regular file";
}

std::string Bytes(uint64_t n) {
  if (n >= (uint64_t{1} << 30) && n % (uint64_t{1} << 30) == 0)
    return std::to_string(n >> 30) + " GiB";
  if (n >= (uint64_t{1} << 20) && n % (uint64_t{1} << 20) == 0)
    return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

}  // namespace

RegularFile::RegularFile(const std::string& path, const std::string& what, uint64_t max_bytes)
    : path_(path), what_(what) {
  const std::string prefix = "cannot open " + what + " '" + path + "': ";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw IoError(prefix + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw IoError(prefix + FileKind(st.st_mode));
  // O_NONBLOCK: should the path have become a FIFO since stat(), open() must not wait.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) throw IoError(prefix + std::strerror(errno));
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    const std::string reason = S_ISREG(st.st_mode) ? std::strerror(err) : FileKind(st.st_mode);
    ::close(fd_);
    throw IoError(prefix + reason);
  }
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > max_bytes) {
    ::close(fd_);
    throw InputError(path + ": " + what + " is " + std::to_string(size_) +
                     " bytes, larger than the " + Bytes(max_bytes) + " limit");
  }
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RegularFile::ReadAt(uint64_t offset, uint8_t* out, size_t n) const {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, out + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw IoError("cannot read " + what_ + " '" + path_ + "': " + std::strerror(errno));
    if (r == 0)
      throw IoError("cannot read " + what_ + " '" + path_ + "': the file shrank while reading");
    got += static_cast<size_t>(r);
  }
}

std::vector<uint8_t> RegularFile::ReadAll() const {
  std::vector<uint8_t> bytes(static_cast<size_t>(size_));
  ReadAt(0, bytes.data(), bytes.size());
  return bytes;
}

std::vector<uint8_t> ReadRegularFile(const std::string& path, const std::string& what,
                                     uint64_t max_bytes) {
  return RegularFile(path, what, max_bytes).ReadAll();
}

}  // namespace kws
