// Policy files (`--policy file:PATH`): JSON text, then the policy reader.
#include "daas/augment/policy.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = daas::fuzz::write_input("policy.json", data, size);
  daas::fuzz::expect_clean([&] { daas::augment::read_policy_file(path); });
  return 0;
}
