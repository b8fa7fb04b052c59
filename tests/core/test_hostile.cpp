// Hostile input and faults at the core: JSON nesting, profile keys, a full
// disk while writing, a gzip bomb.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <zlib.h>

#include <csignal>
#include <filesystem>

#include "daas/core/checkpoint.h"
#include "daas/core/config.h"
#include "daas/core/files.h"
#include "daas/core/json.h"
#include "test_support.h"

namespace daas::core {
namespace {

/// Limits the size of any file this process writes (RLIMIT_FSIZE) while in
/// scope: writes past it fail with EFBIG, as a full disk fails them.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

int files_in(const std::string& dir) {
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  return files;
}

TEST(HostileJson, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THROWS_WITH(parse_json(deep, "p.json"),
                     "p.json: JSON nested more than 32 levels deep at byte 32; expected at most 32");
  // Brackets inside strings do not count.
  EXPECT_EQ(parse_json("{\"a\": \"" + std::string(100, '[') + "\\\"\"}", "s.json")["a"].get<std::string>().size(),
            101u);
  EXPECT_THROWS_WITH(parse_json("[1,", "t.json"), "t.json: not valid JSON");
}

TEST(HostileJson, ExcerptsAreShort) {
  const auto big = nlohmann::json(std::vector<int>(100000, 7));
  EXPECT_EQ(json_excerpt(big, 10), "[7,7,7,7,7...");
}

TEST(HostileJson, FieldsAreReadOnlyAsTheirKind) {
  // nlohmann's get<int64_t>() would take each of these as some integer.
  const auto json = nlohmann::json::parse(
      R"({"n": 7, "half": 1.5, "big": 1e20, "text": "7", "neg": -3, "huge": 18446744073709551615,
          "x": 0.25, "inf": "inf", "sub": {"a": 1}, "list": [1, 2]})");
  EXPECT_EQ(integer_field(json, "n", "f.json"), 7);
  EXPECT_EQ(integer_field(json, "neg", "f.json"), -3);
  EXPECT_THROWS_WITH(integer_field(json, "half", "f.json"), "f.json field \"half\" = 1.5; expected an integer");
  EXPECT_THROWS_WITH(integer_field(json, "big", "f.json"), "f.json field \"big\" = 1e+20; expected an integer");
  EXPECT_THROWS_WITH(integer_field(json, "text", "f.json"), "f.json field \"text\" = \"7\"; expected an integer");
  EXPECT_THROWS_WITH(integer_field(json, "neg", "f.json", 0),
                     "f.json field \"neg\" = -3; expected an integer of at least 0");
  EXPECT_THROWS_WITH(integer_field(json, "n", "f.json", 0, 5), "f.json field \"n\" = 7; expected an integer in [0, 5]");
  EXPECT_THROWS_WITH(integer_field(json, "n", "f.json", 8),
                     "f.json field \"n\" = 7; expected an integer of at least 8");
  EXPECT_THROWS_WITH(integer_field(json, "neg", "f.json", std::numeric_limits<int64_t>::min(), -5),
                     "f.json field \"neg\" = -3; expected an integer of at most -5");
  EXPECT_THROWS_WITH(integer_field(json, "huge", "f.json"),
                     "f.json field \"huge\" = 18446744073709551615; expected an integer");
  EXPECT_THROWS_WITH(integer_field(json, "none", "f.json"), "f.json has no \"none\"");
  EXPECT_THROWS_WITH(integer_field(json["list"], "n", "f.json: list"), "f.json: list is [1,2]; expected a JSON object");
  EXPECT_EQ(number_field(json, "x", "f.json"), 0.25);
  EXPECT_EQ(number_field(json, "n", "f.json"), 7.0);
  EXPECT_THROWS_WITH(number_field(json, "inf", "f.json"), "f.json field \"inf\" = \"inf\"; expected a finite number");
  EXPECT_EQ(child_field(json, "sub", "f.json")["a"], 1);
  EXPECT_EQ(child_field(json, "list", "f.json", nlohmann::json::value_t::array).size(), 2u);
  EXPECT_THROWS_WITH(child_field(json, "list", "f.json"), "f.json field \"list\" = [1,2]; expected a JSON object");
}

TEST(HostileFiles, FullDiskWhileSavingACheckpointKeepsThePreviousOne) {
  testing::TempDir dir;
  CheckpointWriter small;
  small.tensor("x", torch::ones({10}));
  small.save(dir.file("c.pt"));
  const std::string before = read_file(dir.file("c.pt"));
  CheckpointWriter big;
  big.tensor("x", torch::ones({1 << 20}));
  {
    FileSizeLimit limit(256 * 1024);
    EXPECT_THROWS_WITH(big.save(dir.file("c.pt")), "c.pt: cannot write 4");
  }
  EXPECT_EQ(read_file(dir.file("c.pt")), before);
  EXPECT_EQ(files_in(dir.path()), 1) << "the temporary file must be removed";
}

TEST(HostileFiles, FullDiskWhileWritingAFileKeepsThePreviousOne) {
  testing::TempDir dir;
  write_file_atomic(dir.file("a.txt"), "old");
  {
    FileSizeLimit limit(1000);
    EXPECT_THROWS_WITH(write_file_atomic(dir.file("a.txt"), std::string(5000, 'x')),
                       "a.txt: cannot write 5000 bytes (File too large); the previous file is kept");
  }
  EXPECT_EQ(read_file(dir.file("a.txt")), "old");
  EXPECT_EQ(files_in(dir.path()), 1);
}

TEST(HostileFiles, ReadFileHeadStopsInflatingAtTheLimit) {
  testing::TempDir dir;
  const std::string path = dir.file("z.gz");
  gzFile file = gzopen(path.c_str(), "wb");
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 64; ++i) gzwrite(file, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(file);
  EXPECT_EQ(read_file_head(path, 1000).size(), 1000u);
  EXPECT_EQ(read_file_head(path, 100u << 20).size(), 64u << 20);
  write_file_atomic(dir.file("raw"), "abcdef");
  EXPECT_EQ(read_file_head(dir.file("raw"), 4), "abcd");
  EXPECT_EQ(read_file_head(dir.file("raw"), 100), "abcdef");
}

TEST(HostileProfiles, KeysAreCheckedWithTheirPath) {
  testing::TempDir dir;
  register_profile_section("search", {"epochs", "lr", "channels"});
  register_profile_section("train", {"epochs", "lr", "channels"});
  auto load = [&](const std::string& text) {
    write_file_atomic(dir.file("p.yaml"), text);
    return Settings::from_profile(dir.file("p.yaml"), "search");
  };
  EXPECT_THROWS_WITH(load("serach:\n  epochs: 3\n"), "p.yaml: unknown section 'serach'; expected one of search, train");
  EXPECT_THROWS_WITH(load("search:\n  epochs:\n"), "p.yaml: setting 'search.epochs' has no value");
  EXPECT_THROWS_WITH(load("search:\n  channels: {a: 1}\n"),
                     "p.yaml: setting 'search.channels' is a mapping; expected a single value");
  EXPECT_THROWS_WITH(load("search:\n  lr: 0.1\n  lr: 0.2\n"),
                     "p.yaml: setting 'search.lr' is given twice; expected each setting once");
  EXPECT_THROWS_WITH(load("lr: 0.1\nlr: 0.2\n"), "p.yaml: setting 'lr' is given twice");
  EXPECT_THROWS_WITH(load("epochs:\n"), "p.yaml: setting 'epochs' has no value");
  EXPECT_THROWS_WITH(load("train:\n  epoch: 3\n"), "p.yaml: unknown setting 'train.epoch'; known settings of train:");
  EXPECT_NO_THROW(load("epochs: 2\nsearch:\n  lr: 0.1\ntrain:\n  lr: 0.2\n"));
  clear_profile_sections();
}

}  // namespace
}  // namespace daas::core
