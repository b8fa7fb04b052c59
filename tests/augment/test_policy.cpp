// Fixed policies, policy files and the pipeline.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "daas/augment/pipeline.h"
#include "daas/augment/policy.h"
#include "daas/data/loader.h"
#include "test_support.h"

namespace daas::augment {
namespace {

using daas::testing::TempDir;

torch::Tensor random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, 256, {n, c, h, w}, generator, torch::kLong).to(torch::kByte);
}

const std::vector<std::string> kBuiltIn = {"none", "standard", "autoaugment-cifar10", "randaugment", "trivialaugment"};

TEST(Policies, EveryPolicyKeepsShapeAndTypeAndIsSeeded) {
  for (const auto& name : kBuiltIn) {
    for (int64_t c : {1, 3}) {
      const auto images = random_images(32, c, 24, 24, 1);
      const auto policy = make_policy(name, {});
      EXPECT_EQ(policy->name(), name);
      auto g1 = at::make_generator<at::CPUGeneratorImpl>(7);
      auto g2 = at::make_generator<at::CPUGeneratorImpl>(7);
      auto g3 = at::make_generator<at::CPUGeneratorImpl>(8);
      const auto a = policy->apply(images, g1);
      EXPECT_EQ(a.sizes(), images.sizes()) << name;
      EXPECT_EQ(a.scalar_type(), torch::kByte) << name;
      EXPECT_TRUE(torch::equal(a, policy->apply(images, g2))) << name;
      const bool changes = name != "none";
      EXPECT_EQ(!torch::equal(a, images), changes) << name;
      if (changes) {
        EXPECT_FALSE(torch::equal(a, policy->apply(images, g3))) << name;
      }
    }
  }
}

TEST(Policies, UnknownNameListsTheKnownOnes) {
  EXPECT_THROWS_WITH(make_policy("autoaugment"),
                     "unknown augmentation policy 'autoaugment'; expected one of none, standard, autoaugment-cifar10");
}

TEST(Policies, StandardIsAPaddedCropAndAFlip) {
  const auto images = random_images(16, 3, 12, 12, 2);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto out = make_policy("standard")->apply(images, generator);
  const auto padded = torch::constant_pad_nd(images, {4, 4, 4, 4}, 0);
  int flipped = 0;
  for (int64_t i = 0; i < 16; ++i) {
    bool found = false;
    for (int64_t dy = 0; dy <= 8 && !found; ++dy) {
      for (int64_t dx = 0; dx <= 8 && !found; ++dx) {
        const auto crop = padded[i].narrow(1, dy, 12).narrow(2, dx, 12);
        if (torch::equal(out[i], crop)) found = true;
        if (!found && torch::equal(out[i], crop.flip({2}))) found = true, ++flipped;
      }
    }
    EXPECT_TRUE(found) << "image " << i << " is no crop of the padded image";
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
  PolicyOptions off;
  off.crop_padding = 0;
  off.flip = false;
  EXPECT_TRUE(torch::equal(make_policy("standard", off)->apply(images, generator), images));
}

TEST(Policies, TorchvisionPoliciesLeaveImagesUnchangedAtTorchvisionsRate) {
  // The share of draws that leave an image unchanged sums up the policy's
  // probabilities, op choices and which magnitudes are no-ops on this image.
  // Reference shares: torchvision 0.14's AutoAugment(CIFAR10), RandAugment()
  // and TrivialAugmentWide() on the same image, 20000 draws each
  // (bench/augment_torchvision.py --unchanged-rate prints them).
  const auto y = torch::arange(32, torch::kLong).view({1, 32, 1});
  const auto x = torch::arange(32, torch::kLong).view({1, 1, 32});
  const auto c = torch::arange(3, torch::kLong).view({3, 1, 1});
  const auto image = ((3 * y + 5 * x + 40 * c) % 256).to(torch::kByte);
  const int64_t n = 16000;
  constexpr double kReferenceDraws = 20000;
  const auto images = image.unsqueeze(0).expand({n, 3, 32, 32}).contiguous();
  const std::vector<std::pair<std::string, double>> expected = {
      {"autoaugment-cifar10", 0.2445}, {"randaugment", 0.0049}, {"trivialaugment", 0.0993}};
  for (const auto& [name, share] : expected) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
    const auto out = make_policy(name)->apply(images, generator);
    const double unchanged = out.eq(images).flatten(1).all(1).to(torch::kDouble).mean().item<double>();
    // Four binomial standard deviations of the difference between this
    // estimate and the reference's; narrow enough that a policy that never
    // (or always) leaves an image unchanged fails.
    const double tolerance = 4 * std::sqrt(share * (1 - share) * (1.0 / n + 1.0 / kReferenceDraws));
    ASSERT_LT(tolerance, share) << name;
    EXPECT_NEAR(unchanged, share, tolerance) << name;
  }
}

TEST(Policies, RandAugmentAndTrivialAugmentValidateTheirSettings) {
  PolicyOptions bad;
  bad.randaugment_magnitude = 31;
  EXPECT_THROWS_WITH(make_policy("randaugment", bad), "randaugment: magnitude 31; expected a bin in [0, 30]");
}

TEST(PolicyFiles, RoundTripAndApply) {
  TempDir dir;
  const std::vector<SubPolicy> policy = {{{Op::Invert, 1.0, 0.0}, {Op::Rotate, 0.0, 0.7}},
                                         {{Op::Invert, 1.0, 0.0}, {Op::Identity, 1.0, 0.0}}};
  const std::string path = dir.file("policy.json");
  std::ofstream(path) << policy_to_json(policy).dump();
  const auto read = read_policy_file(path);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0][1].op, Op::Rotate);
  EXPECT_DOUBLE_EQ(read[0][1].level, 0.7);
  // Every sub-policy inverts with p = 1 and does nothing else.
  const auto images = random_images(8, 3, 10, 10, 6);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_TRUE(torch::equal(make_policy("file:" + path)->apply(images, generator), 255 - images));
}

TEST(PolicyFiles, BadFilesFailWithClearMessages) {
  TempDir dir;
  auto write = [&](const std::string& text) {
    const std::string path = dir.file("p.json");
    std::ofstream(path) << text;
    return path;
  };
  EXPECT_THROWS_WITH(read_policy_file(write("[[[\"Blur\", 0.5, 0.5]]]")),
                     "sub-policy 0, op 0: unknown augmentation op 'Blur'");
  EXPECT_THROWS_WITH(read_policy_file(write("[[[\"Rotate\", 1.5, 0.5]]]")),
                     "sub-policy 0, op 0: probability 1.5 is out of range; expected a number in [0, 1]");
  EXPECT_THROWS_WITH(read_policy_file(write("[[[\"Rotate\", 0.5, 0.2]], [[\"Rotate\", 0.5, -2]]]")),
                     "sub-policy 1, op 0: level -2 is out of range; expected a number in [0, 1]");
  EXPECT_THROWS_WITH(read_policy_file(write("[[[\"Rotate\", 0.5]]]")), "is not [op, probability, level]");
  EXPECT_THROWS_WITH(read_policy_file(write("[[[\"Rotate\", 0.5, 0.5]]")), "not valid JSON");
  EXPECT_THROWS_WITH(read_policy_file(write("[]")), "expected a non-empty JSON list of sub-policies");
}

TEST(Normalize, ScalesPerChannelAndLeavesItsInputAlone) {
  const auto bytes = torch::full({2, 1, 2, 2}, 51, torch::kUInt8);
  EXPECT_TRUE(torch::allclose(normalize(bytes, {0.1}, {0.5}), torch::full({2, 1, 2, 2}, 0.2f)));
  const auto floats = torch::full({2, 1, 2, 2}, 0.2f);
  const auto before = floats.clone();
  normalize(floats, {0.1}, {0.5});
  EXPECT_TRUE(torch::equal(floats, before));
}

TEST(Pipeline, NormalisesAppliesCutoutAndIsReproduciblePerBatch) {
  const auto images = random_images(16, 3, 32, 32, 9);
  PipelineOptions options;
  options.mean = {0.5, 0.4, 0.3};
  options.std = {0.2, 0.25, 0.3};
  options.cutout = 8;
  options.seed = 11;
  Pipeline pipeline(make_policy("standard"), make_policy("autoaugment-cifar10"), options);
  const auto a = pipeline(images, /*epoch=*/2, /*index=*/5);
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_EQ(a.sizes(), images.sizes());
  EXPECT_TRUE(torch::equal(a, pipeline(images, 2, 5)));
  EXPECT_FALSE(torch::equal(a, pipeline(images, 2, 6)));
  // Cutout leaves an 8×8 (or clipped) block of zeros in every channel.
  const auto zeros = a.eq(0).all(1).flatten(1).sum(1);
  EXPECT_TRUE(zeros.ge(16).all().item<bool>()) << zeros;
  EXPECT_TRUE(zeros.le(64 + 8).all().item<bool>()) << zeros;

  options.cutout = 0;
  Pipeline plain(nullptr, nullptr, options);
  const auto expected = (images.to(torch::kFloat) / 255.0 - torch::tensor({0.5f, 0.4f, 0.3f}).view({1, 3, 1, 1})) /
                        torch::tensor({0.2f, 0.25f, 0.3f}).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(plain(images, 0, 0), expected, /*rtol=*/1e-5, /*atol=*/1e-5));
}

TEST(Pipeline, AsALoaderTransformDoesNotDependOnThreadTiming) {
  data::Dataset data;
  data.name = "toy";
  data.images = random_images(64, 1, 16, 16, 12);
  data.labels = torch::zeros({64}, torch::kLong);
  data.classes = {"a"};
  data.mean = {0.5};
  data.std = {0.25};
  PipelineOptions options;
  options.mean = data.mean;
  options.std = data.std;
  options.seed = 3;
  Pipeline pipeline(make_policy("standard"), make_policy("trivialaugment"), options);
  auto run = [&](int64_t prefetch) {
    data::LoaderOptions loader_options;
    loader_options.batch_size = 16;
    loader_options.prefetch = prefetch;
    data::BatchLoader loader(data, loader_options, pipeline.transform());
    loader.start_epoch(1);
    std::vector<torch::Tensor> batches;
    while (auto batch = loader.next()) batches.push_back(batch->images);
    return torch::cat(batches);
  };
  const auto a = run(1);
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(a, run(4)));
}

}  // namespace
}  // namespace daas::augment
