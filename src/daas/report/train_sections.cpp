// The sections of a retraining run.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "charts.h"
#include "daas/augment/policy.h"
#include "sections.h"

namespace fs = std::filesystem;

namespace daas::report {
namespace {

using json = nlohmann::json;

/// Class names of an evaluation.json in class order: its "classes", else
/// the data set's when loaded, else "class 0", ... by the matrix size.
std::vector<std::string> class_names(const RunView& view) {
  const auto& evaluation = view.run->evaluation;
  if (evaluation.is_object() && evaluation.contains("classes") && evaluation.at("classes").is_array()) {
    std::vector<std::string> names;
    for (const auto& name : evaluation.at("classes")) {
      if (name.is_string()) names.push_back(name.get<std::string>());
    }
    if (names.size() == evaluation.at("classes").size()) return names;
  }
  if (view.data) return view.data->train.classes;
  std::vector<std::string> names;
  if (evaluation.is_object() && evaluation.contains("confusion") && evaluation.at("confusion").is_array()) {
    for (size_t k = 0; k < evaluation.at("confusion").size(); ++k) names.push_back(fmt::format("class {}", k));
  }
  return names;
}

std::vector<std::string> findings(const RunView& view) {
  const RunFolder& run = *view.run;
  const auto& records = run.metrics.lines;
  std::vector<std::string> out;
  if (records.empty()) return out;
  const int64_t planned = run.planned_epochs();
  std::optional<double> best;
  std::optional<int64_t> best_epoch;
  for (const auto& record : records) {
    const auto acc = number(record, "test_acc");
    if (acc && (!best || *acc > *best)) {
      best = acc;
      best_epoch = whole_number(record, "epoch");
    }
  }
  const auto top1 = number(run.evaluation, "top1");
  const auto last_test = number(records.back(), "test_acc");
  if (top1 || last_test) {
    const double final = top1.value_or(last_test.value_or(0));
    std::string line = fmt::format("Test top-1 accuracy {} after {} epochs", percent(final), records.size());
    if (const auto top5 = number(run.evaluation, "top5");
        top5 && !run.evaluation.value("confusion", json()).empty() && run.evaluation.at("confusion").size() > 10) {
      line += fmt::format(", top-5 {}", percent(*top5));
    }
    if (best && best_epoch != static_cast<int64_t>(records.size()) && *best > final) {
      line += best_epoch ? fmt::format(" (best {} at epoch {})", percent(*best), *best_epoch)
                         : fmt::format(" (best {})", percent(*best));
    }
    out.push_back(line + ".");
  }
  if (const auto train_acc = number(records.back(), "train_acc")) {
    out.push_back(
        fmt::format("Accuracy on the (augmented) training batches of the last epoch: {}.", percent(*train_acc)));
  }
  if (planned > static_cast<int64_t>(records.size())) {
    out.push_back(
        fmt::format("Only {} of the {} planned epochs finished; <code>daas train --resume {}</code> "
                    "continues it.",
                    records.size(), planned, escape_html(run.dir)));
  }
  const auto classes = class_names(view);
  const auto& evaluation = run.evaluation;
  if (evaluation.is_object() && evaluation.contains("per_class") && evaluation.at("per_class").is_object()) {
    std::vector<std::pair<double, std::string>> per_class;
    for (const auto& name : classes) {
      if (const auto acc = number(evaluation.at("per_class"), name)) per_class.emplace_back(*acc, name);
    }
    std::sort(per_class.begin(), per_class.end());
    if (per_class.size() >= 4) {
      out.push_back(fmt::format("Hardest classes: {} ({}), {} ({}); easiest: {} ({}).",
                                escape_html(per_class[0].second), percent(per_class[0].first),
                                escape_html(per_class[1].second), percent(per_class[1].first),
                                escape_html(per_class.back().second), percent(per_class.back().first)));
    }
  }
  if (evaluation.is_object() && evaluation.contains("confusion") && evaluation.at("confusion").is_array() &&
      evaluation.at("confusion").size() == classes.size()) {
    double worst = 0;
    size_t worst_true = 0, worst_predicted = 0;
    const auto& matrix = evaluation.at("confusion");
    for (size_t t = 0; t < matrix.size(); ++t) {
      if (!matrix[t].is_array() || matrix[t].size() != classes.size()) return out;
      for (size_t p = 0; p < classes.size(); ++p) {
        if (p != t && matrix[t][p].is_number() && matrix[t][p].get<double>() > worst) {
          worst = matrix[t][p].get<double>();
          worst_true = t;
          worst_predicted = p;
        }
      }
    }
    if (worst > 0) {
      out.push_back(fmt::format("Most frequent confusion: {} taken for {} ({:.0f} test images).",
                                escape_html(classes[worst_true]), escape_html(classes[worst_predicted]), worst));
    }
  }
  return out;
}

std::string summary(const RunView& view) {
  const RunFolder& run = *view.run;
  const auto& records = run.metrics.lines;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("run folder", fmt::format("<a href=\"{}\">{}</a>", escape_html(view.link), escape_html(run.dir)));
  rows.emplace_back("command", fmt::format("daas train, {}", escape_html(run.origin)));
  std::string data = fmt::format("<code>{}</code>", escape_html(run.setting("data")));
  if (run.setting("subset") != "" && run.setting("subset") != "0")
    data += ", subset " + escape_html(run.setting("subset"));
  if (view.data) {
    data += fmt::format(": {} training and {} test images, {}×{}×{}, {} classes", grouped(view.data->train.size()),
                        grouped(view.data->test.size()), view.data->train.channels(), view.data->train.height(),
                        view.data->train.width(), view.data->train.num_classes());
  }
  rows.emplace_back("data set", data);
  rows.emplace_back("genotype", fmt::format("<code>{}</code>", escape_html(run.setting("genotype"))));
  rows.emplace_back("policy",
                    fmt::format("<code>{}</code> ({}), after base transforms <code>{}</code>; Cutout {}",
                                escape_html(run.setting("policy")), escape_html(run.setting("policy_sampling")),
                                escape_html(run.setting("base_policy")), escape_html(run.setting("cutout"))));
  rows.emplace_back("epochs", fmt::format("{} of {} finished", records.size(), run.planned_epochs()));
  if (!records.empty()) {
    const double seconds = wall_seconds(run.metrics);
    rows.emplace_back("wall time", fmt::format("{} ({} per epoch, test passes included)", duration(seconds),
                                               duration(seconds / static_cast<double>(records.size()))));
    std::string final;
    if (const auto v = number(run.evaluation, "top1")) {
      final += fmt::format("test top-1 {}", percent(*v));
    } else if (const auto t = number(records.back(), "test_acc")) {
      final += fmt::format("test top-1 {}", percent(*t));
    }
    if (const auto v = number(records.back(), "train_acc")) final += fmt::format("; training batches {}", percent(*v));
    rows.emplace_back("final accuracy", final);
  }
  if (run.train) {
    rows.emplace_back("network", network_size_html(view, run.train->channels, run.train->layers,
                                                   run.train->auxiliary_weight > 0, run.train->network, "as trained"));
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
  if (auto spec = charts::lines(
          "Loss",
          {series_of("training batches", records, "train_loss"), series_of("validation share", records, "val_loss"),
           series_of("test split", records, "test_loss")},
          {"mean cross-entropy"});
      !spec.is_null()) {
    html += page.chart("loss", spec,
                       "Training loss (augmented batches, label smoothing and auxiliary head "
                       "included) and test loss, per epoch.");
  }
  LineOptions accuracy{"accuracy"};
  accuracy.percent = true;
  if (auto spec = charts::lines(
          "Accuracy",
          {series_of("training batches", records, "train_acc"), series_of("validation share", records, "val_acc"),
           series_of("test split", records, "test_acc")},
          accuracy);
      !spec.is_null()) {
    html += page.chart("accuracy", spec, "Top-1 accuracy per epoch (the test split every eval_every epochs).");
  }
  if (auto spec = charts::lines(
          "Learning rate and drop-path",
          {series_of("learning rate", records, "lr"), series_of("drop-path probability", records, "drop_path_prob")},
          {"value"});
      !spec.is_null()) {
    html += page.chart("lr", spec, "Cosine learning rate and the linearly growing drop-path probability.");
  }
  return html + "</div>\n";
}

std::string evaluation(const RunView& view, Page& page) {
  const auto& evaluation = view.run->evaluation;
  if (!evaluation.is_object()) return "<p class=\"missing\">No evaluation.json: per-class results not shown.</p>\n";
  const auto classes = class_names(view);
  std::string html = "<div class=\"charts\">\n";
  if (auto spec = charts::per_class_bars(evaluation, classes); !spec.is_null()) {
    html += page.chart("per-class", spec, "Accuracy on the test images of each class; dashed: overall top-1.");
  }
  if (auto spec = charts::confusion_heatmap(evaluation, classes); !spec.is_null()) {
    html += page.chart("confusion", spec,
                       "Counts of test images by true and predicted class; colour: the share of "
                       "the true class.");
  }
  return html + "</div>\n";
}

/// The sub-policies of a searched policy file the run trained with.
std::string searched_policy_table(const RunView& view) {
  const std::string& spec = view.run->train->policy;
  std::string path;
  if (fs::is_directory(spec)) path = (fs::path(spec) / "policy.json").string();
  if (spec.rfind("file:", 0) == 0) path = spec.substr(5);
  if (path.empty() || !fs::exists(path)) return {};
  try {
    const auto policy = augment::read_policy_file(path);
    std::string html = fmt::format("<p>The {} sub-policies of <code>{}</code> (op, P applied, level):</p>\n<table>",
                                   policy.size(), escape_html(path));
    int rank = 0;
    for (const auto& sub : policy) {
      html += fmt::format("<tr><td class=\"num\">{}</td>", ++rank);
      for (const auto& op : sub) {
        html += fmt::format("<td>{} ({:.3g}, {:.2g})</td>", augment::op_name(op.op), op.probability, op.level);
      }
      html += "</tr>\n";
      if (rank == 10 && policy.size() > 10) {
        html += fmt::format("<tr><td colspan=\"3\">… and {} more</td></tr>\n", policy.size() - 10);
        break;
      }
    }
    return html + "</table>\n";
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

std::string train_sections(RunView& view, Page& page, const ReportOptions& options) {
  const RunFolder& run = *view.run;
  const std::string curves_html = guarded(view, "curves", [&] { return curves(view, page); });
  const std::string evaluation_html = guarded(view, "evaluation", [&] { return evaluation(view, page); });
  std::string architecture_html;
  if (run.genotype) {
    architecture_html = "<p>The genotype this run trained:</p>\n" + cells_html(view, *run.genotype);
  } else {
    architecture_html = "<p class=\"missing\">No genotype.txt.</p>\n";
  }
  std::string policy_html;
  if (run.train) {
    policy_html = guarded(view, "policy", [&] { return searched_policy_table(view) + preview_html(view, options); });
  }
  return run_page(
      view, [&] { return findings(view); }, [&] { return summary(view); },
      {{"Curves", curves_html},
       {"Test evaluation", evaluation_html},
       {"Architecture", architecture_html},
       {"Augmentation policy", policy_html}});
}

}  // namespace daas::report
