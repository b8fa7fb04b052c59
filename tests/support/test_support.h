#pragma once
// Helpers shared by the test programs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "daas/core/error.h"

namespace daas::testing {

/// A fresh temporary folder of its own, removed when it goes out of scope.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "daas-test-";
    if (info != nullptr) name += std::string(info->test_suite_name()) + "-" + info->name();
    for (auto& c : name) {
      if (c == '/') c = '_';
    }
    // A counter keeps two TempDirs of one test apart.
    static int count = 0;
    path_ = std::filesystem::temp_directory_path() /
            (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(count++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string source_dir() { return DAAS_SOURCE_DIR; }

/// Where Debian's dataset-fashion-mnist package installs Fashion-MNIST.
inline const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace daas::testing

/// Expects `statement` to throw daas::core::Error whose message contains `substring`.
#define EXPECT_THROWS_WITH(statement, substring)                                                          \
  do {                                                                                                    \
    try {                                                                                                 \
      statement;                                                                                          \
      ADD_FAILURE() << "expected daas::core::Error containing \"" << (substring) << "\", nothing thrown"; \
    } catch (const daas::core::Error& e) {                                                                \
      EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)                                 \
          << "message: " << e.what() << "\nexpected to contain: " << (substring);                         \
    }                                                                                                     \
  } while (0)
