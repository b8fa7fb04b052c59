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
  /// Draws the path every forward of this step shares (docs/method.md §2).
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

  // Data parallelism over threads (StepRanks): replicas compute shards of a
  // batch along the master's path, with their own weights and gradients.

  /// A model of the same kind and shape, with its own weights and buffers.
  virtual std::unique_ptr<SearchModel> replica() const = 0;
  /// Makes this replica compute what `master` computes this step: copies its
  /// parameters and buffers, and its path, whose weights become fresh leaves
  /// (path_leaves()) so that each replica's graph ends at its own tensors.
  virtual void follow(SearchModel& master) = 0;
  /// This replica's path-weight leaves (empty for a fixed architecture).
  virtual std::vector<torch::Tensor> path_leaves() = 0;
  /// Master: back-propagates gradients with respect to the path weights
  /// (summed over replicas, in path_leaves() order) into α.
  virtual void backward_path(const std::vector<torch::Tensor>& grads) = 0;

  /// module()'s parameters and buffers, listed on first use. Listing them
  /// walks the module tree and builds name-keyed dictionaries, which a step
  /// would otherwise pay for at every copy between ranks; a model's
  /// structure does not change once it is built.
  const std::vector<torch::Tensor>& all_parameters();
  const std::vector<torch::Tensor>& buffers();

 protected:
  /// Copies master's parameters and buffers into this model's (follow's
  /// common part).
  void copy_state_from(SearchModel& master);

 private:
  std::optional<std::vector<torch::Tensor>> parameters_, buffers_;
};

/// The model for `options.mode`, sized for `data`, on `device`.
std::unique_ptr<SearchModel> make_search_model(const SearchOptions& options, const data::Dataset& data,
                                               const c10::Device& device);

}  // namespace daas::search
