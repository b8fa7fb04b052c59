// Model files (`daas eval --model FILE`): the archive, its record and the
// network the record describes.
#include "daas/train/model.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = daas::fuzz::write_input("model.pt", data, size);
  daas::fuzz::expect_clean([&] { daas::train::load_model(path, c10::Device(c10::kCPU)); });
  return 0;
}
