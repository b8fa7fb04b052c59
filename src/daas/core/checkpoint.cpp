#include "daas/core/checkpoint.h"

#include <torch/torch.h>

#include "daas/core/archive_check.h"
#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"

namespace daas::core {
namespace {

/// LibTorch's messages can span lines (a source excerpt); daas errors are one line.
std::string first_line(const std::string& message) { return message.substr(0, message.find('\n')); }

}  // namespace

void check_checkpoint_version(const nlohmann::json& state, const std::string& path) {
  const nlohmann::json version = state.is_object() && state.contains("version") ? state["version"] : nlohmann::json(0);
  check(version.is_number_integer() && version == kCheckpointVersion, "{}: checkpoint version {}, expected {}", path,
        json_excerpt(version), kCheckpointVersion);
}

CheckpointPosition read_position(const nlohmann::json& state, const std::string& path) {
  const std::string source = path + ": state";
  CheckpointPosition position;
  position.next_epoch = integer_field(state, "next_epoch", source, 0);
  if (state.contains("next_step")) position.next_step = integer_field(state, "next_step", source, 0);
  return position;
}

void CheckpointWriter::tensor(const std::string& key, const torch::Tensor& value) {
  archive_.write(key, value.detach().to(torch::kCPU), /*is_buffer=*/true);
}

void CheckpointWriter::module(const std::string& key, const torch::nn::Module& value) {
  torch::serialize::OutputArchive sub;
  value.save(sub);
  archive_.write(key, sub);
}

void CheckpointWriter::optimizer(const std::string& key, const torch::optim::Optimizer& value) {
  torch::serialize::OutputArchive sub;
  value.save(sub);
  archive_.write(key, sub);
}

void CheckpointWriter::generator(const std::string& key, const at::Generator& value) {
  archive_.write(key, value.get_state(), /*is_buffer=*/true);
}

void CheckpointWriter::json(const std::string& key, const nlohmann::json& value) {
  archive_.write(key, c10::IValue(value.dump()));
}

void CheckpointWriter::save(const std::string& path) {
  // Serialised into memory first: LibTorch's file writer reports a full disk
  // by throwing from its destructor, which terminates the process.
  std::string bytes;
  archive_.save_to([&](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  write_file_atomic(path, bytes);
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  if (!file_exists(path)) fail("{}: checkpoint not found", path);
  // LibTorch's reader trusts the archive (a damaged one can crash it): the
  // bytes are checked first, and exactly those are loaded.
  const std::string bytes = read_checked_torch_archive(path);
  try {
    archive_.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& e) {
    fail("{}: not a readable daas checkpoint (truncated or corrupt): {}", path, first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {  // some of LibTorch's checks are std::out_of_range
    fail("{}: not a readable daas checkpoint (truncated or corrupt): {}", path, first_line(e.what()));
  }
}

torch::Tensor CheckpointReader::tensor(const std::string& key) {
  torch::Tensor value;
  if (!archive_.try_read(key, value)) fail("{}: checkpoint has no entry '{}'", path_, key);
  return value;
}

void CheckpointReader::module(const std::string& key, torch::nn::Module& value) {
  torch::serialize::InputArchive sub;
  if (!archive_.try_read(key, sub)) fail("{}: checkpoint has no entry '{}'", path_, key);
  try {
    value.load(sub);
  } catch (const c10::Error& e) {
    fail("{}: entry '{}' does not match this network (different genotype or size?): {}", path_, key,
         e.what_without_backtrace());
  }
}

void CheckpointReader::optimizer(const std::string& key, torch::optim::Optimizer& value) {
  torch::serialize::InputArchive sub;
  if (!archive_.try_read(key, sub)) fail("{}: checkpoint has no entry '{}'", path_, key);
  try {
    value.load(sub);
  } catch (const c10::Error& e) {
    fail("{}: entry '{}' does not match this optimiser: {}", path_, key, e.what_without_backtrace());
  }
}

void CheckpointReader::generator(const std::string& key, at::Generator& value) { value.set_state(tensor(key)); }

nlohmann::json CheckpointReader::json(const std::string& key) {
  c10::IValue value;
  if (!archive_.try_read(key, value) || !value.isString()) fail("{}: checkpoint has no entry '{}'", path_, key);
  return parse_json(value.toStringRef(), fmt::format("{}: entry '{}'", path_, key));
}

}  // namespace daas::core
