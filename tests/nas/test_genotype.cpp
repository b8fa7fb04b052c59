#include "daas/nas/genotype.h"

#include <torch/torch.h>

#include <fstream>
#include <limits>

#include "test_support.h"

namespace daas::nas {
namespace {

// DARTS cnn/genotypes.py, as printed there.
constexpr const char* kDartsV2Text =
    "DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[2, 3, 4, 5])";

// GDAS (AutoDL-Projects) nested pairs, with its extra keyword arguments.
constexpr const char* kGdasText = R"(GDAS_V1 = Genotype(
  normal=[
    (('skip_connect', 0), ('skip_connect', 1)),
    (('skip_connect', 0), ('sep_conv_5x5', 2)),
    (('sep_conv_3x3', 3), ('skip_connect', 0)),
    (('sep_conv_5x5', 4), ('sep_conv_3x3', 3)),
  ],
  normal_concat = [2, 3, 4, 5],
  reduce=[
    (('sep_conv_5x5', 0), ('sep_conv_3x3', 1)),
    (('sep_conv_5x5', 2), ('sep_conv_5x5', 1)),
    (('dil_conv_5x5', 2), ('sep_conv_3x3', 1)),
    (('sep_conv_5x5', 0), ('sep_conv_5x5', 1)),
  ],
  reduce_concat = [2, 3, 4, 5],
  connectN=None, connects=None,
))";

TEST(Genotype, ReadsDartsSyntax) { EXPECT_EQ(parse_genotype(kDartsV2Text), builtin_genotype("DARTS_V2")); }

TEST(Genotype, ReadsRangeConcat) {
  std::string text = kDartsV2Text;
  for (const char* key : {"normal_concat=[2, 3, 4, 5]", "reduce_concat=[2, 3, 4, 5]"}) {
    const auto at = text.find(key);
    const std::string name = std::string(key).substr(0, std::string(key).find('=') + 1);
    text.replace(at, std::string(key).size(), name + "range(2, 6)");
  }
  EXPECT_EQ(parse_genotype(text), builtin_genotype("DARTS"));
}

TEST(Genotype, ReadsGdasNestedPairs) { EXPECT_EQ(parse_genotype(kGdasText), builtin_genotype("GDAS_V1")); }

TEST(Genotype, EveryFormRoundTrips) {
  for (const auto& name : builtin_genotype_names()) {
    const auto g = builtin_genotype(name);
    EXPECT_EQ(parse_genotype(g.to_darts_string()), g) << name;
    EXPECT_EQ(parse_genotype(g.to_gdas_string()), g) << name;
    EXPECT_EQ(Genotype::from_json(g.to_json()), g) << name;
    EXPECT_EQ(parse_genotype(g.to_json().dump(2)), g) << name;
  }
}

TEST(Genotype, CanonicalStringIsDartsSyntax) {
  EXPECT_EQ(builtin_genotype("DARTS_V2").to_darts_string(), std::string(kDartsV2Text).substr(11));
}

TEST(Genotype, LoadsNamesAndFiles) {
  daas::testing::TempDir dir;
  const auto path = dir.file("g.txt");
  std::ofstream(path) << kGdasText;
  EXPECT_EQ(load_genotype(path), builtin_genotype("GDAS_V1"));
  EXPECT_EQ(load_genotype("DARTS_V1"), builtin_genotype("DARTS_V1"));
  EXPECT_NE(builtin_genotype("DARTS_V1"), builtin_genotype("DARTS_V2"));
  EXPECT_THROWS_WITH(load_genotype("NASNet"), "genotype 'NASNet': neither a built-in (DARTS, DARTS_V1");
  const auto bad = dir.file("bad.txt");
  std::string text = kDartsV2Text;
  text.replace(text.find("dil_conv_3x3"), 12, "sep_conv_7x7");
  std::ofstream(bad) << text;
  EXPECT_THROWS_WITH(load_genotype(bad), "bad.txt: unknown op 'sep_conv_7x7'; expected one of none, max_pool_3x3");
}

TEST(Genotype, RejectsBadGenotypes) {
  const auto g = builtin_genotype("DARTS_V2");
  auto edit = [&](auto change) {
    auto json = g.to_json();
    change(json);
    return json.dump();
  };
  EXPECT_THROWS_WITH(parse_genotype(edit([](auto& j) { j["normal"][0][0] = "conv_9x9"; })), "unknown op 'conv_9x9'");
  EXPECT_THROWS_WITH(parse_genotype(edit([](auto& j) { j["normal"][7][1] = 5; })),
                     "edge 7 ('dil_conv_3x3') of node 5 reads node 5; expected an input in [0, 4]");
  EXPECT_THROWS_WITH(parse_genotype(edit([](auto& j) { j["normal"][2][1] = 3; })), "of node 3 reads node 3");
  EXPECT_THROWS_WITH(parse_genotype(edit([](auto& j) { j["reduce"].erase(7); })),
                     "genotype reduce cell: 7 edges; expected an even, non-zero count");
  EXPECT_THROWS_WITH(parse_genotype(edit([](auto& j) { j["normal_concat"].push_back(6); })),
                     "genotype normal_concat: node 6; expected an index in [0, 5]");
  EXPECT_THROWS_WITH(parse_genotype(edit([](auto& j) { j.erase("reduce"); })), "'reduce' missing");
  EXPECT_THROWS_WITH(parse_genotype("Genotype(normal=[('sep_conv_3x3', 0)"),
                     "genotype text: expected ']' at offset 36");
  EXPECT_THROWS_WITH(parse_genotype("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2])"),
                     "argument 'reduce' missing");
  EXPECT_THROWS_WITH(parse_genotype("hello"), "no 'Genotype(' found");
  EXPECT_THROWS_WITH(parse_genotype("{\"normal\": 3"), "genotype JSON:");
}

TEST(Genotype, HostileTextIsRefusedBeforeRecursingOrAllocating) {
  EXPECT_THROWS_WITH(parse_genotype("Genotype(normal=" + std::string(50000, '[') + std::string(50000, ']') + ")"),
                     "genotype text: lists nested more than 8 deep at offset 24");
  EXPECT_THROWS_WITH(parse_genotype("{\"normal\": " + std::string(200000, '[') + std::string(200000, ']') + "}"),
                     "genotype JSON: JSON nested more than 32 levels deep");
  const std::string edges = "[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)]";
  EXPECT_THROWS_WITH(parse_genotype("Genotype(normal=" + edges + ", normal_concat=range(0, 1000000000000), reduce=" +
                                    edges + ", reduce_concat=[2])"),
                     "genotype text: range(0, 1000000000000) has more than 64 nodes");
  std::string many;
  for (int node = 0; node < 65; ++node) many += "('skip_connect', 0), ('skip_connect', 1), ";
  EXPECT_THROWS_WITH(
      parse_genotype("Genotype(normal=[" + many + "], normal_concat=[2], reduce=" + edges + ", reduce_concat=[2])"),
      "genotype normal cell: 130 edges; expected at most 128 (64 nodes)");
  auto json = builtin_genotype("DARTS_V2").to_json();
  json["normal"][0] = std::vector<int>(100000, 1);
  EXPECT_THROWS_WITH(
      parse_genotype(json.dump()),
      "genotype JSON: an edge of 'normal' is [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1...; "
      "expected [\"op\", node]");
  // A node beyond int64_t is quoted as written, not wrapped to -1.
  json = builtin_genotype("DARTS_V2").to_json();
  json["normal"][0][1] = std::numeric_limits<uint64_t>::max();
  EXPECT_THROWS_WITH(parse_genotype(json.dump()),
                     "genotype JSON: an edge of 'normal' is [\"sep_conv_3x3\",18446744073709551615]; expected");
  json = builtin_genotype("DARTS_V2").to_json();
  json["reduce_concat"][0] = std::numeric_limits<uint64_t>::max();
  EXPECT_THROWS_WITH(parse_genotype(json.dump()),
                     "genotype JSON: 'reduce_concat' holds 18446744073709551615; expected node indices");
}

// Softmax rows with a chosen op per edge at the given strength; other ops
// share the rest evenly.
torch::Tensor alpha_with(const std::vector<std::pair<int64_t, double>>& best) {
  auto alpha = torch::zeros({static_cast<int64_t>(best.size()), kNumPrimitives});
  for (size_t e = 0; e < best.size(); ++e) alpha[static_cast<int64_t>(e)][best[e].first] = best[e].second;
  return alpha;
}

TEST(DeriveGenotype, FollowsDartsRule) {
  using P = Primitive;
  // Edge strengths (rows: node 0: e0,e1; node 1: e2..e4; node 2: e5..e8; node 3: e9..e13).
  auto normal = alpha_with({{4, 1.0},
                            {5, 2.0},
                            {6, 0.5},
                            {3, 3.0},
                            {7, 1.0},
                            {1, 0.2},
                            {2, 0.9},
                            {4, 0.1},
                            {5, 0.8},
                            {0, 9.0},
                            {6, 1.0},
                            {7, 1.0},
                            {4, 2.0},
                            {3, 0.5}});
  // Edge 9 has a huge `none` weight: DARTS ignores none, so its best op is
  // the first of the (tied) others and its strength tiny.
  const auto g = derive_genotype(normal, normal.flip({1}));
  const std::vector<GenotypeEdge> expected = {
      {P::kSepConv5x5, 1},  {P::kSepConv3x3, 0},  // node 2: strongest first
      {P::kSkipConnect, 1}, {P::kDilConv5x5, 2},  // node 3
      {P::kAvgPool3x3, 1},  {P::kSepConv5x5, 3},  // node 4
      {P::kSepConv3x3, 3},  {P::kDilConv3x3, 1},  // node 5: edges 11 and 10 tie, lower index first
  };
  EXPECT_EQ(g.normal, expected);
  EXPECT_EQ(g.normal_concat, (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(g.reduce.size(), 8u);
  EXPECT_EQ(derive_genotype(normal, normal, /*multiplier=*/2).reduce_concat, (std::vector<int64_t>{4, 5}));
  EXPECT_THROWS_WITH(derive_genotype(torch::zeros({13, 8}), normal), "13 edges: not a cell's edge count");
  EXPECT_THROWS_WITH(derive_genotype(torch::zeros({14, 7}), normal), "alpha_normal: shape 14x7; expected [edges, 8]");
}

TEST(Primitives, NamesAndTableAgree) {
  for (int64_t k = 0; k < kNumPrimitives; ++k) {
    const auto p = static_cast<Primitive>(k);
    EXPECT_EQ(parse_primitive(primitive_name(p)), p);
    EXPECT_EQ(op_table()[static_cast<size_t>(k)].primitive, p);
  }
  EXPECT_THROWS_WITH(parse_primitive("conv_3x3"), "unknown op 'conv_3x3'");
}

}  // namespace
}  // namespace daas::nas
