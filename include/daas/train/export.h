#pragma once
// A trained network for PyTorch users: its weights under the names DARTS's
// cnn/model.py gives NetworkCIFAR / NetworkImageNet (so `load_state_dict`
// of the reference model code takes them, strict), in a file `torch.load`
// reads (torch.save's zip format) without daas, plus the genotype in DARTS
// syntax and the input normalisation.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "daas/train/model.h"

namespace daas::train {

/// Every parameter and buffer of `net` under its DARTS name, in the
/// network's order (stem, cells, auxiliary head, classifier), as contiguous
/// CPU tensors. DARTS names: stem.0 / stem.1 (NetworkCIFAR), stem0.{0,1,3,4}
/// and stem1.{1,2} (NetworkImageNet), cells.N.preprocess{0,1}.op.{1,2} or
/// .conv_1/.conv_2/.bn, cells.N._ops.E.op.K, auxiliary_head.features.K and
/// .classifier, classifier. Fails naming a module it has no DARTS name for.
std::vector<std::pair<std::string, torch::Tensor>> darts_state_dict(Network& net);

/// torch.save's format (a zip archive Python's torch.load reads) of a
/// dictionary name -> tensor, as bytes.
std::vector<char> save_state_dict_bytes(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

/// The names of the files export_model writes.
constexpr const char* kExportStateDict = "state_dict.pt";
constexpr const char* kExportGenotype = "genotype.txt";
constexpr const char* kExportNormalization = "normalization.json";
constexpr const char* kExportModel = "model.json";

/// Writes into the folder `dir` (created; expected new or empty):
/// state_dict.pt (darts_state_dict in torch.save's format), genotype.txt
/// (DARTS syntax), normalization.json (input shape, mean/std of x/255, how
/// images are resized) and model.json (the constructor arguments of the
/// DARTS network, class names). `resize` is how the model's images were
/// brought to size (crop or stretch). Returns the paths written.
std::vector<std::string> export_model(Network& net, const std::string& dir, const std::string& resize);

}  // namespace daas::train
