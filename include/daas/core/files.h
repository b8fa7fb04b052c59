#pragma once
// File helpers shared by every module: whole-file reads with clear errors and
// atomic writes (write to a temporary in the same folder, fsync, rename), so a
// crash while writing leaves the previous file intact.
#include <functional>
#include <string>

namespace daas::core {

/// Reads a whole file; a path ending in ".gz" is decompressed with zlib.
std::string read_file(const std::string& path);

/// The first `limit` bytes of a file (decompressed for ".gz"; the rest of the
/// stream is not inflated), or the whole file when shorter. Readers whose
/// header announces a size use it to refuse a padded or bomb file without
/// reading all of it.
std::string read_file_head(const std::string& path, size_t limit);

/// Writes `contents` to `path` atomically. On a process other than rank 0
/// of a run over several processes (writes_run_files() false) this and
/// write_atomic_with write nothing: rank 0 alone writes the run folder.
void write_file_atomic(const std::string& path, const std::string& contents);

/// Calls `writer(tmp_path)`, then renames tmp_path over `path` atomically.
/// `writer` must fail by throwing (the temporary is then removed and the
/// previous file kept); it must check its own write errors.
void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& writer);

/// Creates a folder and its parents; fails with a clear message.
void make_dirs(const std::string& path);

bool file_exists(const std::string& path);

}  // namespace daas::core
