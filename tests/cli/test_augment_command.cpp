// `daas augment` as a user runs it: --value output checked against torchvision
// (tests/augment/torchvision_oracle.py), --grid, and clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "daas/core/files.h"
#include "daas/data/image_io.h"
#include "test_support.h"

namespace daas {
namespace {

using daas::testing::TempDir;

int run(const std::string& args, const std::string& log) {
  const std::string command = std::string(DAAS_BINARY) + " augment " + args + " > " + log + " 2>&1";
  return std::system(command.c_str());
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(AugmentCommand, ValueOutputMatchesTorchvision) {
  TempDir dir;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Rotate", "17.5"},   {"ShearY", "-0.2"}, {"TranslateX", "-9.7"}, {"Color", "1.63"},
      {"Sharpness", "0.3"}, {"Equalize", "0"},  {"Posterize", "3"},     {"Contrast", "0.45"}};
  nlohmann::json manifest = nlohmann::json::array();
  for (int64_t channels : {1, 3}) {
    const auto image = torch::randint(0, 256, {channels, 24, 30}, generator, torch::kLong).to(torch::kByte);
    const std::string input = dir.file("in" + std::to_string(channels) + ".png");
    data::write_png(input, image);
    std::ofstream(dir.file("in" + std::to_string(channels) + ".raw"), std::ios::binary)
        .write(reinterpret_cast<const char*>(image.data_ptr<uint8_t>()), image.numel());
    for (const auto& [op, value] : cases) {
      const std::string out = dir.file(op + std::to_string(channels));
      ASSERT_EQ(run(fmt::format("--op {} --value {} --input {} --image-channels {} --out {}", op, value, input,
                                channels, out),
                    dir.file("log")),
                0)
          << slurp(dir.file("log"));
      manifest.push_back({{"op", op},
                          {"values", {std::stod(value)}},
                          {"shape", {1, channels, 24, 30}},
                          {"input", dir.file("in" + std::to_string(channels) + ".raw")},
                          {"output", out + "/expected.raw"}});
    }
  }
  std::ofstream(dir.file("cases.json")) << manifest.dump();
  const std::string oracle = "/usr/bin/python3 " + daas::testing::source_dir() +
                             "/tests/augment/torchvision_oracle.py " + dir.file("cases.json");
  ASSERT_EQ(std::system(oracle.c_str()), 0);
  for (const auto& entry : manifest) {
    const int64_t channels = entry["shape"][1].get<int64_t>();
    const std::string out = std::filesystem::path(entry["output"].get<std::string>()).parent_path().string();
    const auto got = data::read_image(out + "/in" + std::to_string(channels) + ".png", channels);
    auto expected = torch::empty({channels, 24, 30}, torch::kByte);
    std::ifstream(entry["output"].get<std::string>(), std::ios::binary)
        .read(reinterpret_cast<char*>(expected.data_ptr<uint8_t>()), expected.numel());
    EXPECT_TRUE(torch::equal(got, expected)) << entry["op"] << " " << channels << " channel(s)";
  }
}

TEST(AugmentCommand, GridAndErrors) {
  TempDir dir;
  const auto image = torch::full({3, 16, 16}, 90, torch::kByte);
  const std::string input = dir.file("a.png");
  data::write_png(input, image);
  ASSERT_EQ(run("--policy trivialaugment --grid --samples 3 --input " + input + "," + input + " --out " + dir.file("g"),
                dir.file("log")),
            0)
      << slurp(dir.file("log"));
  const auto grid = data::read_image(dir.file("g/grid.png"), 3);
  EXPECT_EQ(grid.size(1), 2 * (16 + 2) + 2);
  EXPECT_EQ(grid.size(2), 4 * (16 + 2) + 2);
  // Nothing already in --out is overwritten.
  const std::string before = core::read_file(dir.file("g/grid.png"));
  EXPECT_NE(run("--policy none --grid --samples 1 --input " + input + " --out " + dir.file("g"), dir.file("log")), 0);
  EXPECT_NE(slurp(dir.file("log"))
                .find("--out " + dir.file("g") + ": " + dir.file("g/grid.png") +
                      " already exists; expected a new or empty folder (nothing was written)"),
            std::string::npos)
      << slurp(dir.file("log"));
  EXPECT_EQ(core::read_file(dir.file("g/grid.png")), before);
  EXPECT_NE(run("--op Blur --value 1 --input " + input, dir.file("log")), 0);
  EXPECT_NE(slurp(dir.file("log")).find("unknown augmentation op 'Blur'"), std::string::npos);
  EXPECT_NE(run("--op Rotate --input " + input, dir.file("log")), 0);
  EXPECT_NE(slurp(dir.file("log")).find("expected exactly one of --level and --value"), std::string::npos);
  EXPECT_NE(run("--op Posterize --value 12 --input " + input, dir.file("log")), 0);
  EXPECT_NE(slurp(dir.file("log")).find("--op Posterize --value 12: expected an integer number of bits in [0, 8]"),
            std::string::npos);
}

}  // namespace
}  // namespace daas
