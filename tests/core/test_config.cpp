// Typed settings: profiles, overrides and the errors a user sees.
#include <gtest/gtest.h>

#include "daas/core/config.h"
#include "daas/core/files.h"
#include "test_support.h"

namespace daas::core {
namespace {

struct Example {
  int64_t epochs = 3;
  double lr = 0.1;
  bool flag = false;
  std::string mode = "joint";
};

OptionTable<Example> example_table() {
  OptionTable<Example> table;
  table.add("epochs", &Example::epochs, "epochs", {1, 100})
      .add("lr", &Example::lr, "learning rate", {0, 1})
      .add("flag", &Example::flag, "a flag")
      .add_choice("mode", &Example::mode, "mode", {"joint", "arch", "policy"});
  return table;
}

Example apply(const std::map<std::string, std::string>& values) {
  Settings settings;
  for (const auto& [k, v] : values) settings.set(k, v, "--" + k);
  Example out;
  example_table().apply(settings, out);
  return out;
}

TEST(Config, AppliesTypedValues) {
  const auto e = apply({{"epochs", "7"}, {"lr", "0.025"}, {"flag", "true"}, {"mode", "arch"}});
  EXPECT_EQ(e.epochs, 7);
  EXPECT_DOUBLE_EQ(e.lr, 0.025);
  EXPECT_TRUE(e.flag);
  EXPECT_EQ(e.mode, "arch");
}

TEST(Config, ErrorsNameKeyValueAndExpectation) {
  EXPECT_THROWS_WITH(apply({{"epoch", "7"}}), "unknown setting 'epoch' (from --epoch); known settings: epochs, lr");
  EXPECT_THROWS_WITH(apply({{"epochs", "7.5"}}), "setting 'epochs' = '7.5' (from --epochs) is not an integer");
  EXPECT_THROWS_WITH(apply({{"epochs", "0"}}),
                     "setting 'epochs' = 0 (from --epochs) is out of range; expected a value in [1, 100]");
  EXPECT_THROWS_WITH(apply({{"lr", "nan"}}), "is not a finite number");
  EXPECT_THROWS_WITH(apply({{"flag", "maybe"}}), "is not a boolean");
  EXPECT_THROWS_WITH(apply({{"mode", "both"}}), "expected one of joint, arch, policy");
}

TEST(Config, ProfileSectionsAndYamlRoundTrip) {
  testing::TempDir dir;
  write_file_atomic(dir.file("p.yaml"), "epochs: 5\nsearch:\n  lr: 0.5\ntrain:\n  lr: 0.9\n");
  const auto settings = Settings::from_profile(dir.file("p.yaml"), "search");
  Example e;
  example_table().apply(settings, e);
  EXPECT_EQ(e.epochs, 5);
  EXPECT_DOUBLE_EQ(e.lr, 0.5);
  // Written back as YAML, the settings read back as a profile.
  e.lr = 0.2;
  e.mode = "arch";
  write_file_atomic(dir.file("back.yaml"), example_table().to_yaml(e));
  Example back;
  example_table().apply(Settings::from_profile(dir.file("back.yaml"), ""), back);
  EXPECT_EQ(back.epochs, 5);
  EXPECT_EQ(back.lr, 0.2);
  EXPECT_EQ(back.mode, "arch");
  EXPECT_EQ(example_table().to_yaml(e), "epochs: 5\nlr: 0.2\nflag: false\nmode: arch");
}

TEST(Config, BadProfiles) {
  testing::TempDir dir;
  EXPECT_THROWS_WITH(Settings::from_profile("no-such-profile", ""), "profile 'no-such-profile': no file");
  write_file_atomic(dir.file("bad.yaml"), "epochs: [1, 2\n");
  EXPECT_THROWS_WITH(Settings::from_profile(dir.file("bad.yaml"), ""), "invalid YAML");
}

}  // namespace
}  // namespace daas::core
