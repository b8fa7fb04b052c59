// CIFAR-10 binary batches: the input is every batch file of a data folder.
#include "daas/data/dataset.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto dir = daas::fuzz::scratch_dir() / "cifar-10-batches-bin";
  std::filesystem::create_directories(dir);
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin"}) {
    daas::fuzz::write_input(std::string("cifar-10-batches-bin/") + name, data, size);
  }
  daas::data::DataOptions options;
  daas::fuzz::expect_clean([&] { daas::data::read_cifar10(dir.string(), options); });
  return 0;
}
