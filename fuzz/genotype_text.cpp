// DARTS-syntax and JSON genotypes: parse_genotype and load_genotype.
#include "daas/nas/genotype.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  daas::fuzz::expect_clean([&] { daas::nas::parse_genotype(text).validate(); });
  // The same bytes as a .json file (load_genotype's JSON path).
  const auto path = daas::fuzz::write_input("genotype.json", data, size);
  daas::fuzz::expect_clean([&] { daas::nas::load_genotype(path).validate(); });
  return 0;
}
