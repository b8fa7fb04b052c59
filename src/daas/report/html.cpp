#include "daas/report/html.h"

#include <fmt/format.h>

#include <cmath>

#include "assets.h"

namespace daas::report {
namespace {

constexpr const char* kStyle = R"css(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 14px; color: #222; margin: 0 auto;
       max-width: 1180px; padding: 16px 24px 48px; line-height: 1.45; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid #d4d4d4; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 28px; }
figure { margin: 6px 0 12px; }
figcaption { color: #555; font-size: 12px; max-width: 560px; }
.cells { display: flex; flex-wrap: wrap; gap: 12px 40px; align-items: flex-start; }
.cell svg { width: 540px; height: auto; }
.findings li { margin: 2px 0; }
.notes { background: #fff7e0; border: 1px solid #f0d890; padding: 6px 12px 6px 28px; }
.preview { image-rendering: pixelated; border: 1px solid #ccc; }
.missing { color: #8a5a00; }
)css";

// Renders every chart of the page; see Page::document.
constexpr const char* kBootstrap = R"js(
(function () {
  var body = document.body;
  var errors = [];
  function note(message) {
    errors.push(String(message));
    body.setAttribute('data-chart-errors', errors.join(' | '));
  }
  window.addEventListener('error', function (event) { note(event.message); });
  var specs = JSON.parse(document.getElementById('daas-specs').textContent);
  var ids = Object.keys(specs).filter(function (id) { return document.getElementById(id) !== null; });
  var jobs = ids.map(function (id) {
    return vegaEmbed('#' + id, specs[id], {mode: 'vega-lite', renderer: 'svg', actions: false})
        .catch(function (error) { note(id + ': ' + error); console.error(id, error); });
  });
  Promise.all(jobs).then(function () {
    var drawn = 0;
    ids.forEach(function (id) {
      if (document.querySelector('#' + id + ' svg')) drawn += 1;
    });
    body.setAttribute('data-charts-rendered', String(drawn));
  });
})();
)js";

}  // namespace

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string percent(double fraction) { return fmt::format("{:.1f}%", 100 * fraction); }

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto s = static_cast<int64_t>(std::lround(seconds));
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
}

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  for (int64_t i = static_cast<int64_t>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return n < 0 ? "-" + digits : digits;
}

std::string Page::chart(const std::string& name, nlohmann::json spec, const std::string& caption) {
  const std::string id = fmt::format("chart-{}", ++count_);
  specs_[id] = std::move(spec);
  return fmt::format(
      "<figure><div class=\"chart\" id=\"{}\" data-chart=\"{}\"></div><figcaption>{}</figcaption></figure>\n", id,
      escape_html(name), caption);
}

std::string Page::document(const std::string& title, const std::string& body) const {
  // Inside <script>, "</" would end the element early; "<\/" is the same JSON string.
  std::string specs = specs_.dump();
  for (size_t at = specs.find("</"); at != std::string::npos; at = specs.find("</", at + 3))
    specs.replace(at, 2, "<\\/");
  std::string out = kSignature;
  out += "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"generator\" content=\"daas report; plots by " + escape_html(assets::kVersions) + "\">\n";
  out += "<title>" + escape_html(title) + "</title>\n<style>" + kStyle + "</style>\n";
  out += "<script>\n";
  out += assets::kVega;
  out += "\n</script>\n<script>\n";
  out += assets::kVegaLite;
  out += "\n</script>\n<script>\n";
  out += assets::kVegaEmbed;
  out += "\n</script>\n</head>\n<body>\n";
  out += body;
  out += "<script type=\"application/json\" id=\"daas-specs\">" + specs + "</script>\n";
  out += "<script>" + std::string(kBootstrap) + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace daas::report
