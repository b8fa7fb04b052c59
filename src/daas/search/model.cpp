#include "daas/search/model.h"

#include <torch/torch.h>

#include <array>

#include "daas/core/parallel.h"
#include "daas/nas/network.h"
#include "daas/nas/supernet.h"
#include "daas/search/search.h"

namespace daas::search {
namespace {

class SupernetModel : public SearchModel {
 public:
  SupernetModel(const SearchOptions& options, const data::Dataset& data, const c10::Device& device)
      : SupernetModel(nas::SearchNetworkOptions(options.channels, options.layers)
                          .num_classes(data.num_classes())
                          .in_channels(data.channels())
                          .sampler(options.sampler)
                          .tau(options.tau_max)
                          .channels_last(options.channels_last),
                      device) {}
  SupernetModel(const nas::SearchNetworkOptions& options, const c10::Device& device) : net_(options), device_(device) {
    net_->to(device);
  }
  void begin_step(at::Generator& generator) override { path_ = net_->sample_path(&generator); }
  torch::Tensor forward(const torch::Tensor& x, bool arch_graph) override {
    return net_->forward(x, path_, /*detach_arch=*/!arch_graph);
  }
  std::vector<torch::Tensor> weight_parameters() override {
    if (!weights_) weights_ = net_->weight_parameters();
    return *weights_;
  }
  std::vector<torch::Tensor> arch_parameters() override {
    if (!alphas_) alphas_ = net_->arch_parameters();
    return *alphas_;
  }
  void set_tau(double tau) override { net_->set_tau(tau); }
  std::optional<nas::Genotype> genotype() override { return net_->genotype(); }
  torch::nn::Module& module() override { return *net_; }
  std::unique_ptr<SearchModel> replica() const override {
    return std::make_unique<SupernetModel>(net_->options(), device_);
  }
  void follow(SearchModel& master) override {
    auto& from = dynamic_cast<SupernetModel&>(master);
    copy_state_from(from);
    net_->set_tau(from.net_->tau());
    path_ = from.path_;
    leaves_.clear();
    for (auto* cell : {&path_.normal, &path_.reduce}) {
      cell->weights = cell->weights.detach().requires_grad_(true);
      leaves_.push_back(cell->weights);
    }
  }
  std::vector<torch::Tensor> path_leaves() override { return leaves_; }
  void backward_path(const std::vector<torch::Tensor>& grads) override {
    // A cell type's path weights reach the loss only through edges that are
    // active; when none is (for instance every normal-cell edge from the
    // previous cell drew `none`, which cuts off every reduction cell), they
    // have no gradient this step, which is a zero gradient, not an error.
    std::vector<torch::Tensor> outputs, output_grads;
    const std::array<torch::Tensor, 2> weights = {path_.normal.weights, path_.reduce.weights};
    for (size_t i = 0; i < weights.size(); ++i) {
      if (!grads[i].defined()) continue;
      outputs.push_back(weights[i]);
      output_grads.push_back(grads[i]);
    }
    if (!outputs.empty()) torch::autograd::backward(outputs, output_grads);
  }

 private:
  nas::SearchNetwork net_;
  c10::Device device_;
  nas::PathSample path_;
  std::vector<torch::Tensor> leaves_;
  std::optional<std::vector<torch::Tensor>> weights_, alphas_;  // listed on first use
};

class FixedModel : public SearchModel {
 public:
  FixedModel(const SearchOptions& options, const data::Dataset& data, const c10::Device& device)
      : FixedModel(nas::NetworkOptions(options.channels, options.layers, nas::load_genotype(options.genotype))
                       .num_classes(data.num_classes())
                       .in_channels(data.channels())
                       .channels_last(options.channels_last),
                   device) {}
  FixedModel(const nas::NetworkOptions& options, const c10::Device& device)
      : genotype_(options.genotype()), net_(options), device_(device) {
    net_->to(device);
  }
  void begin_step(at::Generator&) override {}
  torch::Tensor forward(const torch::Tensor& x, bool) override { return net_->forward(x).logits; }
  std::vector<torch::Tensor> weight_parameters() override { return all_parameters(); }
  std::vector<torch::Tensor> arch_parameters() override { return {}; }
  void set_tau(double) override {}
  std::optional<nas::Genotype> genotype() override { return genotype_; }
  torch::nn::Module& module() override { return *net_; }
  std::unique_ptr<SearchModel> replica() const override {
    return std::make_unique<FixedModel>(net_->options(), device_);
  }
  void follow(SearchModel& master) override { copy_state_from(master); }
  std::vector<torch::Tensor> path_leaves() override { return {}; }
  void backward_path(const std::vector<torch::Tensor>&) override {}

 private:
  nas::Genotype genotype_;
  nas::NetworkCIFAR net_;
  c10::Device device_;
};

}  // namespace

const std::vector<torch::Tensor>& SearchModel::all_parameters() {
  if (!parameters_) parameters_ = module().parameters();
  return *parameters_;
}

const std::vector<torch::Tensor>& SearchModel::buffers() {
  if (!buffers_) buffers_ = module().buffers();
  return *buffers_;
}

void SearchModel::copy_state_from(SearchModel& master) {
  core::copy_tensors(master.all_parameters(), all_parameters(), "parameters");
  core::copy_tensors(master.buffers(), buffers(), "buffers");
}

std::unique_ptr<SearchModel> make_search_model(const SearchOptions& options, const data::Dataset& data,
                                               const c10::Device& device) {
  if (!search_mode(options.mode).searches_architecture) return std::make_unique<FixedModel>(options, data, device);
  return std::make_unique<SupernetModel>(options, data, device);
}

}  // namespace daas::search
