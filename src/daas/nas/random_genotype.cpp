// Random genotypes: the random-search baseline of the DARTS search space.
#include <cstdint>
#include <random>
#include <string>

#include "daas/core/error.h"
#include "daas/nas/genotype.h"

namespace daas::nas {
namespace {

/// A uniform integer in [0, n) from the engine's raw 64-bit output, by
/// rejection: the standard distributions differ between standard libraries,
/// the engine's output does not, so a seed gives the same genotype everywhere.
uint64_t uniform_below(std::mt19937_64& engine, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // largest multiple of n, exclusive
  uint64_t x = engine();
  while (x >= limit) x = engine();
  return x % n;
}

std::vector<GenotypeEdge> random_cell(std::mt19937_64& engine, int64_t steps) {
  std::vector<GenotypeEdge> edges;
  // Ops other than `none`: the ones DARTS's derivation can keep.
  const uint64_t ops = static_cast<uint64_t>(kNumPrimitives) - 1;
  for (int64_t node = 0; node < steps; ++node) {
    const uint64_t inputs = static_cast<uint64_t>(node) + 2;
    // Two distinct inputs, every unordered pair equally likely: the first
    // uniform, the second uniform among the others; listed in input order.
    uint64_t a = uniform_below(engine, inputs);
    uint64_t b = uniform_below(engine, inputs - 1);
    if (b >= a) ++b;
    if (b < a) std::swap(a, b);
    for (const uint64_t input : {a, b}) {
      const auto op = static_cast<Primitive>(1 + uniform_below(engine, ops));
      edges.push_back({op, static_cast<int64_t>(input)});
    }
  }
  return edges;
}

}  // namespace

Genotype random_genotype(uint64_t seed, int64_t steps) {
  core::check(steps >= 1 && static_cast<size_t>(steps) <= kMaxCellNodes, "random genotype: {} nodes; expected 1..{}",
              steps, kMaxCellNodes);
  std::mt19937_64 engine(seed);
  Genotype genotype;
  genotype.normal = random_cell(engine, steps);
  genotype.reduce = random_cell(engine, steps);
  for (int64_t node = 2; node < steps + 2; ++node) {
    genotype.normal_concat.push_back(node);
    genotype.reduce_concat.push_back(node);
  }
  genotype.validate();
  return genotype;
}

bool is_random_genotype_spec(const std::string& spec) { return spec.rfind(kRandomGenotypePrefix, 0) == 0; }

Genotype random_genotype_from_spec(const std::string& spec) {
  core::check(is_random_genotype_spec(spec), "genotype '{}': expected {}SEED", spec, kRandomGenotypePrefix);
  const std::string digits = spec.substr(std::string(kRandomGenotypePrefix).size());
  bool valid = !digits.empty() && digits.size() <= 20;
  for (const char c : digits) valid = valid && c >= '0' && c <= '9';
  uint64_t seed = 0;
  if (valid) {
    try {
      seed = std::stoull(digits);
    } catch (const std::exception&) {
      valid = false;
    }
  }
  core::check(valid, "genotype '{}': the seed '{}' is not a non-negative integer; expected {}SEED, e.g. {}0", spec,
              digits, kRandomGenotypePrefix, kRandomGenotypePrefix);
  return random_genotype(seed);
}

}  // namespace daas::nas
