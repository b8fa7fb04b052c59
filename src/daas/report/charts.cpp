#include "charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "daas/report/run.h"

namespace daas::report::charts {
namespace {

using json = nlohmann::json;

/// Most epochs a heat map shows as columns; longer runs are thinned evenly (the last epoch always kept).
constexpr size_t kMaxHeatmapEpochs = 60;

json tooltip(std::initializer_list<std::pair<const char*, const char*>> fields) {
  json out = json::array();
  for (const auto& [field, format] : fields) {
    json entry = {{"field", field}};
    if (format != nullptr) entry["format"] = format;
    out.push_back(entry);
  }
  return out;
}

/// A numeric row of `length` numbers, or nothing.
std::optional<std::vector<double>> numeric_row(const json& row, size_t length) {
  if (!row.is_array() || row.size() != length) return std::nullopt;
  std::vector<double> out;
  for (const auto& v : row) {
    if (!v.is_number()) return std::nullopt;
    out.push_back(v.get<double>());
  }
  return out;
}

std::vector<std::string> string_list(const json& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& v : value) {
    if (!v.is_string()) return {};
    out.push_back(v.get<std::string>());
  }
  return out;
}

/// The records to show as heat map columns: all of them, or an even thinning.
std::vector<const json*> thinned(const std::vector<json>& records) {
  std::vector<const json*> out;
  const size_t n = records.size();
  if (n <= kMaxHeatmapEpochs) {
    for (const auto& r : records) out.push_back(&r);
    return out;
  }
  for (size_t i = 0; i < kMaxHeatmapEpochs; ++i) out.push_back(&records[(n - 1) * i / (kMaxHeatmapEpochs - 1)]);
  return out;
}

std::string level_label(double level) { return fmt::format("{:.2g}", level); }

/// A diverging colour scale whose middle is the uniform value: what a
/// uniform distribution gives stays pale, what gains weight turns orange,
/// what loses it blue. It spans the values seen, and at least ±25% of the
/// uniform value, so that noise around it is not stretched over the whole
/// scale (a search that has not moved stays pale).
json centred_scale(double uniform, const json& values, const char* field) {
  double span = 0.25 * uniform;
  for (const auto& v : values) span = std::max(span, std::abs(v.at(field).get<double>() - uniform));
  return {
      {"scheme", "blueorange"}, {"domain", {std::max(0.0, uniform - span), uniform + span}}, {"domainMid", uniform}};
}

}  // namespace

Series series_of(const std::string& name, const std::vector<json>& records, const std::string& key,
                 const std::string& sub) {
  Series series{name, {}};
  for (const auto& record : records) {
    const auto epoch = whole_number(record, "epoch");
    if (!epoch) continue;
    std::optional<double> value;
    if (sub.empty()) {
      value = number(record, key);
    } else if (record.contains(key)) {
      value = number(record.at(key), sub);
    }
    if (value) series.points.emplace_back(static_cast<double>(*epoch), *value);
  }
  return series;
}

json lines(const std::string& title, const std::vector<Series>& series, const LineOptions& options) {
  json values = json::array();
  std::vector<std::string> names;
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    names.push_back(s.name);
    for (const auto& [x, y] : s.points) values.push_back({{"epoch", x}, {"series", s.name}, {"value", y}});
  }
  if (values.empty()) return nullptr;
  json y = {{"field", "value"}, {"type", "quantitative"}, {"title", options.y_title}, {"scale", {{"zero", false}}}};
  // "%" without a precision: the axis takes as many decimals as its ticks need.
  if (options.percent) y["axis"] = {{"format", "%"}};
  if (options.log_scale) y["scale"] = {{"type", "log"}};
  json encoding = {
      {"x",
       {{"field", "epoch"},
        {"type", "quantitative"},
        {"title", options.x_title},
        {"axis", {{"tickMinStep", 1}, {"format", "d"}}}}},
      {"y", y},
      {"tooltip", tooltip({{"series", nullptr}, {"epoch", nullptr}, {"value", options.percent ? ".2%" : ".4g"}})}};
  encoding["color"] = {{"field", "series"}, {"type", "nominal"}, {"title", nullptr}, {"sort", names}};
  if (names.size() == 1) encoding["color"]["legend"] = nullptr;
  json layers = json::array({{{"mark", {{"type", "line"}, {"point", true}}}, {"encoding", encoding}}});
  if (options.reference) {
    layers.push_back({{"data", {{"values", json::array({{{"reference", *options.reference}}})}}},
                      {"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"color", "#888"}}},
                      {"encoding", {{"y", {{"field", "reference"}, {"type", "quantitative"}}}}}});
  }
  return {{"title", title}, {"width", 360}, {"height", 200}, {"data", {{"values", values}}}, {"layer", layers}};
}

json alpha_heatmap(const std::vector<json>& records, const std::string& cell,
                   const std::vector<std::string>& edge_names) {
  json values = json::array();
  std::vector<std::string> ops;
  for (const json* record : thinned(records)) {
    const auto epoch = whole_number(*record, "epoch");
    const auto names = string_list(record->value("ops", json()));
    if (!epoch || names.empty() || !record->contains(cell) || !record->at(cell).is_array()) continue;
    const auto& rows = record->at(cell);
    if (rows.size() != edge_names.size()) continue;
    ops = names;
    for (size_t e = 0; e < rows.size(); ++e) {
      const auto row = numeric_row(rows[e], names.size());
      if (!row) continue;
      for (size_t k = 0; k < names.size(); ++k) {
        values.push_back(
            {{"epoch", *epoch}, {"edge", edge_names[e]}, {"edge_index", e}, {"op", names[k]}, {"p", (*row)[k]}});
      }
    }
  }
  if (values.empty()) return nullptr;
  json edge_order = json::array();
  for (const auto& name : edge_names) edge_order.push_back(name);
  return {{"title", fmt::format("α of the {} cell: softmax over the ops of each edge, by epoch", cell)},
          {"data", {{"values", values}}},
          {"columns", 7},
          {"facet",
           {{"field", "edge"},
            {"type", "nominal"},
            {"sort", edge_order},
            {"title", nullptr},
            {"header", {{"labelFontSize", 11}, {"labelPadding", 2}}}}},
          {"spec",
           {{"width", 80},
            {"height", 80},
            {"mark", "rect"},
            {"encoding",
             {{"x",
               {{"field", "epoch"},
                {"type", "ordinal"},
                {"title", "epoch"},
                {"axis", {{"labelAngle", 0}, {"labelOverlap", true}}}}},
              {"y", {{"field", "op"}, {"type", "nominal"}, {"sort", ops}, {"title", nullptr}}},
              {"color",
               {{"field", "p"},
                {"type", "quantitative"},
                {"title", "softmax α"},
                {"scale", centred_scale(1.0 / static_cast<double>(ops.size()), values, "p")}}},
              {"tooltip", tooltip({{"edge", nullptr}, {"op", nullptr}, {"epoch", nullptr}, {"p", ".4f"}})}}}}},
          {"spacing", 8}};
}

json op_pair_heatmap(const json& record) {
  const auto ops = string_list(record.value("ops", json()));
  const size_t n = ops.size();
  if (n < 2 || !record.contains("sub_policy_probability")) return nullptr;
  const auto p = numeric_row(record.at("sub_policy_probability"), n * (n - 1) / 2);
  if (!p) return nullptr;
  json values = json::array();
  size_t s = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j, ++s) {
      values.push_back({{"first", ops[i]}, {"second", ops[j]}, {"p", (*p)[s]}});
      values.push_back({{"first", ops[j]}, {"second", ops[i]}, {"p", (*p)[s]}});
    }
  }
  return {
      {"title", "Sub-policy selection probability (op × op)"},
      {"width", {{"step", 20}}},
      {"height", {{"step", 20}}},
      {"data", {{"values", values}}},
      {"mark", "rect"},
      {"encoding",
       {{"x",
         {{"field", "first"}, {"type", "nominal"}, {"sort", ops}, {"title", nullptr}, {"axis", {{"labelAngle", -45}}}}},
        {"y", {{"field", "second"}, {"type", "nominal"}, {"sort", ops}, {"title", nullptr}}},
        {"color",
         {{"field", "p"},
          {"type", "quantitative"},
          {"title", "P(selected)"},
          {"scale", centred_scale(1.0 / static_cast<double>(p->size()), values, "p")}}},
        {"tooltip", tooltip({{"first", nullptr}, {"second", nullptr}, {"p", ".3%"}})}}}};
}

json application_lines(const std::vector<json>& records) {
  std::vector<Series> series;
  std::vector<std::string> ops;
  for (const auto& record : records) {
    const auto names = string_list(record.value("ops", json()));
    const auto epoch = whole_number(record, "epoch");
    if (names.empty() || !epoch || !record.contains("application")) continue;
    const auto p = numeric_row(record.at("application"), names.size());
    if (!p) continue;
    if (ops.empty()) {
      ops = names;
      for (const auto& name : names) series.push_back({name, {}});
    }
    if (names != ops) continue;
    for (size_t k = 0; k < names.size(); ++k) series[k].points.emplace_back(static_cast<double>(*epoch), (*p)[k]);
  }
  if (ops.empty()) return nullptr;
  LineOptions options;
  options.y_title = "P(op applied to an image)";
  options.percent = true;
  options.reference = 1.0 / static_cast<double>(ops.size());
  auto spec = lines("How often each op is applied, by epoch", series, options);
  if (!spec.is_null()) {
    spec["height"] = 260;
    spec["layer"][0]["encoding"]["color"]["scale"] = {{"scheme", "category20"}};
  }
  return spec;
}

json level_heatmap(const json& record) {
  const auto ops = string_list(record.value("ops", json()));
  const auto levels = whole_number(record, "levels");
  if (ops.empty() || !levels || *levels < 2 || !record.contains("level_distribution")) return nullptr;
  const auto& rows = record.at("level_distribution");
  if (!rows.is_array() || rows.size() != ops.size()) return nullptr;
  const auto m = static_cast<size_t>(*levels);
  // The level labels are made only when some row has that many numbers, so a
  // damaged "levels" (10^15) cannot make a loop of that length.
  if (std::none_of(rows.begin(), rows.end(), [&](const json& row) { return row.is_array() && row.size() == m; })) {
    return nullptr;
  }
  json values = json::array();
  json level_order = json::array();
  for (size_t l = 0; l < m; ++l)
    level_order.push_back(level_label(static_cast<double>(l) / static_cast<double>(m - 1)));
  for (size_t k = 0; k < ops.size(); ++k) {
    const auto row = numeric_row(rows[k], m);
    if (!row) continue;
    for (size_t l = 0; l < m; ++l) {
      values.push_back({{"op", ops[k]}, {"level", level_order[l]}, {"p", (*row)[l]}});
    }
  }
  if (values.empty()) return nullptr;
  return {{"title", "Magnitude level when the op is applied"},
          {"width", {{"step", 24}}},
          {"height", {{"step", 18}}},
          {"data", {{"values", values}}},
          {"mark", "rect"},
          {"encoding",
           {{"x",
             {{"field", "level"},
              {"type", "ordinal"},
              {"sort", level_order},
              {"title", "level (0 = weakest, 1 = strongest)"},
              {"axis", {{"labelAngle", 0}}}}},
            {"y", {{"field", "op"}, {"type", "nominal"}, {"sort", ops}, {"title", nullptr}}},
            {"color",
             {{"field", "p"},
              {"type", "quantitative"},
              {"title", "P(level | applied)"},
              {"scale", centred_scale(1.0 / static_cast<double>(m), values, "p")}}},
            {"tooltip", tooltip({{"op", nullptr}, {"level", nullptr}, {"p", ".3%"}})}}}};
}

json per_class_bars(const json& evaluation, const std::vector<std::string>& classes) {
  if (!evaluation.is_object() || !evaluation.contains("per_class") || !evaluation.at("per_class").is_object()) {
    return nullptr;
  }
  const auto& per_class = evaluation.at("per_class");
  json values = json::array();
  for (const auto& name : classes) {
    const auto accuracy = number(per_class, name);
    if (accuracy) values.push_back({{"class", name}, {"accuracy", *accuracy}});
  }
  if (values.empty()) return nullptr;
  json layers = json::array({{{"mark", "bar"},
                              {"encoding",
                               {{"x",
                                 {{"field", "accuracy"},
                                  {"type", "quantitative"},
                                  {"title", "test accuracy"},
                                  {"axis", {{"format", "%"}}},
                                  {"scale", {{"domain", {0, 1}}}}}},
                                {"y", {{"field", "class"}, {"type", "nominal"}, {"sort", classes}, {"title", nullptr}}},
                                {"tooltip", tooltip({{"class", nullptr}, {"accuracy", ".2%"}})}}}}});
  if (const auto top1 = number(evaluation, "top1")) {
    layers.push_back({{"data", {{"values", json::array({{{"top1", *top1}}})}}},
                      {"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"color", "#c33"}}},
                      {"encoding", {{"x", {{"field", "top1"}, {"type", "quantitative"}}}}}});
  }
  return {{"title", "Test accuracy per class"},
          {"width", 360},
          {"height", {{"step", 18}}},
          {"data", {{"values", values}}},
          {"layer", layers}};
}

json confusion_heatmap(const json& evaluation, const std::vector<std::string>& classes) {
  if (!evaluation.is_object() || !evaluation.contains("confusion") || classes.empty()) return nullptr;
  const auto& matrix = evaluation.at("confusion");
  if (!matrix.is_array() || matrix.size() != classes.size()) return nullptr;
  json values = json::array();
  for (size_t t = 0; t < classes.size(); ++t) {
    const auto row = numeric_row(matrix[t], classes.size());
    if (!row) return nullptr;
    double total = 0;
    for (double v : *row) total += v;
    for (size_t p = 0; p < classes.size(); ++p) {
      const double fraction = total > 0 ? (*row)[p] / total : 0.0;
      values.push_back({{"true", classes[t]}, {"predicted", classes[p]}, {"count", (*row)[p]}, {"fraction", fraction}});
    }
  }
  const double step = classes.size() > 20 ? 10 : 34;
  json layers = json::array(
      {{{"mark", "rect"},
        {"encoding",
         {{"color",
           {{"field", "fraction"},
            {"type", "quantitative"},
            {"title", "share of the true class"},
            {"scale", {{"scheme", "greens"}}}}},
          {"tooltip", tooltip({{"true", nullptr}, {"predicted", nullptr}, {"count", "d"}, {"fraction", ".1%"}})}}}}});
  if (classes.size() <= 20) {
    layers.push_back(
        {{"mark", {{"type", "text"}, {"fontSize", 10}}},
         {"encoding",
          {{"text", {{"field", "count"}, {"type", "quantitative"}, {"format", "d"}}},
           {"color", {{"condition", {{"test", "datum.fraction > 0.5"}, {"value", "white"}}}, {"value", "black"}}}}}});
  }
  return {{"title", "Confusion matrix (rows: true class, columns: predicted)"},
          {"width", {{"step", step}}},
          {"height", {{"step", step}}},
          {"data", {{"values", values}}},
          {"encoding",
           {{"x",
             {{"field", "predicted"},
              {"type", "nominal"},
              {"sort", classes},
              {"title", "predicted"},
              {"axis", {{"labelAngle", -45}}}}},
            {"y", {{"field", "true"}, {"type", "nominal"}, {"sort", classes}, {"title", "true"}}}}},
          {"layer", layers}};
}

json accuracy_error_bars(const std::vector<Outcome>& outcomes) {
  if (outcomes.empty()) return nullptr;
  // Mean and sample standard deviation per (group, measure), computed here:
  // a group of one run gets a bar of length 0 rather than an undefined one.
  struct Stats {
    std::string group, measure;
    std::vector<double> values;
  };
  std::vector<Stats> stats;
  json runs = json::array();
  json groups = json::array();
  for (const auto& o : outcomes) {
    runs.push_back({{"group", o.group}, {"measure", o.measure}, {"run", o.run}, {"accuracy", o.accuracy}});
    if (std::find(groups.begin(), groups.end(), o.group) == groups.end()) groups.push_back(o.group);
    auto found = std::find_if(stats.begin(), stats.end(),
                              [&](const Stats& s) { return s.group == o.group && s.measure == o.measure; });
    if (found == stats.end()) found = stats.insert(stats.end(), Stats{o.group, o.measure, {}});
    found->values.push_back(o.accuracy);
  }
  json summary = json::array();
  for (const auto& s : stats) {
    const double n = static_cast<double>(s.values.size());
    double mean = 0;
    for (double v : s.values) mean += v / n;
    double squares = 0;
    for (double v : s.values) squares += (v - mean) * (v - mean);
    const double sd = s.values.size() > 1 ? std::sqrt(squares / (n - 1)) : 0.0;
    summary.push_back({{"group", s.group},
                       {"measure", s.measure},
                       {"mean", mean},
                       {"sd", sd},
                       {"lower", mean - sd},
                       {"upper", mean + sd},
                       {"runs", s.values.size()}});
  }
  const json x = {{"field", "group"},
                  {"type", "nominal"},
                  {"sort", groups},
                  {"title", nullptr},
                  {"axis", {{"labelAngle", -20}, {"labelLimit", 260}}}};
  const json color = {{"field", "measure"}, {"type", "nominal"}, {"title", nullptr}, {"legend", {{"labelLimit", 320}}}};
  const json offset = {{"field", "measure"}, {"type", "nominal"}};
  const json y = {{"field", "mean"},
                  {"type", "quantitative"},
                  {"title", "final accuracy"},
                  {"scale", {{"zero", false}}},
                  {"axis", {{"format", "%"}}}};
  return {
      {"title", "Final accuracy: mean ± standard deviation over the runs of each group, every run a dot"},
      {"width", {{"step", 90}}},
      {"height", 240},
      {"layer",
       json::array(
           {{{"data", {{"values", summary}}},
             {"mark", {{"type", "errorbar"}, {"ticks", true}}},
             {"encoding",
              {{"x", x},
               {"xOffset", offset},
               {"color", color},
               {"y", {{"field", "lower"}, {"type", "quantitative"}, {"title", "final accuracy"}}},
               {"y2", {{"field", "upper"}}}}}},
            {{"data", {{"values", summary}}},
             {"mark", {{"type", "point"}, {"filled", true}, {"size", 70}}},
             {"encoding",
              {{"x", x},
               {"xOffset", offset},
               {"color", color},
               {"y", y},
               {"tooltip",
                tooltip(
                    {{"group", nullptr}, {"measure", nullptr}, {"mean", ".2%"}, {"sd", ".2%"}, {"runs", nullptr}})}}}},
            {{"data", {{"values", runs}}},
             {"mark", {{"type", "circle"}, {"opacity", 0.45}, {"size", 30}}},
             {"encoding",
              {{"x", x},
               {"xOffset", offset},
               {"color", color},
               {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "final accuracy"}}},
               {"tooltip", tooltip({{"run", nullptr}, {"measure", nullptr}, {"accuracy", ".2%"}})}}}}})}};
}

}  // namespace daas::report::charts
