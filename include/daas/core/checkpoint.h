#pragma once
// Checkpoint files: a LibTorch archive of named tensors, modules, optimiser
// states, generator states and a JSON metadata record, written atomically.
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <nlohmann/json.hpp>
#include <string>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}
namespace at {
class Generator;
}

namespace daas::core {

/// Layout version of the search and train checkpoints (their "state" record
/// carries it); raise it when an entry changes meaning.
constexpr int kCheckpointVersion = 1;

/// Fails naming `path` unless `state`, a checkpoint's "state" record, has
/// version kCheckpointVersion.
void check_checkpoint_version(const nlohmann::json& state, const std::string& path);

/// Where a run stands in its checkpoint: the next epoch, and the next step
/// within it (0 when the checkpoint was taken at an epoch's end).
struct CheckpointPosition {
  int64_t next_epoch = 0;
  int64_t next_step = 0;
};
/// The position in `state`, a checkpoint's "state" record; fails naming
/// `path` and the field when a counter is missing (next_step may be) or is
/// not a whole number of at least 0.
CheckpointPosition read_position(const nlohmann::json& state, const std::string& path);

class CheckpointWriter {
 public:
  void tensor(const std::string& key, const torch::Tensor& value);
  void module(const std::string& key, const torch::nn::Module& value);
  void optimizer(const std::string& key, const torch::optim::Optimizer& value);
  void generator(const std::string& key, const at::Generator& value);
  void json(const std::string& key, const nlohmann::json& value);
  /// Writes everything to `path` atomically (the previous file stays intact on failure).
  void save(const std::string& path);

 private:
  torch::serialize::OutputArchive archive_;
};

class CheckpointReader {
 public:
  /// Loads `path`; fails naming the file when it is missing, truncated or not a checkpoint.
  explicit CheckpointReader(const std::string& path);
  torch::Tensor tensor(const std::string& key);
  void module(const std::string& key, torch::nn::Module& value);
  void optimizer(const std::string& key, torch::optim::Optimizer& value);
  void generator(const std::string& key, at::Generator& value);
  nlohmann::json json(const std::string& key);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
};

}  // namespace daas::core
