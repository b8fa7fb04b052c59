#pragma once
// The network a search trains, behind the one interface the step needs:
// a supernet whose path is drawn once per step (joint and arch modes), or a
// network fixed to a genotype (policy mode, no α).
#include <torch/nn/module.h>

#include <memory>
#include <optional>
#include <vector>

#include "daas/data/dataset.h"
#include "daas/nas/genotype.h"

namespace daas::search {

struct SearchOptions;

class SearchModel {
 public:
  virtual ~SearchModel() = default;
  /// Draws the path every forward of this step shares (DESIGN 2.2).
  virtual void begin_step(at::Generator& generator) = 0;
  /// Logits along the step's path. `arch_graph`: keep the graph back to α
  /// (the architecture step); otherwise the path weights are detached.
  virtual torch::Tensor forward(const torch::Tensor& x, bool arch_graph) = 0;
  virtual std::vector<torch::Tensor> weight_parameters() = 0;
  /// α_normal and α_reduce; empty when the architecture is fixed.
  virtual std::vector<torch::Tensor> arch_parameters() = 0;
  virtual void set_tau(double tau) = 0;
  /// The derived (or fixed) genotype.
  virtual std::optional<nas::Genotype> genotype() = 0;
  virtual torch::nn::Module& module() = 0;
};

/// The model for `options.mode`, sized for `data`, on `device`.
std::unique_ptr<SearchModel> make_search_model(const SearchOptions& options, const Dataset& data,
                                               const c10::Device& device);

}  // namespace daas::search
