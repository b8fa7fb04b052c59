#include "daas/search/model.h"

#include <torch/torch.h>

#include "daas/nas/network.h"
#include "daas/nas/supernet.h"
#include "daas/search/search.h"

namespace daas::search {
namespace {

class SupernetModel : public SearchModel {
 public:
  SupernetModel(const SearchOptions& options, const Dataset& data, const c10::Device& device)
      : net_(nas::SearchNetworkOptions(options.channels, options.layers)
                 .num_classes(data.num_classes())
                 .in_channels(data.channels())
                 .sampler(options.sampler)
                 .tau(options.tau_max)
                 .channels_last(options.channels_last)) {
    net_->to(device);
  }
  void begin_step(at::Generator& generator) override { path_ = net_->sample_path(&generator); }
  torch::Tensor forward(const torch::Tensor& x, bool arch_graph) override {
    return net_->forward(x, path_, /*detach_arch=*/!arch_graph);
  }
  std::vector<torch::Tensor> weight_parameters() override { return net_->weight_parameters(); }
  std::vector<torch::Tensor> arch_parameters() override { return net_->arch_parameters(); }
  void set_tau(double tau) override { net_->set_tau(tau); }
  std::optional<nas::Genotype> genotype() override { return net_->genotype(); }
  torch::nn::Module& module() override { return *net_; }

 private:
  nas::SearchNetwork net_;
  nas::PathSample path_;
};

class FixedModel : public SearchModel {
 public:
  FixedModel(const SearchOptions& options, const Dataset& data, const c10::Device& device)
      : genotype_(nas::load_genotype(options.genotype)),
        net_(nas::NetworkOptions(options.channels, options.layers, genotype_)
                 .num_classes(data.num_classes())
                 .in_channels(data.channels())
                 .channels_last(options.channels_last)) {
    net_->to(device);
  }
  void begin_step(at::Generator&) override {}
  torch::Tensor forward(const torch::Tensor& x, bool) override { return net_->forward(x).logits; }
  std::vector<torch::Tensor> weight_parameters() override { return net_->parameters(); }
  std::vector<torch::Tensor> arch_parameters() override { return {}; }
  void set_tau(double) override {}
  std::optional<nas::Genotype> genotype() override { return genotype_; }
  torch::nn::Module& module() override { return *net_; }

 private:
  nas::Genotype genotype_;
  nas::NetworkCIFAR net_;
};

}  // namespace

std::unique_ptr<SearchModel> make_search_model(const SearchOptions& options, const Dataset& data,
                                               const c10::Device& device) {
  if (options.mode == "policy") return std::make_unique<FixedModel>(options, data, device);
  return std::make_unique<SupernetModel>(options, data, device);
}

}  // namespace daas::search
