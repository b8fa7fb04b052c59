// YAML profiles (`--profile FILE`): the checked reader every command uses.
#include "daas/core/config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool registered = [] {
    daas::core::register_profile_section("search", {"epochs", "lr", "mode", "channels"});
    daas::core::register_profile_section("train", {"epochs", "lr", "genotype", "channels"});
    return true;
  }();
  (void)registered;
  const auto path = daas::fuzz::write_input("profile.yaml", data, size);
  daas::fuzz::expect_clean([&] { daas::core::Settings::from_profile(path, "search"); });
  return 0;
}
