// PNG and JPEG decoding (folder data sets, `daas augment --input`): the first
// byte picks the channel count asked for, the rest is the file.
#include "daas/data/image_io.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int64_t channels = data[0] % 2 == 0 ? 1 : 3;
  const auto png = daas::fuzz::write_input("image.png", data + 1, size - 1);
  daas::fuzz::expect_clean([&] { daas::data::read_image(png, channels); });
  const auto jpeg = daas::fuzz::write_input("image.jpg", data + 1, size - 1);
  daas::fuzz::expect_clean([&] { daas::data::read_image(jpeg, channels); });
  return 0;
}
