// Precompiled header: the heavy, stable headers every daas file uses.
#pragma once
#include <torch/torch.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
