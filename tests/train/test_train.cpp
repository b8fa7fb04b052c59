// Retraining: learning on Fashion-MNIST, model file round trip and its
// errors, resume equality, policy and genotype sources.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include <algorithm>
#include <array>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "daas/augment/searchable_policy.h"
#include "daas/core/checkpoint.h"
#include "daas/core/files.h"
#include "daas/core/interrupt.h"
#include "daas/core/metrics.h"
#include "daas/data/dataset.h"
#include "daas/train/evaluate.h"
#include "daas/train/model.h"
#include "daas/train/ranks.h"
#include "daas/train/train.h"
#include "tensor_support.h"
#include "test_support.h"

namespace daas::train {
namespace {

data::DataSplits fashion(int64_t subset) {
  data::DataOptions data;
  data.subset = subset;
  return data::load_data(data, 0);
}

TrainOptions tiny_options() {
  TrainOptions options;
  options.channels = 8;
  options.layers = 3;
  options.batch_size = 32;
  options.epochs = 2;
  options.threads = 2;
  options.cutout = 8;
  options.drop_path = 0.2;
  options.auxiliary_weight = 0.4;
  return options;
}

/// Every parameter and buffer of a saved model, by name.
std::map<std::string, torch::Tensor> weights_of(const std::string& model_path) {
  auto loaded = load_model(model_path, torch::kCPU);
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : loaded.network->module().named_parameters()) out[item.key()] = item.value();
  for (const auto& item : loaded.network->module().named_buffers()) out[item.key()] = item.value();
  return out;
}

ModelInfo fashion_info(const nas::Genotype& genotype, int64_t C) {
  ModelInfo info;
  info.genotype = genotype;
  info.C = C;
  info.layers = 3;
  info.classes = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  info.mean = {0.3};
  info.std = {0.35};
  return info;
}

TEST(Retrain, LearnsFashionMnistAndTheSavedModelEvaluatesTheSame) {
  testing::TempDir dir;
  const auto splits = fashion(2000);
  // Unregularised, unaugmented and a higher learning rate, so that two short
  // epochs learn (about 60% here).
  auto options = tiny_options();
  options.lr = 0.05;
  options.base_policy = "none";
  options.cutout = 0;
  options.drop_path = 0;
  options.auxiliary_weight = 0;
  const auto result = train_splits(options, splits, dir.path(), false);
  // Chance is 10%; two epochs of a 3-cell network on 2000 images reach far more.
  EXPECT_GT(result.test.top1(), 0.5) << result.last_record.dump();
  EXPECT_EQ(result.test.images, splits.test.size());
  const auto metrics = core::read_metrics(dir.file("metrics.jsonl"));
  ASSERT_EQ(metrics.size(), 2u);
  for (const char* key : {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}) {
    EXPECT_TRUE(metrics[1].contains(key)) << key;
  }
  EXPECT_FALSE(metrics[1].contains("test_top5")) << "top-5 is reported only with more than 10 classes";
  EXPECT_DOUBLE_EQ(metrics[1]["test_acc"].get<double>(), result.test.top1());

  auto loaded = load_model(result.model_path, torch::kCPU);
  const auto again = evaluate(*loaded.network, splits.test, 256, torch::kCPU);
  EXPECT_EQ(again.top1_correct, result.test.top1_correct);
  EXPECT_NEAR(again.loss, result.test.loss, 1e-5);
  EXPECT_TRUE(torch::equal(again.confusion, result.test.confusion));
  EXPECT_EQ(again.confusion.sum().item<int64_t>(), splits.test.size());
  EXPECT_EQ(loaded.network->info().classes, splits.train.classes);
  EXPECT_EQ(loaded.network->info().genotype, nas::builtin_genotype("DARTS_V2"));
  EXPECT_DOUBLE_EQ(loaded.extra.at("test_top1").get<double>(), result.test.top1());
}

/// Both model files hold the same tensors, bit for bit.
void expect_same_weights(const std::string& expected_path, const std::string& actual_path) {
  const auto expected = weights_of(expected_path);
  const auto actual = weights_of(actual_path);
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, tensor] : expected) EXPECT_TRUE(torch::equal(tensor, actual.at(name))) << name;
}

TEST(Retrain, InterruptedAndResumedRunEndsLikeTheUninterruptedOne) {
  const auto splits = fashion(600);
  auto options = tiny_options();
  options.epochs = 3;
  options.steps_per_epoch = 3;
  options.eval_every = 2;
  // One TempDir per test (its name is the test's), two run folders in it.
  testing::TempDir dir;
  const std::string whole_dir = dir.file("whole"), cut_dir = dir.file("cut");
  train_splits(options, splits, whole_dir, false);
  struct Stop {};
  EXPECT_THROW(train_splits(options, splits, cut_dir, false,
                            [](int64_t epoch) {
                              if (epoch == 1) throw Stop{};
                            }),
               Stop);
  EXPECT_FALSE(core::file_exists(cut_dir + "/model.pt"));
  train_splits(options, splits, cut_dir, true);

  expect_same_weights(whole_dir + "/model.pt", cut_dir + "/model.pt");

  const auto whole_metrics = core::read_metrics(whole_dir + "/metrics.jsonl");
  const auto metrics = core::read_metrics(cut_dir + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(metrics[e]["train_loss"], whole_metrics[e]["train_loss"]) << e;
    // DARTS's drop-path: max · epoch / epochs, epoch counted from 0.
    EXPECT_DOUBLE_EQ(metrics[e]["drop_path"].get<double>(), 0.2 * static_cast<double>(e) / 3.0);
  }
  // eval_every 2: epochs 2 and 3 (the last) are evaluated, epoch 1 is not.
  EXPECT_FALSE(metrics[0].contains("test_acc"));
  EXPECT_TRUE(metrics[1].contains("test_acc"));
  EXPECT_EQ(metrics[2]["test_acc"], whole_metrics[2]["test_acc"]);
}

TEST(Inference, ChunksOfEachShardGiveTheWholeBatchsLogits) {
  torch::manual_seed(0);
  Network net(fashion_info(nas::builtin_genotype("DARTS_V2"), 8));
  {
    // Running statistics away from 0 and 1, so that eval-mode BatchNorm acts.
    torch::NoGradGuard no_grad;
    for (const auto& buffer : net.module().named_buffers()) {
      const std::string& name = buffer.key();
      if (name.size() > 12 && name.compare(name.size() - 12, 12, "running_mean") == 0)
        buffer.value().uniform_(-0.5, 0.5);
      if (name.size() > 11 && name.compare(name.size() - 11, 11, "running_var") == 0) buffer.value().uniform_(0.5, 2.0);
    }
  }
  net.module().eval();
  torch::NoGradGuard no_grad;
  // Shards longer than a chunk: not a multiple of it, one image more than
  // two chunks (no chunk of a single image, which LibTorch's convolution
  // would run another way), and shorter than a chunk.
  for (const int64_t images :
       {2 * kInferenceChunk + 7, 2 * kInferenceChunk + 1, 2 * kInferenceChunk + 2, kInferenceChunk - 3}) {
    const auto x = torch::randn({images, 1, 28, 28});
    const auto whole = net.forward(x).logits;
    ASSERT_EQ(whole.size(0), images);
    for (const int64_t ranks : {1, 2}) {
      TrainRanks team(net, ranks, net.channels_last(), torch::kCPU);
      team.follow_master();
      const auto logits = team.infer(x);
      ASSERT_EQ(logits.sizes(), whole.sizes()) << images << " images, " << ranks << " ranks";
      // The same sums in the same order for every image, whatever the batch.
      EXPECT_TRUE(torch::equal(logits, whole)) << images << " images, " << ranks << " ranks: largest difference "
                                               << (logits - whole).abs().max().item<float>();
    }
  }
}

TEST(Retrain, DropPathMasksDoNotDependOnHowTheBatchIsSplit) {
  const auto splits = fashion(600);
  auto options = tiny_options();
  options.epochs = 2;  // drop-path is 0 in the first epoch and 0.4 in the second
  options.steps_per_epoch = 3;
  options.auxiliary_weight = 0;
  testing::TempDir dir;
  // "batch": two ranks, each its half of the batch; "op": one rank.
  at::set_num_threads(2);
  auto run = [&](const std::string& parallel, double drop_path, const std::string& name) {
    auto o = options;
    o.parallel = parallel;
    o.drop_path = drop_path;
    train_splits(o, splits, dir.file(name), false);
    return dir.file(name) + "/model.pt";
  };
  const auto halves = run("batch", 0.8, "halves"), whole = run("op", 0.8, "whole");
  const auto without = run("batch", 0, "without");
  std::string where;
  // Two ranks sum the batch in another order than one: float rounding.
  EXPECT_LT(testing::largest_difference(weights_of(halves), weights_of(whole), where), 1e-4) << where;
  // The masks did something: without drop-path the weights are far apart.
  EXPECT_GT(testing::largest_difference(weights_of(halves), weights_of(without), where), 1e-3);
}

TEST(Retrain, RunStoppedBySignalWithinAnEpochResumesExactly) {
  const auto splits = fashion(600);
  auto options = tiny_options();
  options.epochs = 2;
  options.steps_per_epoch = 3;
  testing::TempDir dir;
  const std::string whole_dir = dir.file("whole"), cut_dir = dir.file("cut");
  train_splits(options, splits, whole_dir, false);
  // As SIGTERM during the first step would: the step ends, the checkpoint
  // is written, the run stops, and no model.pt is written.
  core::request_interrupt(SIGTERM);
  try {
    train_splits(options, splits, cut_dir, false);
    ADD_FAILURE() << "the run did not stop";
  } catch (const core::Interrupted& stop) {
    EXPECT_EQ(stop.exit_status(), 143);
    EXPECT_THAT(stop.what(), ::testing::HasSubstr("stopped by SIGTERM: checkpoint at epoch 1, step 1 of 3"));
    EXPECT_THAT(stop.what(), ::testing::HasSubstr("daas train --resume"));
  }
  EXPECT_FALSE(core::file_exists(cut_dir + "/model.pt"));
  EXPECT_TRUE(core::file_exists(cut_dir + "/checkpoint.pt"));
  train_splits(options, splits, cut_dir, true);
  expect_same_weights(whole_dir + "/model.pt", cut_dir + "/model.pt");
  const auto whole_metrics = core::read_metrics(whole_dir + "/metrics.jsonl");
  const auto metrics = core::read_metrics(cut_dir + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    for (const char* key : {"train_loss", "train_acc", "steps", "test_acc"}) {
      EXPECT_EQ(metrics[e][key], whole_metrics[e][key]) << key << " of epoch " << e + 1;
    }
  }
}

TEST(Retrain, SettingsOutsideTheirRangeAreClearErrorsThroughTheLibraryToo) {
  const auto splits = fashion(200);
  auto options = tiny_options();
  options.eval_every = 0;  // the command line refuses it; train_splits must too
  testing::TempDir dir;
  EXPECT_THROWS_WITH(train_splits(options, splits, dir.file("run"), false),
                     "setting 'eval_every' = 0 is out of range; expected a value in [1, 100000]");
  EXPECT_FALSE(core::file_exists(dir.file("run") + "/checkpoint.pt"));
  // Every declared range and choice, as the command line checks them.
  options = tiny_options();
  options.momentum = 1.5;
  EXPECT_THROWS_WITH(train_splits(options, splits, dir.file("run"), false),
                     "setting 'momentum' = 1.5 is out of range; expected a finite value in [0, 1]");
  options = tiny_options();
  options.lr = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROWS_WITH(train_splits(options, splits, dir.file("run"), false), "setting 'lr' = nan is out of range");
  options = tiny_options();
  options.network = "resnet";
  EXPECT_THROWS_WITH(train_splits(options, splits, dir.file("run"), false),
                     "setting 'network' = 'resnet' is not allowed; expected one of auto, cifar, imagenet");
  EXPECT_FALSE(core::file_exists(dir.file("run") + "/checkpoint.pt"));
}

TEST(ModelFile, TruncatedMissingAndForeignFilesAreClearErrors) {
  testing::TempDir dir;
  Network net(fashion_info(nas::builtin_genotype("DARTS_V2"), 4));
  save_model(net, dir.file("model.pt"), {});
  const std::string bytes = core::read_file(dir.file("model.pt"));
  std::ofstream(dir.file("truncated.pt"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROWS_WITH(load_model(dir.file("truncated.pt"), torch::kCPU),
                     dir.file("truncated.pt") + ": not a readable daas checkpoint (truncated or corrupt)");
  EXPECT_THROWS_WITH(load_model(dir.file("absent.pt"), torch::kCPU), "absent.pt: checkpoint not found");

  core::CheckpointWriter other;
  other.json("state", {{"next_epoch", 1}});
  other.save(dir.file("checkpoint.pt"));
  EXPECT_THROWS_WITH(load_model(dir.file("checkpoint.pt"), torch::kCPU), "checkpoint has no entry 'info'");

  core::CheckpointWriter wrong_format;
  wrong_format.json("info", {{"C", 4}});
  wrong_format.save(dir.file("wrong.pt"));
  EXPECT_THROWS_WITH(load_model(dir.file("wrong.pt"), torch::kCPU), "wrong.pt: not a daas model file");
}

TEST(ModelFile, WeightsOfAnotherGenotypeOrSizeAreRefused) {
  testing::TempDir dir;
  Network v2(fashion_info(nas::builtin_genotype("DARTS_V2"), 4));
  // A record naming DARTS_V1 over DARTS_V2 weights: the op names differ.
  core::CheckpointWriter genotype_mismatch;
  genotype_mismatch.module("model", v2.module());
  genotype_mismatch.json("info", fashion_info(nas::builtin_genotype("DARTS_V1"), 4).to_json());
  genotype_mismatch.json("extra", nlohmann::json::object());
  genotype_mismatch.save(dir.file("v1.pt"));
  EXPECT_THROWS_WITH(load_model(dir.file("v1.pt"), torch::kCPU),
                     "v1.pt: entry 'model' does not match this network (different genotype or size?)");
  // Same genotype, record says C 6 but the weights have C 4.
  core::CheckpointWriter size_mismatch;
  size_mismatch.module("model", v2.module());
  size_mismatch.json("info", fashion_info(nas::builtin_genotype("DARTS_V2"), 6).to_json());
  size_mismatch.json("extra", nlohmann::json::object());
  size_mismatch.save(dir.file("c6.pt"));
  EXPECT_THROWS_WITH(load_model(dir.file("c6.pt"), torch::kCPU), "the file's weights and record disagree");
}

TEST(ModelFile, MismatchedDataSetIsAClearError) {
  const ModelInfo info = fashion_info(nas::builtin_genotype("DARTS_V2"), 4);
  data::Dataset rgb;
  rgb.name = "cifar10/test";
  rgb.images = torch::zeros({2, 3, 32, 32}, torch::kUInt8);
  rgb.labels = torch::zeros({2}, torch::kLong);
  rgb.classes = info.classes;
  EXPECT_THROWS_WITH(check_compatible(info, rgb, "m.pt"),
                     "m.pt: the model takes 1×28×28 images but cifar10/test has 3×32×32");
  data::Dataset five = rgb;
  five.images = torch::zeros({2, 1, 28, 28}, torch::kUInt8);
  five.classes = {"0", "1", "2", "3", "4"};
  EXPECT_THROWS_WITH(check_compatible(info, five, "m.pt"), "m.pt: the model has 10 classes but cifar10/test has 5");
}

TEST(ModelFile, RecordRoundTripsAndNetworkKindFollowsImageSize) {
  auto info = fashion_info(nas::builtin_genotype("GDAS_V1"), 4);
  info.network = NetworkKind::kImageNet;
  info.auxiliary = true;
  const auto back = ModelInfo::from_json(info.to_json(), "x");
  EXPECT_EQ(back.genotype, info.genotype);
  EXPECT_EQ(back.network, NetworkKind::kImageNet);
  EXPECT_TRUE(back.auxiliary);
  EXPECT_EQ(back.classes, info.classes);
  EXPECT_EQ(network_kind_for(28, 28), NetworkKind::kCifar);
  EXPECT_EQ(network_kind_for(64, 80), NetworkKind::kImageNet);
  auto broken = info.to_json();
  broken["mean"] = {0.1, 0.2};
  EXPECT_THROWS_WITH(ModelInfo::from_json(broken, "x.pt"),
                     "x.pt: model record has 1 input channels, 2 means and 1 stds");
}

TEST(Evaluation, PerClassAccuracyAndJsonFromTheConfusionMatrix) {
  Evaluation evaluation;
  evaluation.confusion = torch::tensor({3L, 1L, 0L, 0L, 2L, 2L, 0L, 0L, 0L}).view({3, 3});
  evaluation.images = 8;
  evaluation.top1_correct = 5;
  const auto accuracy = evaluation.per_class_accuracy();
  EXPECT_DOUBLE_EQ(accuracy[0], 0.75);
  EXPECT_DOUBLE_EQ(accuracy[1], 0.5);
  EXPECT_TRUE(std::isnan(accuracy[2]));
  const auto json = evaluation.to_json({"x", "y", "z"});
  EXPECT_DOUBLE_EQ(json["top1"].get<double>(), 5.0 / 8.0);
  EXPECT_TRUE(json["per_class"]["z"].is_null());
  EXPECT_EQ(json["confusion"][1], nlohmann::json({0, 2, 2}));
}

TEST(Sources, GenotypeAndPolicyFromASearchRunFolder) {
  testing::TempDir dir;
  const auto genotype = nas::builtin_genotype("DARTS_V1");
  core::write_file_atomic(dir.file("genotype.json"), genotype.to_json().dump());
  EXPECT_EQ(resolve_genotype(dir.path()), genotype);
  EXPECT_EQ(resolve_genotype("DARTS_V2"), nas::builtin_genotype("DARTS_V2"));

  // A searched policy that has settled on (Invert, Equalize) with Invert
  // always applied and Equalize never: both ways of applying it must invert
  // every image and do nothing else.
  augment::SearchablePolicy searched(augment::SearchablePolicyOptions().levels(5));
  const auto& pairs = augment::sub_policy_ops();
  const auto pair =
      std::find(pairs.begin(), pairs.end(), std::array<augment::Op, 2>{augment::Op::Invert, augment::Op::Equalize});
  ASSERT_NE(pair, pairs.end());
  const auto s = pair - pairs.begin();
  {
    torch::NoGradGuard no_grad;
    searched->phi[s] = 50.0;
    searched->theta[s][0] = 50.0;
    searched->theta[s][1] = -50.0;
  }
  searched->save(dir.file("policy.json"), 1);
  const auto images = torch::randint(0, 256, {8, 1, 12, 12}, torch::kUInt8);
  for (const char* sampling : {"sub-policies", "learned"}) {
    const auto policy = resolve_policy(dir.path(), sampling, {});
    auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
    EXPECT_TRUE(torch::equal(policy->apply(images, generator), 255 - images)) << sampling;
  }
  EXPECT_THROWS_WITH(resolve_policy("standard", "learned", {}), "policy 'standard' with policy_sampling learned");
  // A forged level count is refused before it sizes β (1e9 levels: 3 GB of μ).
  auto forged = nlohmann::json::parse(core::read_file(dir.file("policy.json")));
  forged["beta"]["levels"] = 1000000000;
  core::write_file_atomic(dir.file("forged.json"), forged.dump());
  EXPECT_THROWS_WITH(resolve_policy("file:" + dir.file("forged.json"), "learned", {}),
                     "forged.json: beta field \"levels\" = 1000000000; expected an integer in [2, 101]");
  testing::TempDir empty;
  EXPECT_THROWS_WITH(resolve_policy(empty.path(), "sub-policies", {}), "the folder has no policy.json");
  EXPECT_THROWS_WITH(resolve_genotype(empty.path()), "the folder has no genotype.json");
}

}  // namespace
}  // namespace daas::train
