// `daas predict` against `daas eval` on the same images, and `daas eval`
// reading its data settings from the model, after one smoke retrain.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_support.h"
#include "daas/core/files.h"
#include "daas/data/dataset.h"
#include "daas/data/image_io.h"
#include "png_support.h"
#include "test_support.h"

namespace daas {
namespace {

namespace fs = std::filesystem;
using testing::run_daas;
using testing::TempDir;
using testing::write_png_with;

/// One smoke retrain shared by the tests of this file.
class PredictCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    run_ = dir_->file("run");
    const auto trained = run_daas("train --profile smoke --threads 2 --quiet --out " + run_);
    ASSERT_EQ(trained.exit_code, 0) << trained.output;
    train_output_ = trained.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
  static std::string run_;
  static std::string train_output_;
};

TempDir* PredictCommand::dir_ = nullptr;
std::string PredictCommand::run_;
std::string PredictCommand::train_output_;

/// The JSON object a command printed (log lines around it left out).
nlohmann::json json_in(const std::string& output) {
  const auto begin = output.find('{');
  const auto end = output.rfind('}');
  if (begin == std::string::npos || end == std::string::npos) return nullptr;
  return nlohmann::json::parse(output.substr(begin, end - begin + 1));
}

std::string top1_of(const std::string& output) {
  std::smatch match;
  return std::regex_search(output, match, std::regex("(test|images:) top-1 ([0-9.]+)%")) ? match[2].str() : "";
}

TEST_F(PredictCommand, EvalTakesTheDataSettingsOfTheModel) {
  // The model was trained with the smoke profile (subset 2000): a plain
  // `daas eval --model` tests on the same 333 test images, not on all 10000
  // of the default profile.
  const auto evaluated = run_daas("eval --threads 2 --model " + run_);
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  EXPECT_EQ(top1_of(evaluated.output), top1_of(train_output_)) << evaluated.output << train_output_;
  EXPECT_NE(evaluated.output.find("fashion-mnist/test: 333 images"), std::string::npos) << evaluated.output;
  EXPECT_NE(evaluated.output.find("subset 2000"), std::string::npos) << evaluated.output;
  // Told otherwise, it follows: --subset 0 is the whole test split.
  const auto whole = run_daas("eval --threads 2 --subset 0 --model " + run_ + "/model.pt");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_NE(whole.output.find("fashion-mnist/test: 10000 images"), std::string::npos) << whole.output;
}

TEST_F(PredictCommand, PredictionsEqualEvalsOnTheSameImages) {
  // Fashion-MNIST test images written as PNG class folders (classes "0".."9",
  // as the data set's label order); a few training images as well, since a
  // folder data set needs both splits.
  data::DataOptions options;
  options.data = "fashion-mnist";
  options.subset = 600;
  const auto splits = data::load_data(options, 1);
  const std::string images = dir_->file("images");
  for (const auto* split : {&splits.train, &splits.test}) {
    const std::string part = images + (split == &splits.train ? "/train/" : "/test/");
    for (int64_t i = 0; i < split->size(); ++i) {
      const std::string cls = std::to_string(split->labels[i].item<int64_t>());
      fs::create_directories(part + cls);
      data::write_png(part + cls + "/" + std::to_string(i) + ".png", split->images[i]);
    }
  }
  const auto evaluated = run_daas("eval --threads 2 --quiet --json --model " + run_ + " --data folder:" + images);
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  const auto evaluation = json_in(evaluated.output);
  EXPECT_EQ(evaluation["images"].get<int64_t>(), splits.test.size());

  const auto predicted =
      run_daas("predict --threads 2 --quiet --json --top-k 3 --model " + run_ + " " + images + "/test");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const auto predictions = json_in(predicted.output);
  ASSERT_EQ(predictions["predictions"].size(), static_cast<size_t>(splits.test.size()));
  // The confusion matrix of the predictions (true class: the folder) is eval's.
  std::vector<std::vector<int64_t>> confusion(10, std::vector<int64_t>(10, 0));
  for (const auto& p : predictions["predictions"]) {
    const int truth = std::stoi(fs::path(p["image"].get<std::string>()).parent_path().filename().string());
    ASSERT_EQ(p["top"].size(), 3u);
    double previous = 1.0;
    for (const auto& entry : p["top"]) {
      EXPECT_LE(entry["probability"].get<double>(), previous);
      previous = entry["probability"].get<double>();
    }
    confusion[static_cast<size_t>(truth)][p["top"][0]["index"].get<size_t>()] += 1;
  }
  EXPECT_EQ(nlohmann::json(confusion), evaluation["confusion"]);

  // Text output: one line per image, the most probable class first.
  const auto text = run_daas("predict --model " + run_ + " --top-k 2 " + images + "/test/0");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(std::regex_search(text.output, std::regex("/test/0/[0-9]+\\.png: [A-Za-z/ -]+ [0-9.]+%, ")))
      << text.output;
}

TEST_F(PredictCommand, ImagesAreReadAsTheModelNeedsThem) {
  TempDir dir;
  data::DataOptions options;
  options.subset = 100;
  const auto image = data::load_data(options, 0).test.images[0];  // uint8 [1, 28, 28]
  data::write_png(dir.file("gray.png"), image);
  data::write_png(dir.file("rgb.png"), image.expand({3, 28, 28}).contiguous());
  auto rgba = torch::cat({image.expand({3, 28, 28}), torch::full({1, 28, 28}, 255, torch::kUInt8)});
  write_png_with(dir.file("rgba.png"), rgba.permute({1, 2, 0}), PNG_FORMAT_RGBA);
  const auto predicted = run_daas("predict --quiet --json --top-k 10 --model " + run_ + " " + dir.file("gray.png") +
                                  " " + dir.file("rgb.png") + " " + dir.file("rgba.png"));
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  const auto json = json_in(predicted.output);
  ASSERT_EQ(json["predictions"].size(), 3u);
  // A gray model sees an RGB (or opaque RGBA) copy of a gray image as that image.
  const auto& gray = json["predictions"][0]["top"];
  for (int copy : {1, 2}) {
    const auto& top = json["predictions"][copy]["top"];
    for (size_t j = 0; j < 10; ++j) {
      EXPECT_EQ(top[j]["index"], gray[j]["index"]) << copy << " " << j;
      EXPECT_NEAR(top[j]["probability"].get<double>(), gray[j]["probability"].get<double>(), 1e-6);
    }
  }

  // A larger image is brought to 28×28; a transparent one is refused on request.
  data::write_png(dir.file("big.png"), torch::randint(0, 256, {1, 40, 56}, torch::kLong).to(torch::kUInt8));
  EXPECT_EQ(run_daas("predict --model " + run_ + " " + dir.file("big.png")).exit_code, 0);
  rgba[3].fill_(0);
  write_png_with(dir.file("clear.png"), rgba.permute({1, 2, 0}), PNG_FORMAT_RGBA);
  const auto refused = run_daas("predict --image-background error --model " + run_ + " " + dir.file("clear.png"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("clear.png: 784 of its 784 pixels are not opaque"), std::string::npos)
      << refused.output;
}

TEST_F(PredictCommand, UsageErrors) {
  const auto no_images = run_daas("predict --model " + run_);
  EXPECT_EQ(no_images.exit_code, 2) << no_images.output;
  EXPECT_NE(no_images.output.find("daas predict: no images"), std::string::npos) << no_images.output;
  const auto no_model = run_daas("predict " + run_ + "/genotype.txt");
  EXPECT_EQ(no_model.exit_code, 2) << no_model.output;
  EXPECT_NE(no_model.output.find("daas predict: no --model"), std::string::npos) << no_model.output;
  EXPECT_EQ(run_daas("predict --top-k 0 --model " + run_ + " x.png").exit_code, 2);
  const auto missing = run_daas("predict --model " + run_ + " " + dir_->file("nothing.png"));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("nothing.png: no such image file or folder"), std::string::npos) << missing.output;
}

TEST(PredictJson, FileNamesThatAreNotUtf8) {
  // A file name is bytes; JSON text is UTF-8. The JSON output shows a byte
  // that is not UTF-8 as U+FFFD (and says so), the text output as it is.
  const std::string model = testing::source_dir() + "/fuzz/corpus/model_file/tiny.pt";
  TempDir dir;
  const std::string latin1 = dir.file("caf\xE9.png");
  data::write_png(latin1, torch::zeros({1, 28, 28}, torch::kUInt8));
  data::write_png(dir.file("plain.png"), torch::zeros({1, 28, 28}, torch::kUInt8));
  const auto predicted =
      run_daas("predict --threads 1 --json --top-k 1 --model " + model + " " + dir.file("plain.png") + " " + latin1);
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  EXPECT_NE(predicted.output.find("1 image file name(s) not valid UTF-8; the JSON shows their invalid bytes as U+FFFD "
                                  "(the text output keeps them)"),
            std::string::npos)
      << predicted.output;
  const auto json = json_in(predicted.output);
  ASSERT_EQ(json["predictions"].size(), 2u) << predicted.output;
  EXPECT_EQ(json["predictions"][0]["image"], dir.file("plain.png"));
  EXPECT_EQ(json["predictions"][1]["image"], dir.file("caf\xEF\xBF\xBD.png"));
  const auto text = run_daas("predict --threads 1 --top-k 1 --model " + model + " " + latin1);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find(latin1 + ": "), std::string::npos) << text.output;
}

}  // namespace
}  // namespace daas
