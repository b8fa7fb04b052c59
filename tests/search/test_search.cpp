// The DAAS search: estimator, restore guarantees, learning signals, resume.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <csignal>
#include <filesystem>
#include <limits>

#include "daas/augment/ops.h"
#include "daas/augment/policy.h"
#include "daas/augment/searchable_policy.h"
#include "daas/core/files.h"
#include "daas/core/interrupt.h"
#include "daas/core/metrics.h"
#include "daas/core/parallel.h"
#include "daas/data/dataset.h"
#include "daas/nas/batch_norm.h"
#include "daas/nas/genotype.h"
#include "daas/nas/ops.h"
#include "daas/search/model.h"
#include "daas/search/search.h"
#include "daas/search/step.h"
#include "test_support.h"

namespace daas::search {
namespace {

/// A tiny double-precision model with BN, so finite differences are exact
/// enough to compare with autograd tightly.
class TinyModel : public SearchModel {
 public:
  TinyModel() {
    net_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 3, 3).padding(1)));
    // daas's BatchNorm: the policy step's forwards freeze its running statistics.
    net_->push_back(nas::BatchNorm(3));
    net_->push_back(torch::nn::ReLU());
    net_->push_back(torch::nn::AdaptiveAvgPool2d(1));
    net_->push_back(torch::nn::Flatten());
    net_->push_back(torch::nn::Linear(3, 4));
    net_->to(torch::kFloat64);
  }
  void begin_step(at::Generator&) override {}
  torch::Tensor forward(const torch::Tensor& x, bool) override { return net_->forward(x); }
  std::vector<torch::Tensor> weight_parameters() override { return net_->parameters(); }
  std::vector<torch::Tensor> arch_parameters() override { return {}; }
  void set_tau(double) override {}
  std::optional<nas::Genotype> genotype() override { return std::nullopt; }
  torch::nn::Module& module() override { return *net_; }
  std::unique_ptr<SearchModel> replica() const override { return std::make_unique<TinyModel>(); }
  void follow(SearchModel& master) override { core::copy_module_state(master.module(), *net_); }
  std::vector<torch::Tensor> path_leaves() override { return {}; }
  void backward_path(const std::vector<torch::Tensor>&) override {}

 private:
  torch::nn::Sequential net_;
};

TEST(Estimator, FiniteDifferenceMatchesAutogradInnerProduct) {
  TinyModel model;
  const auto x = torch::randn({6, 1, 5, 5}, torch::kFloat64);
  const auto y = torch::tensor({0L, 1L, 2L, 3L, 0L, 1L});
  auto params = model.weight_parameters();
  std::vector<torch::Tensor> v;
  for (const auto& p : params) v.push_back(torch::randn_like(p));
  // Reference: ⟨∇_w ℓ_i, v⟩ per image by autograd, with the same batch (BN in train mode).
  const auto losses = torch::nn::functional::cross_entropy(
      model.forward(x, false), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  std::vector<double> expected;
  for (int64_t i = 0; i < 6; ++i) {
    const auto grads = torch::autograd::grad({losses[i]}, params, {}, /*retain_graph=*/true);
    double dot = 0;
    for (size_t k = 0; k < grads.size(); ++k) dot += (grads[k] * v[k]).sum().item<double>();
    expected.push_back(dot);
  }
  const auto d = directional_derivatives(model, v, x, y, 1e-4);
  ASSERT_TRUE(d.defined());
  for (int64_t i = 0; i < 6; ++i) EXPECT_NEAR(d[i].item<double>(), expected[static_cast<size_t>(i)], 1e-6) << i;
}

TEST(Estimator, RestoresWeightsAndBatchNormStatisticsBitExactly) {
  TinyModel model;
  const auto x = torch::randn({8, 1, 5, 5}, torch::kFloat64);
  const auto y = torch::zeros({8}, torch::kLong);
  std::vector<torch::Tensor> weights_before, buffers_before, v;
  for (const auto& p : model.weight_parameters()) {
    weights_before.push_back(p.detach().clone());
    v.push_back(torch::randn_like(p));
  }
  for (const auto& b : model.module().buffers()) buffers_before.push_back(b.clone());
  directional_derivatives(model, v, x, y, 0.01);
  const auto weights = model.weight_parameters();
  for (size_t i = 0; i < weights.size(); ++i) EXPECT_TRUE(torch::equal(weights[i], weights_before[i])) << i;
  const auto buffers = model.module().buffers();
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(torch::equal(buffers[i], buffers_before[i])) << i;
}

TEST(Estimator, TwoRanksGiveTheOneModelDerivativesAndLeaveEveryModelAlone) {
  // Over two ranks each rank runs its shard at both signs and every
  // BatchNorm normalises with the whole batch's statistics: the d_i are the
  // one model's. An odd batch: no row lost or counted twice.
  TinyModel master;
  const auto x = torch::randn({7, 1, 5, 5}, torch::kFloat64);
  const auto y = torch::tensor({0L, 1L, 2L, 3L, 0L, 1L, 2L});
  std::vector<torch::Tensor> weights_before, buffers_before, v;
  for (const auto& p : master.weight_parameters()) {
    weights_before.push_back(p.detach().clone());
    v.push_back(torch::randn_like(p));
  }
  for (const auto& b : master.module().buffers()) buffers_before.push_back(b.clone());
  const auto one = directional_derivatives(master, v, x, y, 1e-4);
  StepRanks ranks(master, 2);
  for (int64_t r = 0; r < 2; ++r) ranks.model(r).follow(master);
  const auto two = directional_derivatives(ranks, master, v, x, y, 1e-4);
  ASSERT_TRUE(one.defined() && two.defined());
  ASSERT_EQ(two.sizes(), one.sizes());
  EXPECT_TRUE(torch::allclose(two, one, 1e-7, 1e-9)) << two << "\nagainst\n" << one;
  const auto weights = master.weight_parameters();
  for (size_t i = 0; i < weights.size(); ++i) EXPECT_TRUE(torch::equal(weights[i], weights_before[i])) << i;
  for (int64_t r = 0; r < 2; ++r) {
    const auto buffers = ranks.model(r).module().buffers();
    for (size_t i = 0; i < buffers.size(); ++i) {
      EXPECT_TRUE(torch::equal(buffers[i], buffers_before[i])) << "rank " << r << ", buffer " << i;
    }
  }
}

TEST(Estimator, SurrogateGradientIsReinforceWithBaseline) {
  const auto d = torch::tensor({1.0, 3.0});
  auto log_prob_source = torch::zeros({2}, torch::requires_grad());
  const auto log_prob = log_prob_source * 1.0;
  policy_surrogate(d, log_prob, 0.5, /*normalize=*/false).backward();
  // −η · (d_i − mean d) / N = −0.5 · (−1, 1) / 2.
  EXPECT_TRUE(torch::allclose(log_prob_source.grad(), torch::tensor({0.25, -0.25})));
  log_prob_source.mutable_grad() = torch::Tensor();
  policy_surrogate(d * 10, log_prob_source * 1.0, 0.5, /*normalize=*/true).backward();
  // Normalised: (d − b) / std(d − b) = (−1, 1) / √2 whatever the scale of d.
  EXPECT_TRUE(torch::allclose(log_prob_source.grad(), torch::tensor({0.25, -0.25}) / std::sqrt(2.0)));
}

/// Fashion-MNIST subset halves; `invert_arch_half` inverts the images of the
/// half that trains the policy.
std::pair<data::Dataset, data::Dataset> fashion_halves(int64_t count, bool invert_arch_half) {
  data::DataOptions data;
  data.subset = count;
  const auto splits = data::load_data(data, 0);
  auto [first, second] = data::split_halves(splits.train, 0);
  if (invert_arch_half) second.images = 255 - second.images;
  return {first, second};
}

/// A task whose label is the polarity: half the images are inverted and
/// labelled 1, so Invert destroys exactly the label-relevant signal.
std::pair<data::Dataset, data::Dataset> polarity_halves(int64_t count) {
  data::DataOptions data;
  data.subset = count;
  auto polarity = data::load_data(data, 0).train;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  polarity.labels = torch::randint(2, {polarity.size()}, generator, torch::kLong);
  const auto inverted = polarity.labels.eq(1).view({-1, 1, 1, 1});
  polarity.images = torch::where(inverted, 255 - polarity.images, polarity.images);
  polarity.classes = {"normal", "inverted"};
  data::compute_statistics(polarity);
  return data::split_halves(polarity, 0);
}

SearchOptions tiny_options(const std::string& mode) {
  SearchOptions options;
  options.mode = mode;
  options.channels = 4;
  options.layers = 3;
  options.batch_size = 32;
  options.epochs = 2;
  options.steps_per_epoch = 4;
  options.threads = 2;
  return options;
}

struct OpShare {
  double mass = 0;         // selection probability of the sub-policies holding the op
  double application = 0;  // the op's mean application probability minus that of all slots
};

OpShare share_of(const std::vector<torch::Tensor>& beta, augment::Op op) {
  const auto selection = torch::softmax(beta[0].detach(), 0);
  const auto applied = torch::sigmoid(beta[1].detach());
  OpShare share;
  int slots = 0;
  const auto& pairs = augment::sub_policy_ops();
  for (int64_t s = 0; s < augment::kSubPolicyCount; ++s) {
    for (int j = 0; j < 2; ++j) {
      if (pairs[static_cast<size_t>(s)][static_cast<size_t>(j)] != op) continue;
      share.mass += selection[s].item<double>();
      share.application += applied[s][j].item<double>();
      ++slots;
    }
  }
  share.application = share.application / slots - applied.mean().item<double>();
  return share;
}

/// A short policy-mode search on the given halves; Invert's share at the end.
OpShare invert_share_after_search(const data::Dataset& weights_half, const data::Dataset& arch_half) {
  testing::TempDir dir;
  auto options = tiny_options("policy");
  options.epochs = 3;
  options.steps_per_epoch = 60;
  options.lr = 0.1;
  options.lr_min = 0.1;
  options.policy_lr = 0.2;
  const auto result = search_halves(options, weights_half, arch_half, dir.path(), false);
  return share_of(result.beta, augment::Op::Invert);
}

// Invert is paired with each of the other search ops.
constexpr double kInvertStartMass = (augment::kSearchOpCount - 1.0) / augment::kSubPolicyCount;

TEST(PolicyLearning, InvertGainsMassWhenValidationImagesAreInverted) {
  const auto [weights_half, arch_half] = fashion_halves(1200, /*invert_arch_half=*/true);
  const auto share = invert_share_after_search(weights_half, arch_half);
  // Seeds 0-3 gave 4.0, 5.2, 4.6 and 2.0 times the start.
  EXPECT_GT(share.mass, 1.5 * kInvertStartMass);
  EXPECT_GT(share.application, 0.0);
}

TEST(PolicyLearning, InvertLosesMassWhenItDestroysTheLabel) {
  const auto [weights_half, arch_half] = polarity_halves(1200);
  const auto share = invert_share_after_search(weights_half, arch_half);
  // Seeds 0-3 gave 0.14, 0.22, 0.17 and 0.20 times the start.
  EXPECT_LT(share.mass, 0.5 * kInvertStartMass);
  EXPECT_LT(share.application, 0.0);
}

TEST(ArchitectureLearning, AlphaLeavesUniformAndGenotypeIsValid) {
  testing::TempDir dir;
  const auto [weights_half, arch_half] = fashion_halves(600, false);
  auto options = tiny_options("arch");
  options.arch_lr = 0.05;
  options.fixed_policy = "none";
  const auto result = search_halves(options, weights_half, arch_half, dir.path(), false);
  ASSERT_EQ(result.alphas.size(), 2u);
  // Initial α is 1e-3·N(0,1); after 8 Adam steps of 0.05 rows are far from uniform.
  EXPECT_GT(result.alphas[0].detach().abs().max().item<double>(), 0.1);
  // The genotype is DARTS's derivation from the final α, and genotype.txt holds it.
  ASSERT_TRUE(result.genotype.has_value());
  EXPECT_EQ(*result.genotype, nas::derive_genotype(result.alphas[0], result.alphas[1]));
  EXPECT_EQ(core::read_file(dir.file("genotype.txt")), result.genotype->to_darts_string() + "\n");
  EXPECT_TRUE(core::file_exists(dir.file("checkpoint.pt")));
  EXPECT_EQ(core::read_metrics(dir.file("metrics.jsonl")).size(), 2u);
}

TEST(ArchitectureLearning, AStepThatCutsOffTheReductionCellsLeavesTheirAlphaAlone) {
  // Every normal-cell edge from the previous cell draws `none`: no
  // reduction cell reaches the loss, so α_reduce has no gradient this step
  // (it stopped a real search with "grad can be implicitly created only for
  // scalar outputs" when split over two threads).
  const auto [weights_half, arch_half] = fashion_halves(64, false);
  for (const int64_t threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    auto options = tiny_options("arch");
    options.threads = threads;
    options.layers = 5;  // normal, reduction, normal, reduction, normal: the last cell is a normal one
    const c10::Device device(c10::kCPU);
    auto model = make_search_model(options, weights_half, device);
    auto alphas = model->arch_parameters();
    {
      torch::NoGradGuard no_grad;
      int64_t edge = 0;
      for (int64_t node = 0; node < 4; ++node) {
        for (int64_t input = 0; input < node + 2; ++input, ++edge) {
          if (input == 1) alphas[0][edge][static_cast<int64_t>(nas::Primitive::kNone)] = 100.0;
        }
      }
    }
    const auto reduce_before = alphas[1].detach().clone(), normal_before = alphas[0].detach().clone();
    torch::optim::SGD weight_optimizer(model->weight_parameters(), torch::optim::SGDOptions(0.01));
    torch::optim::Adam arch_optimizer(alphas, torch::optim::AdamOptions(1e-2));
    auto rng = at::make_generator<at::CPUGeneratorImpl>(1);
    StepRanks ranks(*model, threads);
    StepContext context{options,
                        *model,
                        augment::SearchablePolicy{nullptr},
                        augment::make_policy("none", augment::default_policy_options(weights_half)),
                        rng,
                        weights_half.mean,
                        weights_half.std,
                        device,
                        &ranks};
    data::Batch train, val;
    train.images = weights_half.images.slice(0, 0, 32);
    train.labels = weights_half.labels.slice(0, 0, 32);
    val.images = arch_half.images.slice(0, 0, 32);
    val.labels = arch_half.labels.slice(0, 0, 32);
    ASSERT_NO_THROW(search_step(context, train, val, 0.01, 0, 0, weight_optimizer, &arch_optimizer, nullptr));
    EXPECT_TRUE(torch::equal(alphas[1].detach(), reduce_before));
    EXPECT_FALSE(torch::equal(alphas[0].detach(), normal_before));
  }
}

TEST(SearchModel, ListsItsTensorsOnceAndTheyStayTheModulesOwn) {
  // The step reads the parameter lists many times; they are listed once, so
  // they must stay the very tensors of the module after what a run does to
  // it: a checkpoint load (resume) and a replica following its master.
  const auto [weights_half, arch_half] = fashion_halves(16, false);
  for (const std::string mode : {"joint", "policy"}) {
    SCOPED_TRACE(mode);
    auto options = tiny_options(mode);
    const c10::Device device(c10::kCPU);
    auto model = make_search_model(options, weights_half, device);
    const auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_same(b[i])) return false;
      }
      return true;
    };
    const auto weights = model->weight_parameters(), alphas = model->arch_parameters();
    EXPECT_TRUE(same(model->all_parameters(), model->module().parameters()));
    EXPECT_TRUE(same(model->buffers(), model->module().buffers()));
    EXPECT_EQ(weights.size() + alphas.size(), model->all_parameters().size());
    EXPECT_EQ(alphas.empty(), mode == "policy");

    torch::serialize::OutputArchive saved;
    auto other = make_search_model(options, weights_half, device);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : other->module().parameters()) p.add_(1.0);
    }
    other->module().save(saved);
    std::stringstream bytes;
    saved.save_to(bytes);
    torch::serialize::InputArchive loaded;
    loaded.load_from(bytes);
    model->module().load(loaded);  // as a resumed run loads its checkpoint
    EXPECT_TRUE(same(model->weight_parameters(), weights));
    EXPECT_TRUE(same(model->arch_parameters(), alphas));
    EXPECT_TRUE(same(model->all_parameters(), model->module().parameters()));
    for (size_t i = 0; i < weights.size(); ++i) {
      EXPECT_TRUE(torch::equal(weights[i], other->weight_parameters()[i])) << "weight " << i << " not loaded";
    }

    auto rng = at::make_generator<at::CPUGeneratorImpl>(1);
    model->begin_step(rng);
    auto replica = model->replica();
    replica->follow(*model);
    for (size_t i = 0; i < model->all_parameters().size(); ++i) {
      EXPECT_TRUE(torch::equal(replica->all_parameters()[i], model->all_parameters()[i])) << i;
      EXPECT_FALSE(replica->all_parameters()[i].is_same(model->all_parameters()[i])) << i;
    }
  }
}

TEST(Warmup, AWarmupStepMovesTheWeightsButNeitherAlphaNorBeta) {
  const auto [weights_half, arch_half] = fashion_halves(64, false);
  auto options = tiny_options("joint");
  const c10::Device device(c10::kCPU);
  auto model = make_search_model(options, weights_half, device);
  augment::SearchablePolicy policy(augment::SearchablePolicyOptions().levels(options.magnitude_levels));
  const auto clones = [](const std::vector<torch::Tensor>& tensors) {
    std::vector<torch::Tensor> out;
    for (const auto& t : tensors) out.push_back(t.detach().clone());
    return out;
  };
  const auto alphas = clones(model->arch_parameters()), betas = clones(policy->policy_parameters());
  const auto weights = clones(model->weight_parameters());
  torch::optim::SGD weight_optimizer(model->weight_parameters(), torch::optim::SGDOptions(0.05));
  auto rng = at::make_generator<at::CPUGeneratorImpl>(1);
  StepContext context{options, *model, policy, nullptr, rng, weights_half.mean, weights_half.std, device, nullptr};
  data::Batch train, val;
  train.images = weights_half.images.slice(0, 0, 32);
  train.labels = weights_half.labels.slice(0, 0, 32);
  val.images = arch_half.images.slice(0, 0, 32);
  val.labels = arch_half.labels.slice(0, 0, 32);
  const auto stats = search_step(context, train, val, 0.05, 0, 0, weight_optimizer, nullptr, nullptr);
  EXPECT_GT(stats.val_loss, 0.0);  // the validation forward still runs, for the epoch's record
  for (size_t i = 0; i < alphas.size(); ++i) EXPECT_TRUE(torch::equal(alphas[i], model->arch_parameters()[i]));
  for (size_t i = 0; i < betas.size(); ++i) EXPECT_TRUE(torch::equal(betas[i], policy->policy_parameters()[i]));
  size_t moved = 0;
  for (size_t i = 0; i < weights.size(); ++i) moved += torch::equal(weights[i], model->weight_parameters()[i]) ? 0 : 1;
  EXPECT_GT(moved, 0u);
}

TEST(Warmup, AlphaHoldsThroughTheWarmupEpochsThenMovesAndTauStartsAfterThem) {
  const auto [weights_half, arch_half] = fashion_halves(600, false);
  auto options = tiny_options("joint");
  options.epochs = 4;
  options.warmup_epochs = 2;
  options.steps_per_epoch = 2;
  options.arch_lr = 0.05;
  testing::TempDir dir;
  std::vector<torch::Tensor> alpha_after, weight_after;
  search_halves(options, weights_half, arch_half, dir.path(), false, [&](int64_t, torch::nn::Module& module) {
    alpha_after.push_back(module.named_parameters()["alpha_normal"].detach().clone());
    for (const auto& item : module.named_parameters()) {
      if (item.key().rfind("alpha", 0) != 0) {  // the first weight
        weight_after.push_back(item.value().detach().clone());
        break;
      }
    }
  });
  ASSERT_EQ(alpha_after.size(), 4u);
  EXPECT_TRUE(torch::equal(alpha_after[0], alpha_after[1]));   // epoch 2: warm-up
  EXPECT_FALSE(torch::equal(alpha_after[1], alpha_after[2]));  // epoch 3: searching
  EXPECT_FALSE(torch::equal(weight_after[0], weight_after[1]));
  const auto records = core::read_metrics(dir.file("metrics.jsonl"));
  ASSERT_EQ(records.size(), 4u);
  const std::vector<double> taus = {10.0, 10.0, 10.0, 0.1};  // tau_max after the warm-up, tau_min at the end
  for (size_t i = 0; i < taus.size(); ++i) EXPECT_NEAR(records[i]["tau"].get<double>(), taus[i], 1e-12) << i;
}

TEST(Warmup, AWarmupWithoutSearchEpochsIsRefused) {
  const auto [weights_half, arch_half] = fashion_halves(200, false);
  auto options = tiny_options("joint");
  options.warmup_epochs = options.epochs;
  testing::TempDir dir;
  EXPECT_THROWS_WITH(search_halves(options, weights_half, arch_half, dir.path(), false),
                     "warmup_epochs 2 leaves no epoch of the 2 to search in");
}

TEST(Resume, InterruptedAndResumedRunEndsLikeTheUninterruptedOne) {
  const auto [weights_half, arch_half] = fashion_halves(600, false);
  auto options = tiny_options("joint");
  options.epochs = 3;
  options.steps_per_epoch = 2;
  testing::TempDir whole_dir, cut_dir;
  const auto whole = search_halves(options, weights_half, arch_half, whole_dir.path(), false);
  struct Stop {};
  EXPECT_THROW(search_halves(options, weights_half, arch_half, cut_dir.path(), false,
                             [](int64_t epoch, torch::nn::Module&) {
                               if (epoch == 1) throw Stop{};
                             }),
               Stop);
  const auto resumed = search_halves(options, weights_half, arch_half, cut_dir.path(), true);
  // α_normal and α_reduce; φ, θ and μ: the loops below compare every one.
  ASSERT_EQ(whole.alphas.size(), 2u);
  ASSERT_EQ(resumed.alphas.size(), 2u);
  ASSERT_EQ(whole.beta.size(), 3u);
  ASSERT_EQ(resumed.beta.size(), 3u);
  for (size_t i = 0; i < whole.alphas.size(); ++i) EXPECT_TRUE(torch::equal(whole.alphas[i], resumed.alphas[i]));
  for (size_t i = 0; i < whole.beta.size(); ++i) EXPECT_TRUE(torch::equal(whole.beta[i], resumed.beta[i]));
  ASSERT_EQ(whole.weights.size(), resumed.weights.size());
  for (size_t i = 0; i < whole.weights.size(); ++i) EXPECT_TRUE(torch::equal(whole.weights[i], resumed.weights[i]));
  EXPECT_EQ(*whole.genotype, *resumed.genotype);
  EXPECT_EQ(core::read_metrics(cut_dir.file("metrics.jsonl")).size(), 3u);
  EXPECT_EQ(core::read_file(whole_dir.file("policy.json")), core::read_file(cut_dir.file("policy.json")));
}

TEST(Resume, RunStoppedBySignalWithinAnEpochResumesExactly) {
  const auto [weights_half, arch_half] = fashion_halves(600, false);
  auto options = tiny_options("joint");
  options.epochs = 2;
  options.steps_per_epoch = 3;
  testing::TempDir whole_dir, cut_dir;
  const auto whole = search_halves(options, weights_half, arch_half, whole_dir.path(), false);
  // As SIGINT during the run's second step of epoch 2 would: the step ends,
  // the checkpoint is written, and the run stops saying how to go on.
  const auto stop_in_epoch_2 = [](int64_t epoch, torch::nn::Module&) {
    if (epoch == 1) core::request_interrupt(SIGINT);
  };
  try {
    search_halves(options, weights_half, arch_half, cut_dir.path(), false, stop_in_epoch_2);
    ADD_FAILURE() << "the run did not stop";
  } catch (const core::Interrupted& stop) {
    EXPECT_EQ(stop.exit_status(), 130);
    EXPECT_THAT(stop.what(), ::testing::HasSubstr("stopped by SIGINT: checkpoint after epoch 1"));
  }
  // A request during an epoch: the run stops after the step in progress.
  core::request_interrupt(SIGTERM);
  try {
    search_halves(options, weights_half, arch_half, cut_dir.path(), true);
    ADD_FAILURE() << "the resumed run did not stop";
  } catch (const core::Interrupted& stop) {
    EXPECT_EQ(stop.exit_status(), 143);
    EXPECT_THAT(stop.what(), ::testing::HasSubstr("checkpoint at epoch 2, step 1 of 3"));
    EXPECT_THAT(stop.what(), ::testing::HasSubstr("daas search --resume"));
  }
  EXPECT_EQ(core::interrupt_requested(), 0);
  const auto resumed = search_halves(options, weights_half, arch_half, cut_dir.path(), true);
  for (size_t i = 0; i < whole.alphas.size(); ++i) EXPECT_TRUE(torch::equal(whole.alphas[i], resumed.alphas[i]));
  for (size_t i = 0; i < whole.beta.size(); ++i) EXPECT_TRUE(torch::equal(whole.beta[i], resumed.beta[i]));
  ASSERT_EQ(whole.weights.size(), resumed.weights.size());
  for (size_t i = 0; i < whole.weights.size(); ++i) EXPECT_TRUE(torch::equal(whole.weights[i], resumed.weights[i]));
  const auto whole_metrics = core::read_metrics(whole_dir.file("metrics.jsonl"));
  const auto metrics = core::read_metrics(cut_dir.file("metrics.jsonl"));
  ASSERT_EQ(metrics.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    for (const char* key : {"train_loss", "train_acc", "val_loss", "val_acc", "advantage_std", "steps"}) {
      EXPECT_EQ(metrics[e][key], whole_metrics[e][key]) << key << " of epoch " << e + 1;
    }
  }
}

TEST(Resume, ChangedSettingsAreRefusedByName) {
  const auto [weights_half, arch_half] = fashion_halves(600, false);
  auto options = tiny_options("joint");
  options.epochs = 1;
  options.steps_per_epoch = 1;
  testing::TempDir dir;
  search_halves(options, weights_half, arch_half, dir.path(), false);
  options.channels = 8;
  options.epochs = 2;
  EXPECT_THROWS_WITH(search_halves(options, weights_half, arch_half, dir.path(), true),
                     "setting 'channels' is 8 but the run was started with 4");
}

TEST(NonFinite, NaNStopsTheRunNamingEpochAndStepAndKeepsTheCheckpoint) {
  const auto [weights_half, arch_half] = fashion_halves(600, false);
  auto options = tiny_options("joint");
  testing::TempDir dir;
  std::string checkpoint_after_epoch_1;
  const auto poison = [&](int64_t epoch, torch::nn::Module& model) {
    checkpoint_after_epoch_1 = core::read_file(dir.file("checkpoint.pt"));
    torch::NoGradGuard no_grad;
    // Weights only: a NaN α would stop the Gumbel sampler first.
    for (auto& p : model.named_parameters()) {
      if (p.key().find("alpha") == std::string::npos) p.value().fill_(std::numeric_limits<float>::quiet_NaN());
    }
  };
  EXPECT_THROWS_WITH(search_halves(options, weights_half, arch_half, dir.path(), false, poison),
                     "validation loss is nan at epoch 2, step 1");
  EXPECT_EQ(core::read_file(dir.file("checkpoint.pt")), checkpoint_after_epoch_1);
  EXPECT_EQ(core::read_metrics(dir.file("metrics.jsonl")).size(), 1u);
}

/// Searches with the batch split over two threads (each its own replica,
/// BatchNorm synchronised) and with one model on two intra-op threads.
std::pair<SearchResult, SearchResult> batch_and_op_runs(int64_t epochs, int64_t steps, SearchOptions options) {
  const auto [weights_half, arch_half] = fashion_halves(800, false);
  options.epochs = epochs;
  options.steps_per_epoch = steps;
  at::set_num_threads(2);
  testing::TempDir batch_dir, op_dir;
  options.parallel = "batch";
  auto batch = search_halves(options, weights_half, arch_half, batch_dir.path(), false);
  options.parallel = "op";
  auto op = search_halves(options, weights_half, arch_half, op_dir.path(), false);
  return {batch, op};
}

void expect_mostly_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, double atol,
                         const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_FALSE(a.empty()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_GT(a[i].numel(), 0) << what << " " << i;
    const double agree = (a[i] - b[i]).abs().le(atol).to(torch::kDouble).mean().item<double>();
    EXPECT_GE(agree, 0.9) << what << " " << i << ": " << agree << " of the elements agree";
  }
}

TEST(DataParallel, FirstStepOverTwoThreadsEqualsTheOneModelStep) {
  // Plain SGD (no clipping, momentum or decay): the weight update is lr·g,
  // so the updates compare the gradients themselves.
  auto options = tiny_options("joint");
  options.grad_clip = 0;
  options.momentum = 0;
  options.weight_decay = 0;
  const auto [batch, op] = batch_and_op_runs(/*epochs=*/1, /*steps=*/1, options);
  options.lr = options.lr_min = 0;
  const auto start = batch_and_op_runs(1, 1, options).second.weights;
  for (const char* key : {"train_loss", "val_loss"}) {
    const double a = batch.last_record[key].get<double>(), b = op.last_record[key].get<double>();
    EXPECT_NEAR(a, b, 1e-4 * std::abs(b)) << key;
  }
  EXPECT_EQ(batch.last_record["train_acc"], op.last_record["train_acc"]);
  // The gradients of w, as the updates: within 1e-4 of the largest element
  // (a gradient summed wrongly over the ranks is off by about half; LibTorch's
  // float-summed channels-last BatchNorm in one of the two made them differ by
  // up to 4%).
  for (size_t i = 0; i < start.size(); ++i) {
    const auto batch_update = batch.weights[i] - start[i], op_update = op.weights[i] - start[i];
    const double scale = op_update.abs().max().item<double>();
    EXPECT_LE((batch_update - op_update).abs().max().item<double>(), 1e-4 * scale + 1e-9) << "weights " << i;
  }
  // Adam's first step moves every element by ±lr whatever the gradient's
  // size, so an element whose gradient is rounding noise may go either way;
  // all the others must agree.
  expect_mostly_equal(batch.alphas, op.alphas, 1e-5, "alpha");
  expect_mostly_equal(batch.beta, op.beta, 1e-5, "beta");
}

TEST(DataParallel, TwentyStepsStayWithinOnePercentInLoss) {
  const auto [batch, op] = batch_and_op_runs(/*epochs=*/2, /*steps=*/10, tiny_options("joint"));
  for (const char* key : {"train_loss", "val_loss"}) {
    const double a = batch.last_record[key].get<double>(), b = op.last_record[key].get<double>();
    EXPECT_NEAR(a, b, 0.01 * std::abs(b)) << key;
  }
}

TEST(Settings, InconsistentSchedulesAreRejected) {
  const auto [weights_half, arch_half] = fashion_halves(200, false);
  auto options = tiny_options("joint");
  options.tau_min = 20;
  testing::TempDir dir;
  EXPECT_THROWS_WITH(search_halves(options, weights_half, arch_half, dir.path(), false),
                     "tau_min 20 is above tau_max 10");
}

TEST(Settings, DeclaredRangesAndChoicesHoldThroughTheLibraryToo) {
  // What the command line and profiles refuse, a library caller's struct
  // cannot bring in either.
  const auto [weights_half, arch_half] = fashion_halves(200, false);
  testing::TempDir dir;
  auto options = tiny_options("joint");
  options.magnitude_levels = 0;
  EXPECT_THROWS_WITH(search_halves(options, weights_half, arch_half, dir.path(), false),
                     "setting 'magnitude_levels' = 0 is out of range");
  options = tiny_options("joint");
  options.sampler = "uniform";
  EXPECT_THROWS_WITH(search_halves(options, weights_half, arch_half, dir.path(), false),
                     "setting 'sampler' = 'uniform' is not allowed; expected one of gumbel, softmax");
  EXPECT_FALSE(core::file_exists(dir.file("checkpoint.pt")));
}

}  // namespace
}  // namespace daas::search
