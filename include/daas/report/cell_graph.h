#pragma once
// Cells drawn as DARTS draws them (its visualize.py): the two cell inputs
// c_{k-2} and c_{k-1}, the intermediate nodes 0..n-1, the output c_{k};
// one edge per kept (op, input) pair labelled with the op's name, and an
// unlabelled edge from every concatenated node to c_{k}. Laid out by
// graphviz's dot, left to right.
#include <string>
#include <vector>

#include "daas/nas/genotype.h"

namespace daas::report {

/// The name of input `index` of a cell's node (0 -> "c_{k-2}", 1 -> "c_{k-1}",
/// i >= 2 -> "i-2"), as the graphs and the α heat maps label edges.
std::string cell_input_name(int64_t index);

/// The dot source of one cell: `edges` two per intermediate node, node by
/// node (a Genotype's normal or reduce list); `concat` the nodes (2..)
/// joined into the output. `title` becomes the graph's label.
std::string cell_dot(const std::vector<nas::GenotypeEdge>& edges, const std::vector<int64_t>& concat,
                     const std::string& title);

/// Runs graphviz's `dot -Tsvg` on `source` and returns the <svg> element (the
/// XML prolog dropped). Fails with one line naming what went wrong (dot not
/// installed, or its own message).
std::string render_svg(const std::string& dot_source);

}  // namespace daas::report
