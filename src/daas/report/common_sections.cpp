// Parts of a run's section that search and train reports share.
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>

#include "daas/augment/policy.h"
#include "daas/augment/preview.h"
#include "daas/data/image_io.h"
#include "daas/nas/network.h"
#include "daas/report/cell_graph.h"
#include "daas/train/model.h"
#include "daas/train/train.h"
#include "sections.h"

namespace fs = std::filesystem;

namespace daas::report {
namespace {

std::string first_line(const std::exception& e) {
  std::string text = e.what();
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

/// The data options of the run's settings.
const data::DataOptions* data_options(const RunFolder& run) {
  if (run.search) return &*run.search;
  if (run.train && run.kind == "train") return &*run.train;
  return nullptr;
}

int64_t seed_of(const RunFolder& run) {
  if (run.search) return run.search->seed;
  if (run.train) return run.train->seed;
  return 0;
}

/// The augmentation the preview shows and its description, or nothing.
std::optional<std::pair<augment::Augmentation, std::string>> preview_policy(RunView& view, const data::Dataset& train) {
  const RunFolder& run = *view.run;
  const auto options = augment::default_policy_options(train);
  std::shared_ptr<const augment::Policy> policy;
  std::string what;
  if (run.kind == "search") {
    if (!run.search) return std::nullopt;
    if (run.search->mode == "arch") {
      policy = augment::make_policy(run.search->fixed_policy, options);
      what = fmt::format("the fixed policy <code>{}</code> (arch mode)", escape_html(run.search->fixed_policy));
    } else {
      if (!fs::exists(fs::path(run.dir) / "policy.json")) {
        view.notes.push_back("policy.json: missing (written after the first epoch); no preview grid");
        return std::nullopt;
      }
      policy = train::resolve_policy(run.dir, "sub-policies", options);
      what =
          "the searched policy as <code>daas train --policy RUN</code> applies it (a uniform choice among the "
          "exported sub-policies per image, each op with its probability and most likely level)";
    }
  } else {
    if (!run.train) return std::nullopt;
    const auto& t = *run.train;
    if (t.policy == "none") return std::nullopt;
    policy = train::resolve_policy(t.policy, t.policy_sampling, options);
    what = fmt::format("the policy this run trained with, <code>{}</code> ({}), without the base transforms and Cutout",
                       escape_html(t.policy), escape_html(t.policy_sampling));
  }
  augment::Augmentation augmentation = [policy](const torch::Tensor& images, at::Generator& g) {
    return policy->apply(images, g);
  };
  return std::make_pair(augmentation, what);
}

}  // namespace

void load_view_data(RunView& view) {
  const data::DataOptions* options = data_options(*view.run);
  if (options == nullptr) return;
  view.data_tried = true;
  try {
    view.data = data::load_data(*options, static_cast<uint64_t>(seed_of(*view.run)));
  } catch (const std::exception& e) {
    view.notes.push_back(fmt::format("data set '{}' cannot be read here ({}); no preview grid or network size",
                                     options->data, first_line(e)));
  }
}

std::string key_value_table(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string html = "<table class=\"summary\">\n";
  for (const auto& [key, value] : rows)
    html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", escape_html(key), value);
  return html + "</table>\n";
}

std::string settings_html(const RunFolder& run) {
  std::string html;
  if (run.changes) {
    if (run.changes->empty()) {
      html += fmt::format("<p>Every setting is the profile's (<code>{}</code>).</p>\n", escape_html(run.profile));
    } else {
      html += fmt::format("<table class=\"changes\"><tr><th>setting</th><th>this run</th><th>profile {}</th></tr>\n",
                          escape_html(run.profile));
      for (const auto& change : *run.changes) {
        html += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n", escape_html(change.key),
                            escape_html(change.value), escape_html(change.profile_value));
      }
      html += "</table>\n";
    }
  }
  html += "<details><summary>All settings (config.yaml)</summary><table>\n";
  for (const auto& [key, value] : run.settings) {
    html += fmt::format("<tr><td><code>{}</code></td><td>{}</td></tr>\n", escape_html(key), escape_html(value));
  }
  return html + "</table></details>\n";
}

std::string network_size_html(const RunView& view, int64_t C, int64_t layers, bool auxiliary,
                              const std::string& network, const std::string& where) {
  const RunFolder& run = *view.run;
  if (!run.genotype || !view.data) return "<span class=\"missing\">unknown (no genotype or data set)</span>";
  const data::Dataset& train = view.data->train;
  try {
    const auto kind = network == "auto" || network.empty() ? train::network_kind_for(train.height(), train.width())
                                                           : train::parse_network_kind(network);
    const auto options = nas::NetworkOptions(C, layers, *run.genotype)
                             .num_classes(train.num_classes())
                             .in_channels(train.channels())
                             .auxiliary(auxiliary);
    torch::NoGradGuard no_grad;
    nas::ModelSize size;
    if (kind == train::NetworkKind::kImageNet) {
      nas::NetworkImageNet net(options);
      size = nas::measure(*net, train.height());
    } else {
      nas::NetworkCIFAR net(options);
      size = nas::measure(*net, train.height());
    }
    const int64_t parameters = size.parameters - size.auxiliary_parameters;
    return fmt::format(
        "{} parameters ({:.2f}M{}), {:.1f}M multiply-adds per image; {} at C {}, {} cells, input "
        "{}×{}×{}, {} classes ({})",
        grouped(parameters), static_cast<double>(parameters) / 1e6,
        size.auxiliary_parameters > 0
            ? fmt::format(", {} more in the auxiliary head", grouped(size.auxiliary_parameters))
            : "",
        static_cast<double>(size.macs) / 1e6, train::network_kind_name(kind), C, layers, train.channels(),
        train.height(), train.width(), train.num_classes(), where);
  } catch (const std::exception& e) {
    return fmt::format("<span class=\"missing\">not measured: {}</span>", escape_html(first_line(e)));
  }
}

std::string cells_html(RunView& view, const nas::Genotype& genotype) {
  std::string html =
      fmt::format("<p><code>{}</code></p>\n<div class=\"cells\">\n", escape_html(genotype.to_darts_string()));
  const std::pair<const char*, const std::vector<nas::GenotypeEdge>*> cells[] = {{"normal", &genotype.normal},
                                                                                 {"reduce", &genotype.reduce}};
  bool noted = false;
  for (const auto& [name, edges] : cells) {
    const auto& concat = std::string(name) == "normal" ? genotype.normal_concat : genotype.reduce_concat;
    const std::string title = std::string(name) == "normal" ? "normal cell" : "reduction cell";
    const std::string dot = cell_dot(*edges, concat, title);
    html += fmt::format("<figure class=\"cell\" data-cell=\"{}\">", name);
    try {
      html += render_svg(dot);
      ++view.cell_graphs;
    } catch (const std::exception& e) {
      if (!noted) view.notes.push_back(fmt::format("cells not drawn: {}; their dot source is shown", first_line(e)));
      noted = true;
      html += "<pre>" + escape_html(dot) + "</pre>";
    }
    html += fmt::format(
        "<figcaption>{}: each node sums its two kept inputs, the edge label names the op; "
        "c_{{k}} concatenates nodes {}.</figcaption></figure>\n",
        title, fmt::join(concat, ", "));
  }
  return html + "</div>\n";
}

std::string preview_html(RunView& view, const ReportOptions& options) {
  if (!view.data && view.data_tried) return "<p class=\"missing\">No preview: the data set cannot be read here.</p>\n";
  if (!view.data) {
    view.notes.push_back("policy.json: missing (written after the first epoch); no preview grid");
    return "<p class=\"missing\">No preview yet: the policy is written after the first epoch.</p>\n";
  }
  const data::Dataset& train = view.data->train;
  try {
    const auto chosen = preview_policy(view, train);
    if (!chosen) {
      return view.run->kind == "train" ? "<p>No policy (<code>none</code>): the retraining applied only the base "
                                         "transforms and Cutout.</p>\n"
                                       : "";
    }
    // The first image of each of the first classes.
    std::vector<int64_t> rows;
    std::vector<std::string> names;
    const auto labels = train.labels.to(torch::kCPU, torch::kLong).contiguous();
    const int64_t* label = labels.data_ptr<int64_t>();
    for (int64_t c = 0; c < train.num_classes() && static_cast<int64_t>(rows.size()) < options.preview_images; ++c) {
      for (int64_t i = 0; i < train.size(); ++i) {
        if (label[i] == c) {
          rows.push_back(i);
          names.push_back(train.classes[static_cast<size_t>(c)]);
          break;
        }
      }
    }
    if (rows.empty()) return "<p class=\"missing\">No preview: the training split is empty.</p>\n";
    const auto images = train.images.index_select(0, torch::tensor(rows, torch::kLong));
    auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_of(*view.run)));
    const auto grid = augment::preview_grid(images, options.preview_samples, chosen->first, generator);
    const std::string png = data::encode_png(grid, "preview grid");
    const int64_t scale = std::max<int64_t>(1, std::min<int64_t>(4, 640 / grid.size(2)));
    return fmt::format(
        "<figure class=\"preview-grid\"><img class=\"preview\" alt=\"policy preview\" width=\"{}\" height=\"{}\" "
        "src=\"data:image/png;base64,{}\"><figcaption>Rows: the first training image of each class ({}). First "
        "column: the image; then {} independent draws of {}.</figcaption></figure>\n",
        grid.size(2) * scale, grid.size(1) * scale, base64(png), escape_html(fmt::format("{}", fmt::join(names, ", "))),
        options.preview_samples, chosen->second);
  } catch (const std::exception& e) {
    view.notes.push_back(fmt::format("no preview grid: {}", first_line(e)));
    return {};
  }
}

std::string files_html(const RunView& view) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(view.run->dir, ec)) {
    if (entry.is_regular_file(ec)) entries.push_back(entry);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  std::string html = "<ul class=\"files\">\n";
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    const auto size = entry.file_size(ec);
    html += fmt::format("<li><a href=\"{}\">{}</a> ({})</li>\n", escape_html((fs::path(view.link) / name).string()),
                        escape_html(name),
                        size >= (uintmax_t{1} << 20) ? fmt::format("{:.1f} MiB", size / 1048576.0)
                                                     : fmt::format("{:.1f} KiB", size / 1024.0));
  }
  return html + "</ul>\n";
}

std::string notes_html(const std::vector<std::string>& notes) {
  if (notes.empty()) return {};
  std::string html = "<div class=\"notes\"><strong>What this report cannot show:</strong><ul>\n";
  for (const auto& note : notes) html += "<li>" + escape_html(note) + "</li>\n";
  return html + "</ul></div>\n";
}

std::string guarded(RunView& view, const std::string& what, const std::function<std::string()>& part) {
  try {
    return part();
  } catch (const std::exception& e) {
    view.notes.push_back(fmt::format("the {} part could not be built: {}", what, first_line(e)));
    return fmt::format("<p class=\"missing\">Not shown: {}.</p>\n", escape_html(first_line(e)));
  }
}

std::string run_page(RunView& view, const std::function<std::vector<std::string>()>& findings,
                     const std::function<std::string()>& summary,
                     const std::vector<std::pair<std::string, std::string>>& sections) {
  std::string html;
  std::vector<std::string> found;
  guarded(view, "findings", [&] {
    found = findings();
    return std::string();
  });
  if (!found.empty()) {
    html += "<ul class=\"findings\">\n";
    for (const auto& line : found) html += "<li>" + line + "</li>\n";
    html += "</ul>\n";
  }
  const std::string summary_html = guarded(view, "summary", summary);
  html += notes_html(view.notes);
  html += "<h2>Summary</h2>\n" + summary_html;
  for (const auto& [heading, body] : sections) html += "<h2>" + heading + "</h2>\n" + body;
  html += "<h2>Files</h2>\n" + files_html(view);
  return html;
}

double wall_seconds(const Records& metrics) {
  double total = 0;
  for (const auto& record : metrics.lines) total += number(record, "seconds").value_or(0.0);
  return total;
}

std::string run_sections(RunView& view, Page& page, const ReportOptions& options) {
  // The data set is read for the preview grid and the network size; a search
  // that has neither a policy nor a genotype yet needs neither.
  const RunFolder& run = *view.run;
  const bool search_has_something =
      run.genotype || fs::exists(fs::path(run.dir) / "policy.json") || (run.search && run.search->mode == "arch");
  if (run.kind == "train" || search_has_something) load_view_data(view);
  return view.run->kind == "search" ? search_sections(view, page, options) : train_sections(view, page, options);
}

}  // namespace daas::report
