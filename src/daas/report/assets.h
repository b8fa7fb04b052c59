#pragma once
// The browser libraries a report inlines: Vega, Vega-Lite and vega-embed,
// minified, as the npm packages pinned in src/daas/report/web ship them.
// The build fetches them with `npm ci` and compiles them into the program
// (cmake/report_assets.cmake), so a report needs neither the network nor
// any file besides itself.
namespace daas::report::assets {

extern const char kVega[];
extern const char kVegaLite[];
extern const char kVegaEmbed[];
/// "vega 6.4.0, vega-lite 6.4.1, vega-embed 7.3.0"
extern const char kVersions[];

}  // namespace daas::report::assets
