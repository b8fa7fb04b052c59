// Cells drawn as DARTS draws them: a known genotype's graph holds exactly its
// edges and op labels, in the dot source and in graphviz's SVG.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <tuple>

#include "daas/nas/genotype.h"
#include "daas/report/cell_graph.h"
#include "test_support.h"

namespace daas::report {
namespace {

using Edge = std::tuple<std::string, std::string, std::string>;  // from, to, label ("" = concat)

// DARTS_V2 as genotypes.py spells it, written out edge by edge.
const std::multiset<Edge> kDartsV2Normal = {{"c_{k-2}", "0", "sep_conv_3x3"},
                                            {"c_{k-1}", "0", "sep_conv_3x3"},
                                            {"c_{k-2}", "1", "sep_conv_3x3"},
                                            {"c_{k-1}", "1", "sep_conv_3x3"},
                                            {"c_{k-1}", "2", "sep_conv_3x3"},
                                            {"c_{k-2}", "2", "skip_connect"},
                                            {"c_{k-2}", "3", "skip_connect"},
                                            {"0", "3", "dil_conv_3x3"},
                                            {"0", "c_{k}", ""},
                                            {"1", "c_{k}", ""},
                                            {"2", "c_{k}", ""},
                                            {"3", "c_{k}", ""}};
const std::multiset<Edge> kDartsV2Reduce = {{"c_{k-2}", "0", "max_pool_3x3"},
                                            {"c_{k-1}", "0", "max_pool_3x3"},
                                            {"0", "1", "skip_connect"},
                                            {"c_{k-1}", "1", "max_pool_3x3"},
                                            {"c_{k-2}", "2", "max_pool_3x3"},
                                            {"0", "2", "skip_connect"},
                                            {"0", "3", "skip_connect"},
                                            {"c_{k-1}", "3", "max_pool_3x3"},
                                            {"0", "c_{k}", ""},
                                            {"1", "c_{k}", ""},
                                            {"2", "c_{k}", ""},
                                            {"3", "c_{k}", ""}};

std::multiset<Edge> dot_edges(const std::string& dot) {
  std::multiset<Edge> edges;
  const std::regex edge(R"re("([^"]+)" -> "([^"]+)"(?: \[label="([^"]*)"\])?;)re");
  for (auto it = std::sregex_iterator(dot.begin(), dot.end(), edge); it != std::sregex_iterator(); ++it) {
    edges.insert({(*it)[1].str(), (*it)[2].str(), (*it)[3].str()});
  }
  return edges;
}

std::string unescape_svg(std::string text) {
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"&#45;", "-"}, {"&gt;", ">"}, {"&lt;", "<"}, {"&amp;", "&"}}) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
  }
  return text;
}

/// Edges of graphviz's SVG: each <g class="edge"> has <title>from->to</title>
/// and, when labelled, one <text> with the label.
std::multiset<Edge> svg_edges(const std::string& svg) {
  std::multiset<Edge> edges;
  const std::regex group(R"re(<g id="edge\d+" class="edge">([\s\S]*?)</g>)re");
  const std::regex title(R"re(<title>([^<]*)</title>)re");
  const std::regex text(R"re(<text[^>]*>([^<]*)</text>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), group); it != std::sregex_iterator(); ++it) {
    const std::string body = (*it)[1].str();
    std::smatch m;
    if (!std::regex_search(body, m, title)) continue;
    const std::string name = unescape_svg(m[1].str());
    const auto arrow = name.find("->");
    std::string label;
    if (std::regex_search(body, m, text)) label = unescape_svg(m[1].str());
    edges.insert({name.substr(0, arrow), name.substr(arrow + 2), label});
  }
  return edges;
}

TEST(CellGraph, DartsV2DotSourceHasExactlyItsEdgesAndOps) {
  const auto genotype = nas::builtin_genotype("DARTS_V2");
  EXPECT_EQ(dot_edges(cell_dot(genotype.normal, genotype.normal_concat, "normal cell")), kDartsV2Normal);
  EXPECT_EQ(dot_edges(cell_dot(genotype.reduce, genotype.reduce_concat, "reduction cell")), kDartsV2Reduce);
  // DARTS's colours: inputs green, intermediate nodes blue, output yellow.
  const auto dot = cell_dot(genotype.normal, genotype.normal_concat, "normal cell");
  EXPECT_NE(dot.find("\"c_{k-1}\" [fillcolor=darkseagreen2]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"3\" [fillcolor=lightblue]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"c_{k}\" [fillcolor=palegoldenrod]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("rankdir=LR"), std::string::npos);
}

TEST(CellGraph, DartsV2SvgFromGraphvizHasExactlyItsEdgesAndOps) {
  const auto genotype = nas::builtin_genotype("DARTS_V2");
  const auto normal = render_svg(cell_dot(genotype.normal, genotype.normal_concat, "normal cell"));
  ASSERT_EQ(normal.rfind("<svg", 0), 0u) << normal.substr(0, 200);
  EXPECT_EQ(svg_edges(normal), kDartsV2Normal);
  const auto reduce = render_svg(cell_dot(genotype.reduce, genotype.reduce_concat, "reduction cell"));
  EXPECT_EQ(svg_edges(reduce), kDartsV2Reduce);
  // Seven nodes: two inputs, four intermediate nodes, the output.
  const std::regex node(R"re(<g id="node\d+" class="node">)re");
  EXPECT_EQ(std::distance(std::sregex_iterator(normal.begin(), normal.end(), node), std::sregex_iterator()), 7);
}

TEST(CellGraph, DotFailuresAreOneClearLine) {
  EXPECT_THROWS_WITH(render_svg("digraph { this is not dot"), "graphviz's dot failed with exit code");
  EXPECT_THROWS_WITH(cell_dot({nas::GenotypeEdge{}}, {2}, "odd"),
                     "cell_dot: 1 edges; expected two per intermediate node");
}

}  // namespace
}  // namespace daas::report
