// Random genotypes: valid, reproducible from the seed, different across
// seeds, and uniform over the DARTS search space.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "daas/nas/genotype.h"
#include "test_support.h"

namespace daas::nas {
namespace {

// random_genotype(0), as first drawn.
constexpr const char* kSeedZero =
    "Genotype(normal=[('sep_conv_3x3', 0), ('dil_conv_5x5', 1), ('sep_conv_5x5', 0), ('dil_conv_3x3', 1),"
    " ('avg_pool_3x3', 2), ('avg_pool_3x3', 3), ('sep_conv_5x5', 2), ('skip_connect', 3)], normal_concat="
    "[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('dil_conv_5x5', 0), ('dil_conv_3x3'"
    ", 2), ('dil_conv_3x3', 0), ('sep_conv_5x5', 2), ('sep_conv_5x5', 1), ('skip_connect', 2)], reduce_concat=[2, 3, "
    "4, 5])";

void expect_valid_cell(const std::vector<GenotypeEdge>& edges, const std::vector<int64_t>& concat) {
  ASSERT_EQ(edges.size(), 8u);
  for (size_t node = 0; node < 4; ++node) {
    const auto& a = edges[2 * node];
    const auto& b = edges[2 * node + 1];
    EXPECT_LT(a.input, b.input) << "node " << node << ": two distinct inputs, in order";
    EXPECT_GE(a.input, 0);
    EXPECT_LT(b.input, static_cast<int64_t>(node) + 2);
    EXPECT_NE(a.op, Primitive::kNone);
    EXPECT_NE(b.op, Primitive::kNone);
  }
  EXPECT_EQ(concat, (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST(RandomGenotype, IsAValidDartsCell) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Genotype genotype = random_genotype(seed);
    EXPECT_NO_THROW(genotype.validate());
    expect_valid_cell(genotype.normal, genotype.normal_concat);
    expect_valid_cell(genotype.reduce, genotype.reduce_concat);
    // It reads back from its own text, as a run folder's genotype.txt would.
    EXPECT_EQ(parse_genotype(genotype.to_darts_string()), genotype);
  }
}

TEST(RandomGenotype, ReproducibleFromItsSeed) {
  EXPECT_EQ(random_genotype(7), random_genotype(7));
  // Pinned: a resumed experiment must draw the genotype it drew before, on
  // any platform (the draws use the engine's raw output, no std distribution).
  EXPECT_EQ(random_genotype(0).to_darts_string(), kSeedZero);
}

TEST(RandomGenotype, DifferentAcrossSeeds) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) seen.insert(random_genotype(seed).to_darts_string());
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_NE(random_genotype(0).normal, random_genotype(0).reduce);
}

TEST(RandomGenotype, UniformOverOpsAndInputPairs) {
  std::map<Primitive, int> ops;
  std::map<std::pair<int64_t, int64_t>, int> last_node_pairs;
  const int draws = 2000;
  for (int seed = 0; seed < draws; ++seed) {
    const Genotype genotype = random_genotype(static_cast<uint64_t>(seed));
    for (const auto* cell : {&genotype.normal, &genotype.reduce}) {
      for (const auto& edge : *cell) ++ops[edge.op];
      ++last_node_pairs[{(*cell)[6].input, (*cell)[7].input}];
    }
  }
  // 7 ops over 2000 × 16 edges: 4571 each expected, standard deviation 63; 5% is 3.6 of them.
  ASSERT_EQ(ops.size(), 7u);
  for (const auto& [op, count] : ops)
    EXPECT_NEAR(count, draws * 16 / 7.0, draws * 16 / 7.0 * 0.05) << primitive_name(op);
  // The last node picks 2 of 5 inputs: 10 pairs, 400 each expected of 4000 cells (deviation 19).
  ASSERT_EQ(last_node_pairs.size(), 10u);
  for (const auto& [pair, count] : last_node_pairs) {
    EXPECT_NEAR(count, 400, 80) << pair.first << "," << pair.second;
  }
}

TEST(RandomGenotype, NamedAsRandomSeed) {
  EXPECT_EQ(load_genotype("random:7"), random_genotype(7));
  EXPECT_EQ(load_genotype("random:18446744073709551615"), random_genotype(UINT64_MAX));
  EXPECT_THROWS_WITH(load_genotype("random:x"), "genotype 'random:x': the seed 'x' is not a non-negative integer");
  EXPECT_THROWS_WITH(load_genotype("random:"), "expected random:SEED");
  EXPECT_THROWS_WITH(load_genotype("random:-1"), "is not a non-negative integer");
  EXPECT_THROWS_WITH(load_genotype("random:18446744073709551616"), "is not a non-negative integer");
}

}  // namespace
}  // namespace daas::nas
