#pragma once
// File helpers shared by every module: whole-file reads with clear errors and
// atomic writes (write to a temporary in the same folder, fsync, rename), so a
// crash while writing leaves the previous file intact.
#include <functional>
#include <string>

namespace daas {

/// Reads a whole file; a path ending in ".gz" is decompressed with zlib.
std::string read_file(const std::string& path);

/// Writes `contents` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& contents);

/// Calls `writer(tmp_path)`, then renames tmp_path over `path` atomically.
void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer);

/// Creates a folder and its parents; fails with a clear message.
void make_dirs(const std::string& path);

bool file_exists(const std::string& path);

}  // namespace daas
