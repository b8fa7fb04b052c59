#include <gtest/gtest.h>

#include <filesystem>

#include "daas/core/files.h"
#include "test_support.h"

namespace daas::core {
namespace {

TEST(Files, AtomicWriteReplacesWholeFile) {
  testing::TempDir dir;
  write_file_atomic(dir.file("a/b.txt"), "first");
  write_file_atomic(dir.file("a/b.txt"), "second");
  EXPECT_EQ(read_file(dir.file("a/b.txt")), "second");
}

TEST(Files, FailedWriterKeepsThePreviousFile) {
  testing::TempDir dir;
  write_file_atomic(dir.file("c.txt"), "good");
  EXPECT_THROW(write_atomic_with(dir.file("c.txt"),
                                 [](const std::string& tmp) {
                                   write_file_atomic(tmp, "half");
                                   fail("disk full");
                                 }),
               Error);
  EXPECT_EQ(read_file(dir.file("c.txt")), "good");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Files, MissingFileIsNamed) {
  EXPECT_THROWS_WITH(read_file("/no/such/file.bin"), "/no/such/file.bin: file not found");
}

}  // namespace
}  // namespace daas::core
