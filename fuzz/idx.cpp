// IDX files (MNIST, Fashion-MNIST), plain and gzip: the input is the images
// file, paired with a valid labels file, and then the labels file, paired
// with valid images.
#include <zlib.h>

#include "daas/data/dataset.h"
#include "fuzz_support.h"

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using daas::fuzz::write_input;
  const std::string labels = be32(2049) + be32(2) + std::string("\x01\x02", 2);
  const std::string images = be32(2051) + be32(2) + be32(2) + be32(2) + std::string(8, '\x7f');
  const auto bytes = [](const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); };
  const auto fuzzed_images = write_input("images-idx3-ubyte", data, size);
  const auto good_labels = write_input("labels-idx1-ubyte", bytes(labels), labels.size());
  daas::fuzz::expect_clean([&] { daas::data::read_idx_pair(fuzzed_images, good_labels); });
  const auto good_images = write_input("good-images-idx3-ubyte", bytes(images), images.size());
  const auto fuzzed_labels = write_input("fuzzed-labels-idx1-ubyte", data, size);
  daas::fuzz::expect_clean([&] { daas::data::read_idx_pair(good_images, fuzzed_labels); });
  // The same bytes gzip-compressed, as the .gz files are read.
  uLongf packed_size = compressBound(static_cast<uLong>(size)) + 32;
  std::string packed(packed_size, '\0');
  z_stream stream{};
  if (deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
    stream.next_in = const_cast<Bytef*>(data);
    stream.avail_in = static_cast<uInt>(size);
    stream.next_out = reinterpret_cast<Bytef*>(packed.data());
    stream.avail_out = static_cast<uInt>(packed.size());
    deflate(&stream, Z_FINISH);
    packed.resize(stream.total_out);
    deflateEnd(&stream);
    const auto gz = write_input("images-idx3-ubyte.gz", bytes(packed), packed.size());
    daas::fuzz::expect_clean([&] { daas::data::read_idx_pair(gz, good_labels); });
  }
  return 0;
}
