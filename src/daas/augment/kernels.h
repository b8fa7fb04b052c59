#pragma once
// Batched op kernels (rows of the op table in ops.cpp). Each takes images
// [N, C, H, W], float64 values [N] on the CPU and the shared OpContext.
#include "daas/augment/ops.h"

namespace daas::augment::kernels {

// geometric.cpp: one batched affine grid, nearest, fill 0.
torch::Tensor shear_x(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor shear_y(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor translate_x(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor translate_y(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor rotate(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor cutout(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);

// color.cpp: pixel-value ops.
torch::Tensor auto_contrast(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor invert(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor equalize(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor solarize(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor posterize(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor contrast(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor color(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor brightness(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor sharpness(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);
torch::Tensor identity(const torch::Tensor& images, const torch::Tensor& values, const OpContext& context);

/// Fails unless every value is finite and within [low, high]; names the op,
/// the image and the value.
void check_values(const char* op, const torch::Tensor& values, double low, double high, const char* expected);

}  // namespace daas::augment::kernels
