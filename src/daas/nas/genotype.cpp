#include "daas/nas/genotype.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "daas/core/error.h"
#include "daas/core/files.h"
#include "daas/core/json.h"

namespace daas::nas {
namespace {

// A value of the small Python literal subset genotype files use.
struct PyValue {
  enum class Kind { kList, kString, kInt, kNone };
  Kind kind = Kind::kNone;
  std::vector<PyValue> items;  // list or tuple
  std::string text;
  int64_t number = 0;
};

// Recursive-descent reader of `Genotype(key=value, ...)`.
class PyParser {
 public:
  explicit PyParser(const std::string& text) : text_(text) {}

  std::map<std::string, PyValue> genotype_call() {
    const auto start = text_.find("Genotype");
    if (start == std::string::npos)
      core::fail("genotype text: no 'Genotype(' found; expected DARTS, GDAS or JSON syntax");
    pos_ = start + std::string("Genotype").size();
    expect('(');
    static const char* kPositional[] = {"normal", "normal_concat", "reduce", "reduce_concat"};
    std::map<std::string, PyValue> args;
    size_t positional = 0;
    while (!peek(')')) {
      skip_space();
      const size_t mark = pos_;
      std::string key = identifier();
      if (!key.empty() && peek('=')) {
        expect('=');
      } else {
        pos_ = mark;
        if (positional >= 4) error("too many positional arguments");
        key = kPositional[positional++];
      }
      if (args.count(key) != 0) error("argument '" + key + "' given twice");
      args[key] = value();
      if (!peek(',')) break;
      expect(',');
    }
    expect(')');
    return args;
  }

 private:
  PyValue value() {
    skip_space();
    if (pos_ >= text_.size()) error("unexpected end of text");
    const char c = text_[pos_];
    if (c == '[' || c == '(') return sequence(c == '[' ? ']' : ')');
    if (c == '\'' || c == '"') return string();
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') return integer();
    const std::string word = identifier();
    if (word == "None") return PyValue{};
    if (word == "range") return range();
    error("unexpected '" + (word.empty() ? std::string(1, c) : word) + "'");
  }

  PyValue sequence(char close) {
    // Genotypes nest 3 deep (GDAS: list of pairs of pairs); recursion per
    // bracket must stop long before the stack does.
    if (depth_ >= kMaxNesting) error(fmt::format("lists nested more than {} deep", kMaxNesting));
    ++depth_;
    ++pos_;
    PyValue out;
    out.kind = PyValue::Kind::kList;
    while (!peek(close)) {
      out.items.push_back(value());
      if (!peek(',')) break;
      expect(',');
    }
    expect(close);
    --depth_;
    return out;
  }

  PyValue string() {
    const char quote = text_[pos_++];
    const auto end = text_.find(quote, pos_);
    if (end == std::string::npos) error("unterminated string");
    PyValue out;
    out.kind = PyValue::Kind::kString;
    out.text = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }

  PyValue integer() {
    size_t used = 0;
    PyValue out;
    out.kind = PyValue::Kind::kInt;
    try {
      out.number = std::stoll(text_.substr(pos_), &used);
    } catch (const std::exception&) {
      error("bad integer");
    }
    pos_ += used;
    return out;
  }

  // range(a, b) or range(b), expanded to a list.
  PyValue range() {
    expect('(');
    std::vector<int64_t> bounds;
    while (!peek(')')) {
      skip_space();
      bounds.push_back(integer().number);
      if (!peek(',')) break;
      expect(',');
    }
    expect(')');
    if (bounds.empty() || bounds.size() > 2) error("range() takes 1 or 2 integers");
    const int64_t from = bounds.size() == 2 ? bounds[0] : 0;
    const int64_t to = bounds.back();
    // Checked before expanding: the bounds come from the file.
    if (to > from && static_cast<uint64_t>(to) - static_cast<uint64_t>(from) > kMaxCellNodes) {
      error(fmt::format("range({}, {}) has more than {} nodes", from, to, kMaxCellNodes));
    }
    PyValue out;
    out.kind = PyValue::Kind::kList;
    for (int64_t i = from; i < to; ++i) {
      PyValue item;
      item.kind = PyValue::Kind::kInt;
      item.number = i;
      out.items.push_back(item);
    }
    return out;
  }

  std::string identifier() {
    skip_space();
    const size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c) {
    if (!peek(c)) error(std::string("expected '") + c + "'");
    ++pos_;
  }
  [[noreturn]] void error(const std::string& what) const {
    core::fail("genotype text: {} at offset {} near '{}'", what, pos_, text_.substr(pos_, 24));
  }

  static constexpr size_t kMaxNesting = 8;
  const std::string& text_;
  size_t pos_ = 0;
  size_t depth_ = 0;
};

GenotypeEdge edge_from_py(const PyValue& v, const std::string& field) {
  if (v.kind != PyValue::Kind::kList || v.items.size() != 2 || v.items[0].kind != PyValue::Kind::kString ||
      v.items[1].kind != PyValue::Kind::kInt) {
    core::fail("genotype {}: an edge is not an ('op', node) pair", field);
  }
  return {parse_primitive(v.items[0].text), v.items[1].number};
}

// A cell's edges: DARTS flat [('op', j), ...] or GDAS [(('op', j), ('op', k)), ...].
std::vector<GenotypeEdge> edges_from_py(const PyValue& v, const std::string& field) {
  if (v.kind != PyValue::Kind::kList) core::fail("genotype {}: expected a list of ('op', node) pairs", field);
  std::vector<GenotypeEdge> edges;
  for (const auto& item : v.items) {
    const bool nested =
        item.kind == PyValue::Kind::kList && !item.items.empty() && item.items[0].kind == PyValue::Kind::kList;
    if (nested) {
      for (const auto& inner : item.items) edges.push_back(edge_from_py(inner, field));
    } else {
      edges.push_back(edge_from_py(item, field));
    }
  }
  return edges;
}

std::vector<int64_t> concat_from_py(const PyValue& v, const std::string& field) {
  if (v.kind != PyValue::Kind::kList) core::fail("genotype {}: expected a list of node indices or range(a, b)", field);
  std::vector<int64_t> out;
  for (const auto& item : v.items) {
    if (item.kind != PyValue::Kind::kInt) core::fail("genotype {}: expected integer node indices", field);
    out.push_back(item.number);
  }
  return out;
}

std::string edge_text(const GenotypeEdge& e) { return fmt::format("('{}', {})", primitive_name(e.op), e.input); }

std::string concat_text(const std::vector<int64_t>& concat) { return fmt::format("[{}]", fmt::join(concat, ", ")); }

void validate_cell(const std::vector<GenotypeEdge>& edges, const std::vector<int64_t>& concat, const char* cell) {
  core::check(!edges.empty() && edges.size() % 2 == 0,
              "genotype {} cell: {} edges; expected an even, non-zero count (2 per intermediate node)", cell,
              edges.size());
  core::check(edges.size() <= 2 * kMaxCellNodes, "genotype {} cell: {} edges; expected at most {} ({} nodes)", cell,
              edges.size(), 2 * kMaxCellNodes, kMaxCellNodes);
  core::check(concat.size() <= kMaxCellNodes, "genotype {}_concat: {} nodes; expected at most {}", cell, concat.size(),
              kMaxCellNodes);
  const auto steps = static_cast<int64_t>(edges.size() / 2);
  for (size_t e = 0; e < edges.size(); ++e) {
    const int64_t node = static_cast<int64_t>(e / 2) + 2;
    core::check(edges[e].input >= 0 && edges[e].input < node,
                "genotype {} cell: edge {} ('{}') of node {} reads node {}; expected an input in [0, {}]", cell, e,
                primitive_name(edges[e].op), node, edges[e].input, node - 1);
  }
  core::check(!concat.empty(), "genotype {}_concat: empty; expected node indices", cell);
  for (const auto node : concat) {
    core::check(node >= 0 && node < steps + 2, "genotype {}_concat: node {}; expected an index in [0, {}]", cell, node,
                steps + 1);
  }
}

std::vector<GenotypeEdge> edges_from_json(const nlohmann::json& json, const char* field) {
  if (!json.contains(field) || !json[field].is_array())
    core::fail("genotype JSON: '{}' missing or not an array", field);
  std::vector<GenotypeEdge> edges;
  for (const auto& item : json[field]) {
    // An unsigned node beyond int64_t is refused as written, not wrapped to a negative index.
    if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !core::integer_value(item[1])) {
      core::fail("genotype JSON: an edge of '{}' is {}; expected [\"op\", node]", field, core::json_excerpt(item));
    }
    edges.push_back({parse_primitive(item[0].get<std::string>()), item[1].get<int64_t>()});
  }
  return edges;
}

std::vector<int64_t> concat_from_json(const nlohmann::json& json, const char* field) {
  if (!json.contains(field) || !json[field].is_array())
    core::fail("genotype JSON: '{}' missing or not an array", field);
  std::vector<int64_t> out;
  for (const auto& item : json[field]) {
    if (!core::integer_value(item))
      core::fail("genotype JSON: '{}' holds {}; expected node indices", field, core::json_excerpt(item));
    out.push_back(item.get<int64_t>());
  }
  return out;
}

Genotype make(std::vector<std::pair<Primitive, int64_t>> normal, std::vector<std::pair<Primitive, int64_t>> reduce) {
  Genotype g;
  for (const auto& [op, input] : normal) g.normal.push_back({op, input});
  for (const auto& [op, input] : reduce) g.reduce.push_back({op, input});
  g.normal_concat = g.reduce_concat = {2, 3, 4, 5};
  return g;
}

// The published genotypes: DARTS cnn/genotypes.py (DARTS_V1, DARTS_V2) and
// GDAS (AutoDL-Projects genotypes.py, GDAS_V1).
const std::map<std::string, Genotype>& builtins() {
  using P = Primitive;
  static const std::map<std::string, Genotype> table = [] {
    std::map<std::string, Genotype> t;
    t["DARTS_V1"] = make({{P::kSepConv3x3, 1},
                          {P::kSepConv3x3, 0},
                          {P::kSkipConnect, 0},
                          {P::kSepConv3x3, 1},
                          {P::kSkipConnect, 0},
                          {P::kSepConv3x3, 1},
                          {P::kSepConv3x3, 0},
                          {P::kSkipConnect, 2}},
                         {{P::kMaxPool3x3, 0},
                          {P::kMaxPool3x3, 1},
                          {P::kSkipConnect, 2},
                          {P::kMaxPool3x3, 0},
                          {P::kMaxPool3x3, 0},
                          {P::kSkipConnect, 2},
                          {P::kSkipConnect, 2},
                          {P::kAvgPool3x3, 0}});
    t["DARTS_V2"] = make({{P::kSepConv3x3, 0},
                          {P::kSepConv3x3, 1},
                          {P::kSepConv3x3, 0},
                          {P::kSepConv3x3, 1},
                          {P::kSepConv3x3, 1},
                          {P::kSkipConnect, 0},
                          {P::kSkipConnect, 0},
                          {P::kDilConv3x3, 2}},
                         {{P::kMaxPool3x3, 0},
                          {P::kMaxPool3x3, 1},
                          {P::kSkipConnect, 2},
                          {P::kMaxPool3x3, 1},
                          {P::kMaxPool3x3, 0},
                          {P::kSkipConnect, 2},
                          {P::kSkipConnect, 2},
                          {P::kMaxPool3x3, 1}});
    t["DARTS"] = t["DARTS_V2"];
    t["GDAS_V1"] = make({{P::kSkipConnect, 0},
                         {P::kSkipConnect, 1},
                         {P::kSkipConnect, 0},
                         {P::kSepConv5x5, 2},
                         {P::kSepConv3x3, 3},
                         {P::kSkipConnect, 0},
                         {P::kSepConv5x5, 4},
                         {P::kSepConv3x3, 3}},
                        {{P::kSepConv5x5, 0},
                         {P::kSepConv3x3, 1},
                         {P::kSepConv5x5, 2},
                         {P::kSepConv5x5, 1},
                         {P::kDilConv5x5, 2},
                         {P::kSepConv3x3, 1},
                         {P::kSepConv5x5, 0},
                         {P::kSepConv5x5, 1}});
    return t;
  }();
  return table;
}

// DARTS model_search.py Network.genotype()._parse on softmax(α) of one cell.
std::vector<GenotypeEdge> derive_cell(const torch::Tensor& alpha, const char* cell) {
  core::check(alpha.dim() == 2 && alpha.size(1) == kNumPrimitives, "alpha_{}: shape {}; expected [edges, {}]", cell,
              fmt::join(alpha.sizes(), "x"), kNumPrimitives);
  const int64_t steps = steps_for_edges(alpha.size(0));
  const auto weights = torch::softmax(alpha.detach().to(torch::kCPU, torch::kDouble), /*dim=*/-1).contiguous();
  const auto w = weights.accessor<double, 2>();
  const auto none = static_cast<int64_t>(Primitive::kNone);
  auto best_op = [&](int64_t row) {
    int64_t best = -1;
    for (int64_t k = 0; k < kNumPrimitives; ++k) {
      if (k != none && (best < 0 || w[row][k] > w[row][best])) best = k;
    }
    return best;
  };
  std::vector<GenotypeEdge> gene;
  int64_t start = 0;
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t inputs = i + 2;
    std::vector<int64_t> order(static_cast<size_t>(inputs));
    for (int64_t j = 0; j < inputs; ++j) order[static_cast<size_t>(j)] = j;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return w[start + a][best_op(start + a)] > w[start + b][best_op(start + b)];
    });
    for (size_t n = 0; n < 2; ++n) {
      const int64_t j = order[n];
      gene.push_back({static_cast<Primitive>(best_op(start + j)), j});
    }
    start += inputs;
  }
  return gene;
}

}  // namespace

void Genotype::validate() const {
  validate_cell(normal, normal_concat, "normal");
  validate_cell(reduce, reduce_concat, "reduce");
}

std::string Genotype::to_darts_string() const {
  auto cell = [](const std::vector<GenotypeEdge>& edges) {
    std::vector<std::string> parts;
    for (const auto& e : edges) parts.push_back(edge_text(e));
    return fmt::format("[{}]", fmt::join(parts, ", "));
  };
  return fmt::format("Genotype(normal={}, normal_concat={}, reduce={}, reduce_concat={})", cell(normal),
                     concat_text(normal_concat), cell(reduce), concat_text(reduce_concat));
}

std::string Genotype::to_gdas_string() const {
  auto cell = [](const std::vector<GenotypeEdge>& edges) {
    std::vector<std::string> nodes;
    for (size_t e = 0; e + 1 < edges.size(); e += 2) {
      nodes.push_back(fmt::format("({}, {})", edge_text(edges[e]), edge_text(edges[e + 1])));
    }
    return fmt::format("[{}]", fmt::join(nodes, ", "));
  };
  return fmt::format("Genotype(normal={}, normal_concat={}, reduce={}, reduce_concat={})", cell(normal),
                     concat_text(normal_concat), cell(reduce), concat_text(reduce_concat));
}

nlohmann::json Genotype::to_json() const {
  auto cell = [](const std::vector<GenotypeEdge>& edges) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : edges) out.push_back({primitive_name(e.op), e.input});
    return out;
  };
  return {{"normal", cell(normal)},
          {"normal_concat", normal_concat},
          {"reduce", cell(reduce)},
          {"reduce_concat", reduce_concat}};
}

Genotype Genotype::from_json(const nlohmann::json& json) {
  if (!json.is_object())
    core::fail("genotype JSON: expected an object with normal, normal_concat, reduce, reduce_concat");
  Genotype g;
  g.normal = edges_from_json(json, "normal");
  g.normal_concat = concat_from_json(json, "normal_concat");
  g.reduce = edges_from_json(json, "reduce");
  g.reduce_concat = concat_from_json(json, "reduce_concat");
  g.validate();
  return g;
}

Genotype parse_genotype(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    return Genotype::from_json(core::parse_json(text, "genotype JSON"));
  }
  auto args = PyParser(text).genotype_call();
  auto field = [&](const char* key) -> const PyValue& {
    if (args.count(key) == 0) core::fail("genotype text: argument '{}' missing", key);
    return args[key];
  };
  for (const auto& [key, value] : args) {
    const bool known = key == "normal" || key == "normal_concat" || key == "reduce" || key == "reduce_concat";
    // GDAS writes connectN=None, connects=None; anything else is not ours.
    if (!known && value.kind != PyValue::Kind::kNone) {
      core::fail("genotype text: unknown argument '{}'; expected normal, normal_concat, reduce, reduce_concat", key);
    }
  }
  Genotype g;
  g.normal = edges_from_py(field("normal"), "normal");
  g.normal_concat = concat_from_py(field("normal_concat"), "normal_concat");
  g.reduce = edges_from_py(field("reduce"), "reduce");
  g.reduce_concat = concat_from_py(field("reduce_concat"), "reduce_concat");
  g.validate();
  return g;
}

Genotype builtin_genotype(const std::string& name) {
  const auto& table = builtins();
  const auto it = table.find(name);
  if (it == table.end())
    core::fail("genotype '{}': not a built-in; expected one of {}", name, fmt::join(builtin_genotype_names(), ", "));
  return it->second;
}

std::vector<std::string> builtin_genotype_names() {
  std::vector<std::string> names;
  for (const auto& [name, genotype] : builtins()) names.push_back(name);
  return names;
}

Genotype load_genotype(const std::string& name_or_file) {
  if (builtins().count(name_or_file) != 0) return builtin_genotype(name_or_file);
  if (is_random_genotype_spec(name_or_file)) return random_genotype_from_spec(name_or_file);
  if (!std::filesystem::exists(name_or_file)) {
    core::fail("genotype '{}': neither a built-in ({}), random:SEED, nor an existing file", name_or_file,
               fmt::join(builtin_genotype_names(), ", "));
  }
  try {
    return parse_genotype(core::read_file(name_or_file));
  } catch (const core::Error& e) {
    core::fail("{}: {}", name_or_file, e.what());
  }
}

int64_t steps_for_edges(int64_t edges) {
  int64_t total = 0;
  for (int64_t steps = 1; total < edges; ++steps) {
    total += steps + 1;
    if (total == edges) return steps;
  }
  core::fail("{} edges: not a cell's edge count; expected 2+3+...+(steps+1), e.g. 14 for 4 steps", edges);
}

Genotype derive_genotype(const torch::Tensor& alpha_normal, const torch::Tensor& alpha_reduce, int64_t multiplier) {
  Genotype g;
  g.normal = derive_cell(alpha_normal, "normal");
  g.reduce = derive_cell(alpha_reduce, "reduce");
  const int64_t steps = static_cast<int64_t>(g.normal.size() / 2);
  core::check(multiplier >= 1 && multiplier <= steps, "multiplier {}; expected 1..{} (the number of nodes)", multiplier,
              steps);
  for (int64_t node = 2 + steps - multiplier; node < steps + 2; ++node) g.normal_concat.push_back(node);
  const int64_t reduce_steps = static_cast<int64_t>(g.reduce.size() / 2);
  core::check(multiplier <= reduce_steps, "multiplier {}; expected at most {} (reduce nodes)", multiplier,
              reduce_steps);
  for (int64_t node = 2 + reduce_steps - multiplier; node < reduce_steps + 2; ++node) g.reduce_concat.push_back(node);
  return g;
}

}  // namespace daas::nas
