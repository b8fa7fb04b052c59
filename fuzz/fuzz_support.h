#pragma once
// Shared by the fuzz targets: each one is built twice, as a libFuzzer
// program (make fuzz, clang) and as a replay program that runs the saved
// corpus through the same entry point in the test suite (replay_main.cpp).
#include <c10/util/Exception.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>

#include "daas/core/error.h"

namespace daas::fuzz {

/// A folder of this process's own, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto path = std::filesystem::temp_directory_path() / ("daas-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("daas-fuzz-" + std::to_string(::getpid())),
                                  ignored);
    });
    return path;
  }();
  return dir;
}

/// Writes `size` bytes to `name` in the scratch folder; returns its path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path.string();
}

/// Runs `body`; the errors a reader is expected to raise on bad input (one
/// clear message) are fine, anything else (a crash, a sanitizer report, an
/// allocation the input drove past the memory limit) is a finding.
template <typename Body>
void expect_clean(Body&& body) {
  try {
    body();
  } catch (const std::bad_alloc&) {
    std::abort();  // an allocation sized by the input: unchecked header
  } catch (const daas::core::Error&) {
  } catch (const c10::Error&) {
  } catch (const std::exception&) {
  }
}

}  // namespace daas::fuzz
