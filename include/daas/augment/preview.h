#pragma once
// Preview grids of an augmentation: a row per image, the original first and
// then independent draws, as `daas augment --grid` and `daas report` show them.
#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace daas::augment {

/// An augmentation of a uint8 batch [N, C, H, W] with draws from `generator`.
using Augmentation = std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>;

/// Tiles columns of images (each uint8 [N, C, H, W], all of one shape) into
/// one image [C, N·(H+2)+2, cols·(W+2)+2]: column j of the grid is
/// columns[j], separated by 2-pixel grey (128) gaps.
torch::Tensor tile_columns(const std::vector<torch::Tensor>& columns);

/// The grid of `images` (uint8 [N, C, H, W], any device): the originals,
/// then `samples` draws of `augmentation`; returned on the CPU.
torch::Tensor preview_grid(const torch::Tensor& images, int64_t samples, const Augmentation& augmentation,
                           at::Generator& generator);

}  // namespace daas::augment
