#pragma once
// The pieces of a report page: HTML text, inline images, and the charts,
// each a Vega-Lite spec rendered in the browser by the Vega libraries that
// the page carries inline (src/daas/report/assets.h), so the file needs no
// network.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace daas::report {

/// Text made safe inside HTML elements and attribute values.
std::string escape_html(const std::string& text);

/// Standard base64 (RFC 4648), for data: URLs.
std::string base64(const std::string& bytes);

/// A number as a percentage with one decimal ("81.2%").
std::string percent(double fraction);

/// Seconds as "4 min 51 s", "1 h 02 min" or "12.3 s".
std::string duration(double seconds);

/// A count with thousands separators ("3,349,342").
std::string grouped(int64_t n);

/// Collects the charts of a page and writes the page.
class Page {
 public:
  /// A placeholder for a chart (kind `name`, one of the names tests look
  /// for: "loss", "accuracy", ...) with its caption; the spec is rendered
  /// into it when the page loads.
  std::string chart(const std::string& name, nlohmann::json spec, const std::string& caption);
  int64_t charts() const { return count_; }

  /// The whole document: `title`, the inline style and libraries, `body`,
  /// and the script that renders every chart. When all charts are drawn it
  /// sets data-charts-rendered on <body> (the count of drawn charts) and,
  /// on any failure, data-chart-errors with the messages.
  std::string document(const std::string& title, const std::string& body) const;

  /// How every report file begins; an existing --out that does not is not overwritten.
  static constexpr const char* kSignature = "<!DOCTYPE html>\n<!-- daas report -->\n";

 private:
  nlohmann::json specs_ = nlohmann::json::object();
  int64_t count_ = 0;
};

}  // namespace daas::report
