// The sections of a search run.
#include <fmt/format.h>

#include <cmath>
#include <map>

#include "charts.h"
#include "daas/augment/searchable_policy.h"
#include "daas/nas/genotype.h"
#include "daas/nas/ops.h"
#include "daas/report/cell_graph.h"
#include "sections.h"

namespace daas::report {
namespace {

using json = nlohmann::json;

/// Edge names of a cell with `nodes` intermediate nodes, in α's row order
/// (node by node, each from every earlier node): "c_{k-2} → 0", ...
std::vector<std::string> edge_names(int64_t nodes) {
  std::vector<std::string> names;
  for (int64_t node = 0; node < nodes; ++node) {
    for (int64_t input = 0; input < node + 2; ++input)
      names.push_back(cell_input_name(input) + " → " + std::to_string(node));
  }
  return names;
}

/// α's row of the edge into `node` from `input`.
int64_t edge_row(int64_t node, int64_t input) {
  int64_t row = 0;
  for (int64_t i = 0; i < node; ++i) row += i + 2;
  return row + input;
}

std::string op_counts(const std::vector<nas::GenotypeEdge>& edges) {
  std::map<std::string, int> counts;
  for (const auto& edge : edges) counts[nas::primitive_name(edge.op)] += 1;
  std::vector<std::pair<int, std::string>> sorted;
  for (const auto& [name, count] : counts) sorted.emplace_back(-count, name);
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> parts;
  for (const auto& [count, name] : sorted) parts.push_back(fmt::format("{}× {}", -count, name));
  return fmt::format("{}", fmt::join(parts, ", "));
}

/// Mean softmax weight of the kept ops on their edges, from an alpha record.
std::optional<double> kept_weight(const json& record, const std::string& cell,
                                  const std::vector<nas::GenotypeEdge>& edges) {
  if (!record.contains(cell) || !record.at(cell).is_array()) return std::nullopt;
  const auto& rows = record.at(cell);
  double total = 0;
  int64_t count = 0;
  for (size_t e = 0; e < edges.size(); ++e) {
    const int64_t row = edge_row(static_cast<int64_t>(e / 2), edges[e].input);
    const auto op = static_cast<size_t>(edges[e].op);
    if (row >= static_cast<int64_t>(rows.size()) || !rows[static_cast<size_t>(row)].is_array() ||
        rows[static_cast<size_t>(row)].size() <= op || !rows[static_cast<size_t>(row)][op].is_number()) {
      return std::nullopt;
    }
    total += rows[static_cast<size_t>(row)][op].get<double>();
    ++count;
  }
  if (count == 0) return std::nullopt;
  return total / static_cast<double>(count);
}

/// When the derived genotype last changed, from the metrics' "genotype" strings.
std::string genotype_stability(const std::vector<json>& records) {
  std::vector<std::pair<int64_t, std::string>> seen;
  for (const auto& record : records) {
    const auto epoch = whole_number(record, "epoch");
    if (epoch && record.contains("genotype") && record.at("genotype").is_string()) {
      seen.emplace_back(*epoch, record.at("genotype").get<std::string>());
    }
  }
  if (seen.size() < 2) return {};
  int64_t changes = 0;
  int64_t last_change = seen.front().first;
  for (size_t i = 1; i < seen.size(); ++i) {
    if (seen[i].second != seen[i - 1].second) {
      ++changes;
      last_change = seen[i].first;
    }
  }
  if (changes == 0) return fmt::format("The derived genotype stayed the same over all {} epochs.", seen.size());
  const int64_t stable = seen.back().first - last_change + 1;
  const std::string times = changes == 1 ? "once" : fmt::format("{} times", changes);
  if (last_change == seen.back().first) {
    return fmt::format("The derived genotype changed {}, the last time at the final epoch {}: it has not settled.",
                       times, last_change);
  }
  return fmt::format("The derived genotype changed {} and has been the same for the last {} epochs (since epoch {}).",
                     times, stable, last_change);
}

std::vector<std::string> findings(const RunView& view) {
  const RunFolder& run = *view.run;
  const auto& records = run.metrics.lines;
  std::vector<std::string> out;
  if (records.empty()) return out;
  const int64_t planned = run.planned_epochs();
  const auto first = number(records.front(), "val_acc");
  const auto last = number(records.back(), "val_acc");
  const auto train_acc = number(records.back(), "train_acc");
  if (first && last) {
    out.push_back(records.size() == 1
                      ? fmt::format("Supernet validation accuracy after its one epoch: {}{}.", percent(*last),
                                    train_acc ? fmt::format(" (training batches {})", percent(*train_acc)) : "")
                      : fmt::format("Supernet validation accuracy went from {} after epoch 1 to {} after epoch {}{}.",
                                    percent(*first), percent(*last), records.size(),
                                    train_acc ? fmt::format(" (training batches {})", percent(*train_acc)) : ""));
  }
  if (planned > static_cast<int64_t>(records.size())) {
    out.push_back(
        fmt::format("Only {} of the {} planned epochs finished; <code>daas search --resume {}</code> "
                    "continues it.",
                    records.size(), planned, escape_html(run.dir)));
  }
  if (const auto stability = genotype_stability(records); !stability.empty()) out.push_back(stability);
  if (run.genotype && (!run.search || run.search->mode != "policy")) {
    out.push_back(fmt::format("Ops kept: normal cell {}; reduction cell {}.", op_counts(run.genotype->normal),
                              op_counts(run.genotype->reduce)));
    if (!run.alpha.lines.empty()) {
      const auto normal = kept_weight(run.alpha.lines.back(), "normal", run.genotype->normal);
      const auto reduce = kept_weight(run.alpha.lines.back(), "reduce", run.genotype->reduce);
      if (normal && reduce) {
        out.push_back(fmt::format(
            "How decided α is: a kept op holds on average {} of its edge's weight in the normal cell and {} in the "
            "reduction cell (uniform: {}; a settled edge approaches 100%).",
            percent(*normal), percent(*reduce), percent(1.0 / nas::kNumPrimitives)));
      }
    }
  }
  if (run.search && run.search->mode == "policy") {
    out.push_back(fmt::format("Architecture fixed to <code>{}</code> (policy mode): only the policy was searched.",
                              escape_html(run.search->genotype)));
  }
  if (run.search && run.search->mode == "arch") {
    out.push_back(fmt::format("Policy fixed to <code>{}</code> (arch mode): only the architecture was searched.",
                              escape_html(run.search->fixed_policy)));
  }
  const auto& policy = run.policy.lines;
  if (!policy.empty()) {
    const auto& final = policy.back();
    const auto phi_first = number(records.front(), "phi_entropy");
    const auto phi_last = number(records.back(), "phi_entropy");
    if (phi_first && phi_last) {
      out.push_back(fmt::format(
          "Policy selection entropy {:.3f} → {:.3f} nats (uniform over {} sub-policies: "
          "{:.3f}); lower means the policy has picked favourites.",
          *phi_first, *phi_last, augment::kSubPolicyCount, std::log(static_cast<double>(augment::kSubPolicyCount))));
    }
    if (final.contains("top") && final.at("top").is_array() && !final.at("top").empty()) {
      const auto& top = final.at("top").front();
      const auto ops = top.is_object() ? top.value("ops", json::array()) : json::array();
      const auto p = number(top, "probability");
      if (ops.is_array() && ops.size() == 2 && ops[0].is_string() && ops[1].is_string() && p) {
        out.push_back(fmt::format("Most likely sub-policy: {} + {}, chosen for {} of the images ({:.1f}× uniform).",
                                  escape_html(ops[0].get<std::string>()), escape_html(ops[1].get<std::string>()),
                                  percent(*p), *p * augment::kSubPolicyCount));
      }
    }
    if (final.contains("application") && final.contains("ops") && final.at("application").is_array() &&
        final.at("ops").is_array() && final.at("application").size() == final.at("ops").size()) {
      std::vector<std::pair<double, std::string>> applied;
      for (size_t k = 0; k < final.at("ops").size(); ++k) {
        if (final.at("application")[k].is_number() && final.at("ops")[k].is_string()) {
          applied.emplace_back(final.at("application")[k].get<double>(), final.at("ops")[k].get<std::string>());
        }
      }
      std::sort(applied.rbegin(), applied.rend());
      if (applied.size() >= 4) {
        const size_t n = applied.size();
        out.push_back(
            fmt::format("Ops applied most often: {} ({}), {} ({}); least often: {} ({}), {} ({}) "
                        "(uniform {} each).",
                        applied[0].second, percent(applied[0].first), applied[1].second, percent(applied[1].first),
                        applied[n - 1].second, percent(applied[n - 1].first), applied[n - 2].second,
                        percent(applied[n - 2].first), percent(1.0 / static_cast<double>(n))));
      }
    }
  }
  return out;
}

std::string summary(const RunView& view) {
  const RunFolder& run = *view.run;
  const auto& records = run.metrics.lines;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("run folder", fmt::format("<a href=\"{}\">{}</a>", escape_html(view.link), escape_html(run.dir)));
  rows.emplace_back("command", fmt::format("daas search, mode <code>{}</code>, {}", escape_html(run.setting("mode")),
                                           escape_html(run.origin)));
  std::string data = fmt::format("<code>{}</code>", escape_html(run.setting("data")));
  if (run.setting("subset") != "" && run.setting("subset") != "0")
    data += ", subset " + escape_html(run.setting("subset"));
  if (view.data) {
    const auto& train = view.data->train;
    data += fmt::format(
        ": {} training images, split into two halves (weights; architecture and policy), "
        "{}×{}×{}, {} classes",
        grouped(train.size()), train.channels(), train.height(), train.width(), train.num_classes());
  }
  rows.emplace_back("data set", data);
  rows.emplace_back(
      "epochs",
      fmt::format("{} of {} finished{}", records.size(), run.planned_epochs(),
                  records.empty() ? "" : fmt::format(", {} steps each", number(records.back(), "steps").value_or(0))));
  if (!records.empty()) {
    const double seconds = wall_seconds(run.metrics);
    rows.emplace_back("wall time", fmt::format("{} ({} per epoch)", duration(seconds),
                                               duration(seconds / static_cast<double>(records.size()))));
    const auto& last = records.back();
    std::string final;
    for (const auto& [key, label] :
         {std::pair<const char*, const char*>{"train_acc", "training batches"}, {"val_acc", "validation half"}}) {
      if (const auto v = number(last, key)) final += fmt::format("{} {}; ", label, percent(*v));
    }
    for (const auto& [key, label] :
         {std::pair<const char*, const char*>{"train_loss", "training loss"}, {"val_loss", "validation loss"}}) {
      if (const auto v = number(last, key)) final += fmt::format("{} {:.4f}; ", label, *v);
    }
    if (final.size() > 2) final.resize(final.size() - 2);
    rows.emplace_back("final accuracy (supernet)", final);
  }
  if (run.genotype && run.search && run.search->mode != "policy") {
    const bool from_profile = run.train.has_value();
    const train::TrainOptions t = run.train.value_or(train::TrainOptions{});
    rows.emplace_back("derived network",
                      network_size_html(view, t.channels, t.layers, false, t.network,
                                        from_profile ? fmt::format("the profile's daas train settings")
                                                     : "daas train's default width and depth"));
  }
  rows.emplace_back("settings", settings_html(run));
  return key_value_table(rows);
}

std::string curves(const RunView& view, Page& page) {
  const auto& records = view.run->metrics.lines;
  if (records.empty()) return "<p class=\"missing\">No curves: no epoch has finished.</p>\n";
  using charts::LineOptions;
  using charts::series_of;
  std::string html = "<div class=\"charts\">\n";
  LineOptions loss{"mean cross-entropy"};
  if (auto spec = charts::lines(
          "Loss",
          {series_of("training batches", records, "train_loss"), series_of("validation half", records, "val_loss")},
          loss);
      !spec.is_null()) {
    html += page.chart("loss", spec,
                       "Per epoch: the weights' training batches (augmented) and the validation half "
                       "(α's and the policy's data), each along that step's sampled path.");
  }
  LineOptions accuracy{"accuracy"};
  accuracy.percent = true;
  if (auto spec = charts::lines(
          "Accuracy",
          {series_of("training batches", records, "train_acc"), series_of("validation half", records, "val_acc")},
          accuracy);
      !spec.is_null()) {
    html += page.chart("accuracy", spec, "Top-1 accuracy of the supernet per epoch.");
  }
  if (auto spec = charts::lines("Gumbel-softmax temperature τ", {series_of("τ", records, "tau")}, {"τ"});
      !spec.is_null()) {
    html += page.chart("tau", spec, "τ anneals linearly from tau_max to tau_min: samples get closer to one-hot.");
  }
  if (auto spec = charts::lines("Weight learning rate", {series_of("lr", records, "lr")}, {"learning rate"});
      !spec.is_null()) {
    html += page.chart("lr", spec, "Cosine schedule of the weights' SGD.");
  }
  LineOptions entropy{"entropy (nats)"};
  if (auto spec = charts::lines("Entropies",
                                {series_of("α normal (per edge)", records, "alpha_entropy", "normal"),
                                 series_of("α reduce (per edge)", records, "alpha_entropy", "reduce"),
                                 series_of("policy selection φ", records, "phi_entropy")},
                                entropy);
      !spec.is_null()) {
    html += page.chart("entropy", spec,
                       fmt::format("Mean entropy of softmax(α) over the edges (uniform: {:.3f}) and of the sub-policy "
                                   "selection softmax(φ) (uniform: {:.3f}); falling means decisions are being made.",
                                   std::log(static_cast<double>(nas::kNumPrimitives)),
                                   std::log(static_cast<double>(augment::kSubPolicyCount))));
  }
  return html + "</div>\n";
}

std::string architecture(RunView& view, Page& page) {
  const RunFolder& run = *view.run;
  std::string html;
  if (run.genotype) {
    html += run.search && run.search->mode == "policy"
                ? "<p>The fixed architecture (policy mode):</p>\n"
                : "<p>The genotype derived from α after the last epoch (DARTS's rule: per node the two strongest "
                  "incoming edges, each with its strongest op other than <code>none</code>):</p>\n";
    html += cells_html(view, *run.genotype);
  } else {
    html += "<p class=\"missing\">No genotype yet (genotype.json is written after the first epoch).</p>\n";
  }
  if (!run.alpha.lines.empty()) {
    const auto& rows = run.alpha.lines.back().value("normal", json::array());
    int64_t nodes = 0;
    try {
      nodes = nas::steps_for_edges(static_cast<int64_t>(rows.size()));
    } catch (const std::exception&) {
      view.notes.push_back(fmt::format("alpha.jsonl: {} edges in the last record; no α heat map", rows.size()));
    }
    if (nodes > 0) {
      const auto names = edge_names(nodes);
      html += "<h3>α per edge over the epochs</h3>\n";
      for (const char* cell : {"normal", "reduce"}) {
        if (auto spec = charts::alpha_heatmap(run.alpha.lines, cell, names); !spec.is_null()) {
          html += page.chart(std::string("alpha-") + cell, spec,
                             "Each small map is one edge: rows the ops, columns the epochs, colour the op's share of "
                             "softmax(α) on that edge. Pale is the uniform 12.5%; an op gaining weight turns orange "
                             "along its row, one losing it blue.");
        }
      }
    }
  }
  return html;
}

std::string top_table(const json& record) {
  if (!record.contains("top") || !record.at("top").is_array()) return {};
  std::string html =
      "<table class=\"top-policies\"><tr><th>#</th><th>first op (P applied, level)</th><th>second op "
      "(P applied, level)</th><th>P(chosen)</th></tr>\n";
  int rank = 0;
  for (const auto& sub : record.at("top")) {
    if (!sub.is_object()) continue;
    const auto ops = sub.value("ops", json::array());
    const auto apply = sub.value("apply", json::array());
    const auto level = sub.value("level", json::array());
    const auto p = number(sub, "probability");
    if (!ops.is_array() || ops.size() != 2 || !apply.is_array() || apply.size() != 2 || !level.is_array() ||
        level.size() != 2 || !p) {
      continue;
    }
    std::string cells;
    for (size_t j = 0; j < 2; ++j) {
      if (!ops[j].is_string() || !apply[j].is_number() || !level[j].is_number()) return {};
      cells += fmt::format("<td>{} ({:.3g}, {:.2g})</td>", escape_html(ops[j].get<std::string>()),
                           apply[j].get<double>(), level[j].get<double>());
    }
    html +=
        fmt::format("<tr><td class=\"num\">{}</td>{}<td class=\"num\">{:.3g}%</td></tr>\n", ++rank, cells, 100 * *p);
  }
  return html + "</table>\n";
}

std::string policy(RunView& view, Page& page, const ReportOptions& options) {
  const RunFolder& run = *view.run;
  std::string html;
  const auto& records = run.policy.lines;
  if (!records.empty()) {
    const auto epoch = whole_number(records.back(), "epoch");
    html += epoch ? fmt::format("<h3>Top sub-policies after epoch {}</h3>\n", *epoch) : "<h3>Top sub-policies</h3>\n";
    html += fmt::format(
        "<p>Of the {} sub-policies (pairs of two different ops), uniform choice gives each {:.3g}%. "
        "P applied: the chance the op runs when its sub-policy is chosen; level: its most likely "
        "magnitude in [0, 1].</p>\n",
        augment::kSubPolicyCount, 100.0 / augment::kSubPolicyCount);
    html += top_table(records.back());
    html += "<div class=\"charts\">\n";
    if (auto spec = charts::op_pair_heatmap(records.back()); !spec.is_null()) {
      html += page.chart("op-pairs", spec,
                         "Probability that an image gets the sub-policy of these two ops (the map "
                         "is symmetric; the diagonal is empty).");
    }
    if (auto spec = charts::application_lines(records); !spec.is_null()) {
      html += page.chart("application", spec,
                         "Chance that an image gets each op: the sum over the sub-policies holding it of P(chosen) × "
                         "P(applied). Dashed: its value under a uniform policy.");
    }
    if (auto spec = charts::level_heatmap(records.back()); !spec.is_null()) {
      html += page.chart("levels", spec,
                         "Distribution of each op's magnitude level when it is applied, after the "
                         "last epoch.");
    }
    html += "</div>\n";
  }
  html += "<h3>What the policy does to images</h3>\n" + preview_html(view, options);
  return html;
}

}  // namespace

std::string search_sections(RunView& view, Page& page, const ReportOptions& options) {
  const std::string curves_html = guarded(view, "curves", [&] { return curves(view, page); });
  const std::string architecture_html = guarded(view, "architecture", [&] { return architecture(view, page); });
  const std::string policy_html = guarded(view, "policy", [&] { return policy(view, page, options); });
  return run_page(
      view, [&] { return findings(view); }, [&] { return summary(view); },
      {{"Curves", curves_html}, {"Architecture", architecture_html}, {"Augmentation policy", policy_html}});
}

}  // namespace daas::report
