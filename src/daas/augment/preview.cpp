#include "daas/augment/preview.h"

#include <torch/torch.h>

#include "daas/core/error.h"

namespace daas::augment {

torch::Tensor tile_columns(const std::vector<torch::Tensor>& columns) {
  core::check(!columns.empty(), "tile_columns: no columns; expected at least one");
  const auto& first = columns.front();
  core::check(first.dim() == 4 && first.scalar_type() == torch::kByte,
              "tile_columns: images of shape [{}]; expected uint8 "
              "[N, C, H, W]",
              fmt::join(first.sizes(), ", "));
  for (const auto& column : columns) {
    core::check(column.sizes() == first.sizes() && column.scalar_type() == torch::kByte,
                "tile_columns: a column of shape [{}]; expected uint8 [{}] like the first",
                fmt::join(column.sizes(), ", "), fmt::join(first.sizes(), ", "));
  }
  const int64_t n = first.size(0), c = first.size(1), h = first.size(2), w = first.size(3);
  constexpr int64_t kGap = 2;
  const int64_t cols = static_cast<int64_t>(columns.size());
  auto grid = torch::full({c, n * (h + kGap) + kGap, cols * (w + kGap) + kGap}, 128, torch::kByte);
  for (int64_t j = 0; j < cols; ++j) {
    const auto column = columns[static_cast<size_t>(j)].to(torch::kCPU);
    for (int64_t i = 0; i < n; ++i) {
      grid.narrow(1, kGap + i * (h + kGap), h).narrow(2, kGap + j * (w + kGap), w).copy_(column[i]);
    }
  }
  return grid;
}

torch::Tensor preview_grid(const torch::Tensor& images, int64_t samples, const Augmentation& augmentation,
                           at::Generator& generator) {
  core::check(samples >= 1, "preview_grid: {} samples; expected at least 1", samples);
  std::vector<torch::Tensor> columns = {images.to(torch::kCPU)};
  for (int64_t s = 0; s < samples; ++s) columns.push_back(augmentation(images, generator).to(torch::kCPU));
  return tile_columns(columns);
}

}  // namespace daas::augment
