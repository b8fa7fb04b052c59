#include "daas/core/files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "daas/core/error.h"
#include "daas/core/parallel.h"

namespace daas::core {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_gzip(const std::string& path, size_t limit) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) fail("{}: cannot open ({})", path, std::strerror(errno));
  gzbuffer(file, 1 << 20);
  std::string out;
  std::string chunk(1 << 20, '\0');
  while (out.size() < limit) {
    const size_t want = std::min(chunk.size(), limit - out.size());
    const int n = gzread(file, chunk.data(), static_cast<unsigned>(want));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      fail("{}: corrupt gzip data ({})", path, message);
    }
    if (n == 0) break;
    out.append(chunk.data(), static_cast<size_t>(n));
  }
  // Stopped at the limit: the rest of the stream is deliberately not inflated.
  if (out.size() >= limit) {
    gzclose(file);
    return out;
  }
  // gzread returns 0 at a truncated stream too; gzclose_r reports it.
  int code = 0;
  const std::string message = gzerror(file, &code);
  const bool truncated = code == Z_BUF_ERROR;
  gzclose(file);
  if (truncated) fail("{}: truncated gzip stream ({} bytes decoded)", path, out.size());
  return out;
}

}  // namespace

std::string read_file(const std::string& path) { return read_file_head(path, std::numeric_limits<size_t>::max()); }

std::string read_file_head(const std::string& path, size_t limit) {
  if (!std::filesystem::exists(path)) fail("{}: file not found", path);
  if (std::filesystem::is_directory(path)) fail("{}: is a folder, expected a file", path);
  if (ends_with(path, ".gz")) return read_gzip(path, limit);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open ({})", path, std::strerror(errno));
  std::string out;
  std::string chunk(1 << 20, '\0');
  while (out.size() < limit && in) {
    in.read(chunk.data(), static_cast<std::streamsize>(std::min(chunk.size(), limit - out.size())));
    out.append(chunk.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) fail("{}: read error ({})", path, std::strerror(errno));
  return out;
}

void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer) {
  // A run over several processes: rank 0 alone writes the run folder, and
  // every file of a run goes through here (or MetricsLog::append).
  if (!writes_run_files()) return;
  const std::filesystem::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    writer(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  // Delayed-allocation file systems report a full disk only here.
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    fail("{}: cannot write ({}); the previous file is kept", path, std::strerror(error));
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: cannot replace ({})", path, std::strerror(errno));
  }
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  // POSIX calls rather than a stream: a full disk must surface at write() or
  // close() as an error, not be lost in a stream's destructor.
  write_atomic_with(path, [&](const std::string& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("{}: cannot write ({}); the previous file is kept", path, std::strerror(errno));
    size_t done = 0;
    int error = 0;
    while (done < contents.size() && error == 0) {
      const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
      if (n < 0 && errno != EINTR) error = errno;
      if (n > 0) done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error != 0) {
      fail("{}: cannot write {} bytes ({}); the previous file is kept", path, contents.size(), std::strerror(error));
    }
  });
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail("{}: cannot create folder ({})", path, ec.message());
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace daas::core
