#include "daas/core/files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daas/core/error.h"

namespace daas {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) fail("{}: cannot open ({})", path, std::strerror(errno));
  gzbuffer(file, 1 << 20);
  std::string out;
  std::string chunk(1 << 20, '\0');
  for (;;) {
    const int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      fail("{}: corrupt gzip data ({})", path, message);
    }
    if (n == 0) break;
    out.append(chunk.data(), static_cast<size_t>(n));
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

std::string read_file(const std::string& path) {
  if (!std::filesystem::exists(path)) fail("{}: file not found", path);
  if (std::filesystem::is_directory(path)) fail("{}: is a folder, expected a file", path);
  if (ends_with(path, ".gz")) return read_gzip(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open ({})", path, std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    writer(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  const int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: cannot replace ({})", path, std::strerror(errno));
  }
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_atomic_with(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot write ({})", tmp, std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) fail("{}: write failed ({})", tmp, std::strerror(errno));
  });
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail("{}: cannot create folder ({})", path, ec.message());
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace daas
