#pragma once
// A cell genotype (DARTS genotypes.py): for each intermediate node two
// (op, input node) edges, and the nodes concatenated into the cell output.
// Canonical text form: DARTS Python syntax; GDAS nested pairs and JSON are
// read and written too.
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daas/nas/ops.h"

namespace daas::nas {

/// One edge of a derived cell: `op` applied to node `input` (0, 1 = the two
/// cell inputs, 2.. = intermediate nodes).
struct GenotypeEdge {
  Primitive op = Primitive::kNone;
  int64_t input = 0;
  bool operator==(const GenotypeEdge& other) const { return op == other.op && input == other.input; }
};

/// Most intermediate nodes a genotype cell may have (DARTS uses 4); bounds
/// what a genotype file can make the program allocate.
constexpr size_t kMaxCellNodes = 64;

struct Genotype {
  std::vector<GenotypeEdge> normal;  // 2 per intermediate node, node by node
  std::vector<int64_t> normal_concat;
  std::vector<GenotypeEdge> reduce;
  std::vector<int64_t> reduce_concat;

  bool operator==(const Genotype& other) const {
    return normal == other.normal && normal_concat == other.normal_concat && reduce == other.reduce &&
           reduce_concat == other.reduce_concat;
  }
  bool operator!=(const Genotype& other) const { return !(*this == other); }

  /// Fails unless both cells have 2 edges per node (at most kMaxCellNodes nodes), inputs of node i in
  /// [0, i+2) and concat indices naming existing nodes.
  void validate() const;

  /// `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])`
  std::string to_darts_string() const;
  /// GDAS nested pairs: `Genotype(normal=[(('sep_conv_3x3', 0), ('sep_conv_3x3', 1)), ...], ...)`
  std::string to_gdas_string() const;
  /// {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": ..., "reduce_concat": ...}
  nlohmann::json to_json() const;
  static Genotype from_json(const nlohmann::json& json);
};

/// Reads DARTS syntax (lists or `range(a, b)` for concat, optionally
/// preceded by `NAME = `), GDAS nested pairs, or JSON (text starting with
/// `{`). Fails on unknown ops, bad node indices and wrong edge counts.
Genotype parse_genotype(const std::string& text);

/// DARTS_V1, DARTS_V2 (also "DARTS"), GDAS_V1; fails naming the known ones.
Genotype builtin_genotype(const std::string& name);
/// Names accepted by builtin_genotype.
std::vector<std::string> builtin_genotype_names();

/// A built-in name, `random:SEED` (random_genotype), or a file holding any
/// form parse_genotype reads.
Genotype load_genotype(const std::string& name_or_file);

/// A genotype drawn uniformly from the DARTS search space: per node two
/// distinct inputs (every pair equally likely) and for each an op other than
/// `none` (each equally likely); all `steps` nodes concatenated. The same seed
/// gives the same genotype on every platform.
Genotype random_genotype(uint64_t seed, int64_t steps = 4);
/// Prefix of the genotype spec `random:SEED`.
constexpr const char* kRandomGenotypePrefix = "random:";
bool is_random_genotype_spec(const std::string& spec);
/// random_genotype(SEED) for `random:SEED`; fails naming the spec otherwise.
Genotype random_genotype_from_spec(const std::string& spec);

/// DARTS's derivation rule (model_search.py genotype()): per node keep the
/// two incoming edges with the largest non-`none` softmax(α) weight, each
/// with its best non-`none` op; ties go to the lower index. Concat = the last
/// `multiplier` nodes. alpha_*: [edges, kNumPrimitives], edges = 2+3+...
Genotype derive_genotype(const torch::Tensor& alpha_normal, const torch::Tensor& alpha_reduce, int64_t multiplier = 4);

/// Number of intermediate nodes whose edge count (2 + 3 + ...) is `edges`;
/// fails when `edges` is no such sum.
int64_t steps_for_edges(int64_t edges);

}  // namespace daas::nas
