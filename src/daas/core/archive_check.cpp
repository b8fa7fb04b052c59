#include "daas/core/archive_check.h"

#include <c10/core/ScalarType.h>
#include <caffe2/serialize/versions.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daas/core/error.h"

namespace daas::core {
namespace {

// Caps that keep every loop, recursion and allocation bounded.
constexpr size_t kMaxNesting = 64;            // containers inside containers; MARKs open at once
constexpr size_t kMaxDims = 64;               // dimensions of one tensor
constexpr uint64_t kMaxTextRecord = 1 << 20;  // one TorchScript or debug record, inflated
constexpr size_t kMaxNameLength = 1024;       // a record name
constexpr size_t kMaxGlobalName = 256;        // a pickle GLOBAL's module or class name
constexpr int kMaxTypeNesting = 8;            // Optional[List[...]] in a TorchScript declaration

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// A fuzzer cannot forge CRC-32s: fuzzing builds ignore a mismatch so that the
// mutations reach the checks behind it, as a deliberately forged file would.
constexpr bool kCheckCrc = false;
#else
constexpr bool kCheckCrc = true;
#endif

/// Every failure: the file, what is wrong and what was expected, on one line.
template <typename... Args>
[[noreturn]] void bad(const std::string& path, fmt::format_string<Args...> format, Args&&... args) {
  fail("{}: not a readable daas checkpoint (truncated or corrupt): {}", path,
       fmt::format(format, std::forward<Args>(args)...));
}

/// A short, printable rendering of bytes from the file for messages.
std::string shown(std::string_view text, size_t limit = 60) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > limit) out += "...";
  return out + "'";
}

bool is_digits(std::string_view s, size_t max_length) {
  return !s.empty() && s.size() <= max_length &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  const auto word = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (!word(s[i], i == 0)) return false;
  }
  return true;
}

/// Little-endian unsigned integer of `width` bytes; the caller has checked the bounds.
uint64_t le(std::string_view bytes, uint64_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

// ---------------------------------------------------------------------------
// The zip directory. LibTorch writes a zip64 archive of records under one
// folder; miniz (inside LibTorch) finds the end record, the directory, then
// each record through its local header. Everything is checked to lie inside
// the file and to agree, so that miniz and this check see the same records.

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kLocator64Sig = 0x07064b50;
constexpr uint64_t kEndSize = 22;
constexpr uint64_t kLocator64Size = 20;
constexpr uint64_t kEnd64Size = 56;
constexpr uint64_t kCentralSize = 46;
constexpr uint64_t kLocalSize = 30;
constexpr uint16_t kStored = 0;
constexpr uint16_t kDeflated = 8;
// General-purpose flags LibTorch's writer sets: sizes in a data descriptor
// (bit 3) and UTF-8 names (bit 11). Encryption and the rest are refused.
constexpr uint16_t kAllowedFlags = 0x0008 | 0x0800;

struct Record {
  std::string name;      // as in the archive: "archive/data.pkl"
  std::string relative;  // after the archive's folder: "data.pkl"
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0;
  uint64_t size = 0;
  uint64_t header = 0;  // local header offset
  uint64_t data = 0;    // first byte of the data
};

/// Which record names may appear (relative to the archive's folder): what
/// LibTorch's module writer produces, nothing it would read differently
/// (model.json selects a legacy reader, extra/ files are never loaded).
bool is_known_record(const std::string& name) {
  if (name == "version" || name == ".data/version" || name == "data.pkl" || name == "constants.pkl" ||
      name == "byteorder" || name == ".data/serialization_id") {
    return true;
  }
  for (const char* prefix : {"data/", "constants/"}) {
    const size_t n = std::strlen(prefix);
    if (name.compare(0, n, prefix) == 0) return is_digits(std::string_view(name).substr(n), 20);
  }
  std::string_view code = name;
  if (code.size() > 10 && code.substr(code.size() - 10) == ".debug_pkl") code.remove_suffix(10);
  if (code == "code/__torch__.py") return true;
  const std::string_view head = "code/__torch__/";
  if (code.size() <= head.size() + 3 || code.substr(0, head.size()) != head || code.substr(code.size() - 3) != ".py") {
    return false;
  }
  std::string_view path = code.substr(head.size(), code.size() - head.size() - 3);
  while (true) {
    const size_t slash = path.find('/');
    if (!is_identifier(path.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

bool is_text_record(const std::string& relative) { return relative.compare(0, 5, "code/") == 0; }

class ZipReader {
 public:
  ZipReader(std::string_view file, const std::string& path) : file_(file), path_(path) {}

  std::vector<Record> read() {
    find_directory();
    read_directory();
    check_layout();
    return std::move(records_);
  }

 private:
  void find_directory() {
    const uint64_t size = file_.size();
    if (size < kEndSize + kLocalSize) {
      bad(path_, "the file is {} bytes; expected a zip archive of at least {} bytes", size, kEndSize + kLocalSize);
    }
    const uint64_t end = size - kEndSize;
    if (le(file_, end, 4) != kEndSig) {
      bad(path_,
          "no zip end-of-directory record in the last {} bytes (found {}); expected the archive to end with one "
          "(the file is cut short or has bytes appended)",
          kEndSize, shown(file_.substr(end, 4)));
    }
    const uint64_t disk = le(file_, end + 4, 2);
    const uint64_t directory_disk = le(file_, end + 6, 2);
    const uint64_t entries_here = le(file_, end + 8, 2);
    uint64_t entries = le(file_, end + 10, 2);
    uint64_t directory_size = le(file_, end + 12, 4);
    uint64_t directory_offset = le(file_, end + 16, 4);
    const uint64_t comment = le(file_, end + 20, 2);
    if (comment != 0) bad(path_, "the zip end record has a {}-byte comment; expected none", comment);
    if (disk != 0 || directory_disk != 0) {
      bad(path_, "the zip end record names disk {} and {}; expected a single-disk archive (0)", disk, directory_disk);
    }
    directory_end_ = end;
    // LibTorch writes zip64 end records; miniz uses them whenever their
    // locator sits right before the end record, so the same is done here.
    const bool zip64 = end >= kLocator64Size + kEnd64Size && le(file_, end - kLocator64Size, 4) == kLocator64Sig;
    if (zip64) {
      const uint64_t locator = end - kLocator64Size;
      const uint64_t record = le(file_, locator + 8, 8);
      if (le(file_, locator + 4, 4) != 0 || le(file_, locator + 16, 4) != 1) {
        bad(path_, "the zip64 locator names disk {} of {}; expected disk 0 of 1", le(file_, locator + 4, 4),
            le(file_, locator + 16, 4));
      }
      if (record != locator - kEnd64Size) {
        bad(path_, "the zip64 end record is said to start at byte {}; expected byte {}, right before its locator",
            record, locator - kEnd64Size);
      }
      if (le(file_, record, 4) != kEnd64Sig || le(file_, record + 4, 8) != kEnd64Size - 12) {
        bad(path_, "no zip64 end record at byte {} (found {}); expected one of {} bytes", record,
            shown(file_.substr(record, 12)), kEnd64Size);
      }
      if (le(file_, record + 16, 4) != 0 || le(file_, record + 20, 4) != 0) {
        bad(path_, "the zip64 end record names another disk; expected a single-disk archive");
      }
      const uint64_t entries64_here = le(file_, record + 24, 8);
      const uint64_t entries64 = le(file_, record + 32, 8);
      const uint64_t size64 = le(file_, record + 40, 8);
      const uint64_t offset64 = le(file_, record + 48, 8);
      // The 32-bit fields either agree or are saturated (too big for them).
      const auto agrees = [](uint64_t small, uint64_t big, uint64_t saturated) {
        return small == big || small == saturated;
      };
      if (!agrees(entries_here, entries64_here, 0xffff) || !agrees(entries, entries64, 0xffff) ||
          !agrees(directory_size, size64, 0xffffffff) || !agrees(directory_offset, offset64, 0xffffffff) ||
          entries64_here != entries64) {
        bad(path_,
            "the zip end records disagree ({} entries, directory of {} bytes at byte {} against zip64's {} entries, "
            "{} bytes at byte {}); expected the same directory in both",
            entries, directory_size, directory_offset, entries64, size64, offset64);
      }
      entries = entries64;
      directory_size = size64;
      directory_offset = offset64;
      directory_end_ = record;
    } else if (entries == 0xffff || directory_size == 0xffffffff || directory_offset == 0xffffffff ||
               entries_here != entries) {
      bad(path_,
          "the zip end record holds saturated or inconsistent counts and there is no zip64 end record; "
          "expected one where the counts do not fit");
    }
    if (directory_offset > directory_end_ || directory_end_ - directory_offset != directory_size) {
      bad(path_,
          "the zip directory is said to take bytes {} to {} but the end records start at byte {}; expected the "
          "directory to end where they begin",
          directory_offset, directory_offset + directory_size, directory_end_);
    }
    if (entries == 0 || entries > directory_size / kCentralSize) {
      bad(path_, "the zip directory of {} bytes is said to hold {} records; expected 1 to {}", directory_size, entries,
          directory_size / kCentralSize);
    }
    directory_ = directory_offset;
    entries_ = entries;
  }

  void read_directory() {
    uint64_t at = directory_;
    std::set<std::string> folded;  // miniz looks names up ignoring case
    records_.reserve(entries_);
    for (uint64_t i = 0; i < entries_; ++i) {
      if (directory_end_ - at < kCentralSize || le(file_, at, 4) != kCentralSig) {
        bad(path_, "zip directory entry {} (byte {}) is not a directory entry; expected {} of them in {} bytes", i, at,
            entries_, directory_end_ - directory_);
      }
      Record r;
      const uint64_t flags = le(file_, at + 8, 2);
      r.method = static_cast<uint16_t>(le(file_, at + 10, 2));
      r.crc = static_cast<uint32_t>(le(file_, at + 16, 4));
      r.compressed = le(file_, at + 20, 4);
      r.size = le(file_, at + 24, 4);
      const uint64_t name_length = le(file_, at + 28, 2);
      const uint64_t extra_length = le(file_, at + 30, 2);
      const uint64_t comment_length = le(file_, at + 32, 2);
      const uint64_t disk = le(file_, at + 34, 2);
      r.header = le(file_, at + 42, 4);
      const uint64_t total = kCentralSize + name_length + extra_length + comment_length;
      if (directory_end_ - at < total) {
        bad(path_, "zip directory entry {} (byte {}) runs past the directory's end; expected it inside", i, at);
      }
      r.name = std::string(file_.substr(at + kCentralSize, name_length));
      check_name(r.name, i);
      if ((flags & ~kAllowedFlags) != 0) {
        bad(path_, "record '{}' has zip flags 0x{:04x} (encrypted or unusual); expected only 0x{:04x}", r.name, flags,
            kAllowedFlags);
      }
      if (r.method != kStored && r.method != kDeflated) {
        bad(path_, "record '{}' uses zip method {}; expected 0 (stored) or 8 (deflate)", r.name, r.method);
      }
      if (disk != 0) bad(path_, "record '{}' is on disk {}; expected a single-disk archive", r.name, disk);
      read_zip64_fields(r, file_.substr(at + kCentralSize + name_length, extra_length));
      records_.push_back(std::move(r));
      std::string lower = records_.back().name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
      if (!folded.insert(lower).second) {
        bad(path_,
            "record '{}' appears twice (names compared ignoring case, as LibTorch's zip reader does); "
            "expected each name once",
            records_.back().name);
      }
      at += total;
    }
    if (at != directory_end_) {
      bad(path_, "the zip directory has {} bytes after its {} entries; expected exactly {} entries",
          directory_end_ - at, entries_, entries_);
    }
  }

  void check_name(const std::string& name, uint64_t index) {
    if (name.empty() || name.size() > kMaxNameLength) {
      bad(path_, "zip directory entry {} has a {}-byte name; expected 1 to {} bytes", index, name.size(),
          kMaxNameLength);
    }
    for (const char c : name) {
      if (c <= 0x20 || c >= 0x7f || c == '\\') {
        bad(path_, "record name {} has a control, space, backslash or non-ASCII byte; expected a plain path",
            shown(name));
      }
    }
    const size_t slash = name.find('/');
    const std::string padded = "/" + name + "/";
    if (slash == 0 || slash == std::string::npos || name.find("//") != std::string::npos || name.back() == '/' ||
        padded.find("/./") != std::string::npos || padded.find("/../") != std::string::npos) {
      bad(path_, "record name {} is not of the form FOLDER/NAME; expected every record inside the archive's folder",
          shown(name));
    }
    const std::string folder = name.substr(0, slash);
    // LibTorch takes the folder from the first entry and looks records up under it.
    if (index == 0) folder_ = folder;
    if (folder != folder_) {
      bad(path_, "record {} lies outside the archive's folder '{}'; expected all records in one folder", shown(name),
          folder_);
    }
  }

  /// Sizes and offsets too big for 32 bits sit in the zip64 extra field, in
  /// this order, for those saturated (miniz reads the first such field).
  void read_zip64_fields(Record& r, std::string_view extra) {
    const bool needs = r.size == 0xffffffff || r.compressed == 0xffffffff || r.header == 0xffffffff;
    if (!needs) return;
    while (extra.size() >= 4) {
      const uint64_t id = le(extra, 0, 2);
      const uint64_t length = le(extra, 2, 2);
      if (length > extra.size() - 4) break;
      if (id == 1) {
        std::string_view field = extra.substr(4, length);
        for (uint64_t* value : {&r.size, &r.compressed, &r.header}) {
          if (*value != 0xffffffff) continue;
          if (field.size() < 8) break;
          *value = le(field, 0, 8);
          field.remove_prefix(8);
        }
        break;
      }
      extra.remove_prefix(4 + length);
    }
    if (r.size == 0xffffffff || r.compressed == 0xffffffff || r.header == 0xffffffff) {
      bad(path_, "record '{}' has saturated sizes without their zip64 extra field; expected the 64-bit values there",
          r.name);
    }
  }

  void check_layout() {
    const uint64_t limit = directory_;  // records' data lies before the directory
    for (auto& r : records_) {
      r.relative = r.name.substr(folder_.size() + 1);
      if (!is_known_record(r.relative)) {
        bad(path_,
            "record '{}' is not one a daas archive holds; expected version, data.pkl, constants.pkl, data/N, "
            "constants/N and code/__torch__/... records",
            r.name);
      }
      if (r.method == kStored && r.compressed != r.size) {
        bad(path_, "stored record '{}' is {} bytes in the archive but {} bytes long; expected the same size", r.name,
            r.compressed, r.size);
      }
      if (r.method == kDeflated &&
          (!is_text_record(r.relative) || r.size > kMaxTextRecord || r.compressed > 2 * kMaxTextRecord)) {
        bad(path_,
            "record '{}' is deflated to {} bytes from {}; expected only code/ records deflated, at most {} bytes "
            "inflated",
            r.name, r.compressed, r.size, kMaxTextRecord);
      }
      if (r.header > limit || limit - r.header < kLocalSize || le(file_, r.header, 4) != kLocalSig) {
        bad(path_, "record '{}' has no local zip header at byte {}; expected one before the directory (byte {})",
            r.name, r.header, limit);
      }
      const uint64_t flags = le(file_, r.header + 6, 2);
      const uint64_t method = le(file_, r.header + 8, 2);
      const uint64_t name_length = le(file_, r.header + 26, 2);
      const uint64_t extra_length = le(file_, r.header + 28, 2);
      if (limit - r.header - kLocalSize < name_length ||
          file_.substr(r.header + kLocalSize, name_length) != std::string_view(r.name)) {
        bad(path_, "the local header of record '{}' (byte {}) names another record; expected the same name", r.name,
            r.header);
      }
      if (method != r.method || (flags & ~kAllowedFlags) != 0) {
        bad(path_,
            "the local header of record '{}' has method {} and flags 0x{:04x}; expected method {} as the "
            "directory says",
            r.name, method, flags, r.method);
      }
      r.data = r.header + kLocalSize + name_length + extra_length;
      if (r.data > limit || limit - r.data < r.compressed) {
        bad(path_,
            "the data of record '{}' ({} bytes from byte {}) runs past byte {} where the zip directory begins; "
            "expected it inside the file (the file is cut short or its directory damaged)",
            r.name, r.compressed, r.data, limit);
      }
    }
    std::vector<const Record*> order;
    for (const auto& r : records_) order.push_back(&r);
    std::sort(order.begin(), order.end(), [](const Record* a, const Record* b) { return a->header < b->header; });
    if (order.front()->header != 0) {
      bad(path_, "the first record starts at byte {}; expected a zip archive to start at byte 0",
          order.front()->header);
    }
    for (size_t i = 1; i < order.size(); ++i) {
      const Record& before = *order[i - 1];
      if (order[i]->header < before.data + before.compressed) {
        bad(path_, "records '{}' and '{}' overlap (byte {}); expected each record's bytes its own", before.name,
            order[i]->name, order[i]->header);
      }
    }
  }

  std::string_view file_;
  const std::string& path_;
  uint64_t directory_ = 0;
  uint64_t directory_end_ = 0;
  uint64_t entries_ = 0;
  std::string folder_;
  std::vector<Record> records_;
};

// ---------------------------------------------------------------------------
// TorchScript records. LibTorch compiles code/__torch__/*.py to rebuild the
// module classes; its compiler trusts the text (a class-body line that is
// neither an attribute nor a known list dereferences a missing type: the
// known SIGSEGV). daas's modules have no methods, so every line must be one
// of the few declarations LibTorch's printer writes for them.

struct ClassInfo {
  std::string record;
  std::vector<std::string> uses;  // classes its attributes refer to
};

class CodeParser {
 public:
  CodeParser(std::string_view text, std::string record, std::string qualifier, const std::string& path,
             std::map<std::string, ClassInfo>& classes)
      : text_(text), record_(std::move(record)), qualifier_(std::move(qualifier)), path_(path), classes_(classes) {}

  void parse() {
    if (text_.empty()) bad(path_, "record '{}' is empty; expected a TorchScript module class", record_);
    size_t line_start = 0;
    while (line_start < text_.size()) {
      size_t end = text_.find('\n', line_start);
      if (end == std::string_view::npos) end = text_.size();
      ++line_number_;
      line(text_.substr(line_start, end - line_start));
      line_start = end + 1;
    }
  }

 private:
  struct Cursor {
    std::string_view s;
    size_t i = 0;
    bool eat(std::string_view literal) {
      if (s.substr(i, literal.size()) != literal) return false;
      i += literal.size();
      return true;
    }
    bool identifier(std::string* out) {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      if (!is_identifier(s.substr(i, j - i))) return false;
      if (out != nullptr) *out = std::string(s.substr(i, j - i));
      i = j;
      return true;
    }
    // A double-quoted string of plain characters (no escapes: LibTorch's
    // printer needs none for the names daas writes).
    bool string(std::string* out) {
      if (!eat("\"")) return false;
      const size_t close = s.find('"', i);
      if (close == std::string_view::npos || close == i) return false;
      for (size_t j = i; j < close; ++j) {
        if (s[j] == '\\') return false;
      }
      if (out != nullptr) *out = std::string(s.substr(i, close - i));
      i = close + 1;
      return true;
    }
    bool done() const { return i == s.size(); }
  };

  [[noreturn]] void refuse(std::string_view line, const char* why) {
    bad(path_,
        "record '{}' line {}: {} {}; expected only module declarations (class X(Module):, __parameters__, "
        "__buffers__ and 'name : Type' lines)",
        record_, line_number_, why, shown(line));
  }

  void line(std::string_view text) {
    for (const char c : text) {
      if (c < 0x20 || c >= 0x7f) refuse(text, "holds a control or non-ASCII byte:");
    }
    Cursor at{text};
    if (at.eat("class ")) {
      std::string name;
      if (!at.identifier(&name) || !at.eat("(Module):") || !at.done()) refuse(text, "is not a module class header:");
      current_ = qualifier_ + "." + name;
      if (classes_.count(current_) != 0) refuse(text, "defines a class a second time:");
      classes_[current_].record = record_;
      return;
    }
    if (current_.empty()) refuse(text, "comes before any class:");
    if (!at.eat("  ")) refuse(text, "is not a class member:");
    for (const char* list : {"__parameters__ = [", "__buffers__ = ["}) {
      if (at.eat(list)) {
        while (!at.eat("]")) {
          if (!at.string(nullptr) || !at.eat(", ")) refuse(text, "is not a list of names:");
        }
        if (!at.done()) refuse(text, "has more after its list:");
        return;
      }
    }
    if (at.eat("__annotations__")) {
      if (at.eat(" = []") && at.done()) return;
      if (!at.eat("[") || !at.string(nullptr) || !at.eat("] = ")) refuse(text, "is not an attribute declaration:");
    } else {
      std::string name;
      // Dunder names are special to LibTorch's importer (and some of its
      // branches assume a value follows): only plain attribute names here.
      if (!at.identifier(&name) || name.compare(0, 2, "__") == 0 || !at.eat(" : ")) {
        refuse(text, "is not an attribute declaration:");
      }
    }
    if (!type(at, 0) || !at.done()) refuse(text, "declares a type outside those daas writes:");
  }

  bool type(Cursor& at, int depth) {
    if (depth > kMaxTypeNesting) return false;
    if (at.eat("Optional[") || at.eat("List[")) return type(at, depth + 1) && at.eat("]");
    if (at.eat("Dict[")) return type(at, depth + 1) && at.eat(", ") && type(at, depth + 1) && at.eat("]");
    if (at.eat("Tuple[")) {
      if (at.eat("()]")) return true;
      do {
        if (!type(at, depth + 1)) return false;
      } while (at.eat(", "));
      return at.eat("]");
    }
    std::string word;
    if (!at.identifier(&word)) return false;
    if (word == "Tensor" || word == "int" || word == "float" || word == "bool" || word == "str" || word == "NoneType") {
      return true;
    }
    if (word != "__torch__" || !at.eat(".")) return false;
    std::string qualified = word;
    do {
      if (!at.identifier(&word)) return false;
      qualified += "." + word;
    } while (at.eat("."));
    classes_[current_].uses.push_back(qualified);
    return true;
  }

  std::string_view text_;
  std::string record_;
  std::string qualifier_;
  const std::string& path_;
  std::map<std::string, ClassInfo>& classes_;
  std::string current_;
  size_t line_number_ = 0;
};

// ---------------------------------------------------------------------------
// Pickles. LibTorch 1.13's unpickler trusts its input: it pops empty stacks,
// indexes marks and memo entries unchecked, sizes its memo by the ids it
// reads, casts any int to a dtype and sets tensor views without comparing
// them to their storage. The stream is simulated here, values included, for
// the subset LibTorch writes; anything outside it is refused.

enum Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinUnicode = 'X',
  kBuild = 'b',
  kGlobal = 'c',
  kEmptyDict = '}',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kEmptyList = ']',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kTuple = 't',
  kEmptyTuple = ')',
  kSetItems = 'u',
  kBinFloat = 'G',
  kProto = 0x80,
  kNewObj = 0x81,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
};

/// Names of the pickle opcodes of every protocol, for messages.
const char* op_name(uint8_t op) {
  static const std::map<uint8_t, const char*> names = {
      {'(', "MARK"},
      {'.', "STOP"},
      {'0', "POP"},
      {'1', "POP_MARK"},
      {'2', "DUP"},
      {'F', "FLOAT"},
      {'I', "INT"},
      {'J', "BININT"},
      {'K', "BININT1"},
      {'L', "LONG"},
      {'M', "BININT2"},
      {'N', "NONE"},
      {'P', "PERSID"},
      {'Q', "BINPERSID"},
      {'R', "REDUCE"},
      {'S', "STRING"},
      {'T', "BINSTRING"},
      {'U', "SHORT_BINSTRING"},
      {'V', "UNICODE"},
      {'X', "BINUNICODE"},
      {'a', "APPEND"},
      {'b', "BUILD"},
      {'c', "GLOBAL"},
      {'d', "DICT"},
      {'}', "EMPTY_DICT"},
      {'e', "APPENDS"},
      {'g', "GET"},
      {'h', "BINGET"},
      {'i', "INST"},
      {'j', "LONG_BINGET"},
      {'l', "LIST"},
      {']', "EMPTY_LIST"},
      {'o', "OBJ"},
      {'p', "PUT"},
      {'q', "BINPUT"},
      {'r', "LONG_BINPUT"},
      {'s', "SETITEM"},
      {'t', "TUPLE"},
      {')', "EMPTY_TUPLE"},
      {'u', "SETITEMS"},
      {'G', "BINFLOAT"},
      {'B', "BINBYTES"},
      {'C', "SHORT_BINBYTES"},
      {0x80, "PROTO"},
      {0x81, "NEWOBJ"},
      {0x82, "EXT1"},
      {0x83, "EXT2"},
      {0x84, "EXT4"},
      {0x85, "TUPLE1"},
      {0x86, "TUPLE2"},
      {0x87, "TUPLE3"},
      {0x88, "NEWTRUE"},
      {0x89, "NEWFALSE"},
      {0x8a, "LONG1"},
      {0x8b, "LONG4"},
      {0x8c, "SHORT_BINUNICODE"},
      {0x8d, "BINUNICODE8"},
      {0x8e, "BINBYTES8"},
      {0x8f, "EMPTY_SET"},
      {0x90, "ADDITEMS"},
      {0x91, "FROZENSET"},
      {0x92, "NEWOBJ_EX"},
      {0x93, "STACK_GLOBAL"},
      {0x94, "MEMOIZE"},
      {0x95, "FRAME"},
      {0x96, "BYTEARRAY8"},
      {0x97, "NEXT_BUFFER"},
      {0x98, "READONLY_BUFFER"},
  };
  const auto found = names.find(op);
  return found == names.end() ? "not a pickle opcode" : found->second;
}

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kTypedList,
  kDict,
  kGlobal,
  kDtype,
  kStorage,
  kTensor,
  kObject
};

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kTypedList:
      return "typed list";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kDtype:
      return "storage type";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
    case Kind::kObject:
      return "object";
  }
  return "?";
}

/// What a GLOBAL names: LibTorch's reader maps each to a function that
/// REDUCE or BUILD later calls with one argument.
enum class Function {
  kClass,
  kRebuildTensor,
  kOrderedDict,
  kBuildIntList,
  kBuildTensorList,
  kBuildDoubleList,
  kBuildBoolList
};

struct Value {
  explicit Value(Kind k) : kind(k) {}
  Kind kind;
  int64_t number = 0;  // int, bool; a storage type's or storage's c10::ScalarType
  std::string text;    // str; the class of a class global or object
  Function function = Function::kClass;
  Kind element = Kind::kNone;                 // typed list
  int64_t numel = 0;                          // storage
  std::vector<std::shared_ptr<Value>> items;  // tuple, list; dict keys and values in turn
  size_t depth = 1;
  // Placed inside another value or passed to a function: lists and dicts
  // are not changed after that, so no value can come to contain itself.
  bool sealed = false;
};
using ValuePtr = std::shared_ptr<Value>;

enum class Role { kData, kConstants, kDebug };

struct Storage {
  const char* name;
  c10::ScalarType type;
};
// The storage types of plain (not quantized) tensors.
constexpr Storage kStorages[] = {
    {"ByteStorage", c10::ScalarType::Byte},
    {"CharStorage", c10::ScalarType::Char},
    {"ShortStorage", c10::ScalarType::Short},
    {"IntStorage", c10::ScalarType::Int},
    {"LongStorage", c10::ScalarType::Long},
    {"HalfStorage", c10::ScalarType::Half},
    {"FloatStorage", c10::ScalarType::Float},
    {"DoubleStorage", c10::ScalarType::Double},
    {"BoolStorage", c10::ScalarType::Bool},
    {"BFloat16Storage", c10::ScalarType::BFloat16},
    {"ComplexFloatStorage", c10::ScalarType::ComplexFloat},
    {"ComplexDoubleStorage", c10::ScalarType::ComplexDouble},
};

class PickleChecker {
 public:
  PickleChecker(std::string_view data, Role role, std::string record, const std::string& path,
                const std::map<std::string, const Record*>& records, const std::map<std::string, ClassInfo>& classes)
      : data_(data), role_(role), record_(std::move(record)), path_(path), records_(records), classes_(classes) {}

  ValuePtr run() {
    if (data_.size() < 2 || static_cast<uint8_t>(data_[0]) != kProto || static_cast<uint8_t>(data_[1]) != 2) {
      bad(path_, "record '{}' starts with {}; expected a pickle of protocol 2 (0x80 0x02)", record_,
          shown(data_.substr(0, 2)));
    }
    pos_ = 2;
    while (true) {
      if (pos_ >= data_.size()) {
        bad(path_, "record '{}' ends at byte {} inside its pickle; expected STOP ('.') to end it", record_, pos_);
      }
      at_ = pos_;
      op_ = static_cast<uint8_t>(data_[pos_++]);
      if (op_ == kStop) return stop();
      step();
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void refuse(fmt::format_string<Args...> format, Args&&... args) {
    bad(path_, "record '{}' byte {}, opcode 0x{:02x} ({}): {}", record_, at_, op_, op_name(op_),
        fmt::format(format, std::forward<Args>(args)...));
  }

  void step() {
    switch (op_) {
      case kMark:
        if (marks_.size() >= kMaxNesting)
          refuse("more than {} MARKs open; expected nesting of at most that", kMaxNesting);
        marks_.push_back(stack_.size());
        break;
      case kNone:
        push(make(Kind::kNone));
        break;
      case kNewTrue:
      case kNewFalse: {
        auto v = make(Kind::kBool);
        v->number = op_ == kNewTrue;
        push(v);
      } break;
      case kBinInt1:
        push_int(static_cast<int64_t>(argument(1)));
        break;
      case kBinInt2:
        push_int(static_cast<int64_t>(argument(2)));
        break;
      case kBinInt:
        push_int(static_cast<int32_t>(static_cast<uint32_t>(argument(4))));
        break;
      case kLong1: {
        const uint64_t length = argument(1);
        if (length != 8) refuse("a {}-byte integer; expected 8 bytes, the only length LibTorch reads", length);
        push_int(static_cast<int64_t>(argument(8)));
      } break;
      case kBinFloat:
        need(8);  // any double will do: its value is never used as a size
        pos_ += 8;
        push(make(Kind::kFloat));
        break;
      case kBinUnicode: {
        const uint64_t length = argument(4);
        need(length);
        auto v = make(Kind::kString);
        v->text = std::string(data_.substr(pos_, length));
        pos_ += length;
        push(v);
      } break;
      case kEmptyTuple:
        push(make(Kind::kTuple));
        break;
      case kEmptyList:
        push(make(Kind::kList));
        break;
      case kEmptyDict:
        push(make(Kind::kDict));
        break;
      case kTuple: {
        const size_t mark = pop_mark();
        std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
        stack_.resize(mark);
        push(container(Kind::kTuple, std::move(items)));
      } break;
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        const size_t n = op_ - kTuple1 + 1;
        std::vector<ValuePtr> items(n);
        for (size_t i = n; i-- > 0;) items[i] = pop();
        push(container(Kind::kTuple, std::move(items)));
      } break;
      case kAppends:
        extend(Kind::kList);
        break;
      case kSetItems:
        extend(Kind::kDict);
        break;
      case kBinPut:
        put(argument(1));
        break;
      case kLongBinPut:
        put(argument(4));
        break;
      case kBinGet:
        get(argument(1));
        break;
      case kLongBinGet:
        get(argument(4));
        break;
      case kGlobal:
        global();
        break;
      case kNewObj: {
        const auto args = pop();
        if (args->kind != Kind::kTuple || !args->items.empty()) {
          refuse("its argument is a {}; expected the empty tuple LibTorch writes", describe(*args));
        }
        if (stack_.size() <= frame() || stack_.back()->kind != Kind::kGlobal ||
            stack_.back()->function != Function::kClass) {
          refuse("does not follow a module class GLOBAL; expected GLOBAL, EMPTY_TUPLE, NEWOBJ");
        }
      } break;
      case kReduce:
      case kBuild:
        call();
        break;
      case kBinPersId:
        persistent_id();
        break;
      default:
        refuse("not an opcode LibTorch's pickler writes; expected the protocol-2 subset of LibTorch archives");
    }
  }

  ValuePtr stop() {
    if (pos_ != data_.size()) {
      refuse("{} more bytes follow; expected STOP to end the record", data_.size() - pos_);
    }
    if (!marks_.empty()) refuse("{} MARK(s) still open; expected every MARK closed", marks_.size());
    if (stack_.size() != 1) refuse("{} values on the stack; expected exactly one, the archive's root", stack_.size());
    return stack_.front();
  }

  uint64_t argument(int width) {
    need(static_cast<uint64_t>(width));
    const uint64_t value = le(data_, pos_, width);
    pos_ += static_cast<size_t>(width);
    return value;
  }

  void need(uint64_t bytes) {
    if (data_.size() - pos_ < bytes) {
      refuse("needs {} argument bytes but the record has {} left; expected them inside the record", bytes,
             data_.size() - pos_);
    }
  }

  ValuePtr make(Kind kind) { return std::make_shared<Value>(kind); }

  void push_int(int64_t value) {
    auto v = make(Kind::kInt);
    v->number = value;
    push(v);
  }

  void push(ValuePtr value) { stack_.push_back(std::move(value)); }

  /// The stack's bottom for the current opcode: nothing below the last MARK is reachable.
  size_t frame() const { return marks_.empty() ? 0 : marks_.back(); }

  ValuePtr pop() {
    if (stack_.size() <= frame()) {
      refuse("pops an empty stack{}; expected its operands pushed before it",
             marks_.empty() ? "" : " (nothing above the last MARK)");
    }
    auto value = std::move(stack_.back());
    stack_.pop_back();
    return value;
  }

  size_t pop_mark() {
    if (marks_.empty()) refuse("no MARK open; expected a MARK before it");
    const size_t mark = marks_.back();
    marks_.pop_back();
    return mark;
  }

  std::string describe(const Value& v) const {
    if (v.kind == Kind::kTuple) return fmt::format("{}-tuple", v.items.size());
    if (v.kind == Kind::kInt) return fmt::format("int {}", v.number);
    if (v.kind == Kind::kString) return fmt::format("str {}", shown(v.text, 40));
    return kind_name(v.kind);
  }

  void seal(Value& inner, Value& outer) {
    if (&inner == &outer) refuse("puts a {} inside itself; expected no value to contain itself", kind_name(outer.kind));
    inner.sealed = true;
    outer.depth = std::max(outer.depth, inner.depth + 1);
    if (outer.depth > kMaxNesting) refuse("values nested more than {} deep; expected at most that", kMaxNesting);
  }

  ValuePtr container(Kind kind, std::vector<ValuePtr> items) {
    auto v = make(kind);
    for (auto& item : items) seal(*item, *v);
    v->items = std::move(items);
    return v;
  }

  /// APPENDS and SETITEMS: the values above the last MARK go into the list
  /// or dict right below it.
  void extend(Kind kind) {
    const size_t mark = pop_mark();
    const size_t below = frame();
    if (mark == 0 || mark - 1 < below) refuse("no {} below its MARK; expected one to add to", kind_name(kind));
    Value& target = *stack_[mark - 1];
    if (target.kind != kind) refuse("adds to a {}; expected a {}", describe(target), kind_name(kind));
    if (target.sealed)
      refuse("changes a {} already placed inside another value; expected it filled first", kind_name(kind));
    const size_t count = stack_.size() - mark;
    if (kind == Kind::kDict && count % 2 != 0) refuse("{} values for a dict; expected key and value pairs", count);
    for (size_t i = mark; i < stack_.size(); ++i) {
      if (kind == Kind::kDict && (i - mark) % 2 == 0 && stack_[i]->kind != Kind::kString &&
          stack_[i]->kind != Kind::kInt) {
        refuse("a dict key is a {}; expected str or int keys", describe(*stack_[i]));
      }
      seal(*stack_[i], target);
      target.items.push_back(stack_[i]);
    }
    stack_.resize(mark);
  }

  void put(uint64_t id) {
    if (stack_.size() <= frame()) refuse("memoizes from an empty stack; expected a value to memoize");
    if (id > memo_.size()) {
      refuse("memo id {} skips ids (the next is {}); expected ids in order, as LibTorch writes them", id, memo_.size());
    }
    if (id == memo_.size()) {
      memo_.push_back(stack_.back());
    } else {
      memo_[id] = stack_.back();
    }
  }

  void get(uint64_t id) {
    if (id >= memo_.size()) {
      refuse("memo id {} was never set ({} set); expected an id stored by BINPUT before", id, memo_.size());
    }
    push(memo_[id]);
  }

  std::string_view line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos || end == pos_ || end - pos_ > kMaxGlobalName) {
      refuse("a name not ended by a newline within {} bytes; expected 'module\\nname\\n'", kMaxGlobalName);
    }
    const std::string_view name = data_.substr(pos_, end - pos_);
    for (const char c : name) {
      if (c <= 0x20 || c >= 0x7f)
        refuse("the name {} holds a control or non-ASCII byte; expected a Python name", shown(name));
    }
    pos_ = end + 1;
    return name;
  }

  void global() {
    const std::string module(line());
    const std::string name(line());
    const auto function = [&](Function f) {
      auto v = make(Kind::kGlobal);
      v->function = f;
      push(v);
    };
    const bool tensors = role_ != Role::kDebug;
    if (module == "torch.jit._pickle" && name == "build_intlist") return function(Function::kBuildIntList);
    if (tensors && module == "torch.jit._pickle" && name == "build_tensorlist") {
      return function(Function::kBuildTensorList);
    }
    if (tensors && module == "torch.jit._pickle" && name == "build_doublelist") {
      return function(Function::kBuildDoubleList);
    }
    if (tensors && module == "torch.jit._pickle" && name == "build_boollist") {
      return function(Function::kBuildBoolList);
    }
    if (tensors && module == "torch._utils" && name == "_rebuild_tensor_v2") return function(Function::kRebuildTensor);
    if (tensors && module == "collections" && name == "OrderedDict") return function(Function::kOrderedDict);
    if (tensors && module == "torch") {
      for (const auto& storage : kStorages) {
        if (name == storage.name) {
          auto v = make(Kind::kDtype);
          v->number = static_cast<int64_t>(storage.type);
          return push(v);
        }
      }
    }
    if (role_ == Role::kData && (module == "__torch__" || module.compare(0, 10, "__torch__.") == 0)) {
      const std::string qualified = module + "." + name;
      if (classes_.count(qualified) == 0) {
        refuse("class '{}' is not defined by the archive's code records; expected each module class declared there",
               qualified);
      }
      auto v = make(Kind::kGlobal);
      v->function = Function::kClass;
      v->text = qualified;
      return push(v);
    }
    refuse("'{} {}' is not a global daas archives use here; expected tensor, storage, list builders{}", module, name,
           role_ == Role::kData ? " or __torch__ module classes" : "");
  }

  void call() {
    auto arg = pop();
    auto function = pop();
    if (function->kind != Kind::kGlobal) {
      refuse("calls a {}; expected a function or class from GLOBAL", describe(*function));
    }
    const bool build = op_ == kBuild;
    if (build != (function->function == Function::kClass)) {
      refuse("{}; expected BUILD for module classes and REDUCE for functions",
             build ? "builds a function" : "reduces a class");
    }
    arg->sealed = true;
    switch (function->function) {
      case Function::kClass: {
        if (arg->kind != Kind::kDict)
          refuse("the state of '{}' is a {}; expected a dict", function->text, describe(*arg));
        for (size_t i = 0; i < arg->items.size(); i += 2) {
          if (arg->items[i]->kind != Kind::kString) {
            refuse("an attribute name of '{}' is a {}; expected str", function->text, describe(*arg->items[i]));
          }
        }
        auto object = make(Kind::kObject);
        object->text = function->text;
        seal(*arg, *object);
        object->items.push_back(arg);
        return push(object);
      }
      case Function::kRebuildTensor:
        return push(rebuild_tensor(*arg));
      case Function::kOrderedDict:
        if (arg->kind != Kind::kTuple || !arg->items.empty()) {
          refuse("OrderedDict gets a {}; expected the empty tuple", describe(*arg));
        }
        return push(make(Kind::kNone));
      case Function::kBuildIntList:
        return push(typed_list(*arg, Kind::kInt));
      case Function::kBuildTensorList:
        return push(typed_list(*arg, Kind::kTensor));
      case Function::kBuildDoubleList:
        return push(typed_list(*arg, Kind::kFloat));
      case Function::kBuildBoolList:
        return push(typed_list(*arg, Kind::kBool));
    }
  }

  ValuePtr typed_list(const Value& arg, Kind element) {
    if (arg.kind != Kind::kTuple || arg.items.size() != 1 || arg.items[0]->kind != Kind::kList) {
      refuse("a list builder gets a {}; expected a 1-tuple holding a list", describe(arg));
    }
    for (const auto& item : arg.items[0]->items) {
      if (item->kind != element)
        refuse("a list of {} holds a {}; expected only {}", kind_name(element), describe(*item), kind_name(element));
    }
    auto v = make(Kind::kTypedList);
    v->element = element;
    seal(*arg.items[0], *v);
    v->items = arg.items[0]->items;
    return v;
  }

  std::vector<int64_t> ints(const Value& tuple, const char* what) {
    if (tuple.kind != Kind::kTuple || tuple.items.size() > kMaxDims) {
      refuse("tensor {} are a {}; expected a tuple of at most {} ints", what, describe(tuple), kMaxDims);
    }
    std::vector<int64_t> out;
    for (const auto& item : tuple.items) {
      if (item->kind != Kind::kInt || item->number < 0) {
        refuse("a tensor's {} holds a {}; expected ints of at least 0", what, describe(*item));
      }
      out.push_back(item->number);
    }
    return out;
  }

  /// _rebuild_tensor_v2(storage, offset, sizes, strides, requires_grad,
  /// hooks): LibTorch sets the view without comparing it to the storage,
  /// so every element it can reach must lie inside.
  ValuePtr rebuild_tensor(const Value& arg) {
    if (arg.kind != Kind::kTuple || arg.items.size() != 6) {
      refuse("_rebuild_tensor_v2 gets a {}; expected (storage, offset, sizes, strides, requires_grad, hooks)",
             describe(arg));
    }
    const Value& storage = *arg.items[0];
    const Value& offset = *arg.items[1];
    if (storage.kind != Kind::kStorage)
      refuse("a tensor's storage is a {}; expected a BINPERSID storage", describe(storage));
    if (offset.kind != Kind::kInt || offset.number < 0) {
      refuse("a tensor's offset is a {}; expected an int of at least 0", describe(offset));
    }
    const auto sizes = ints(*arg.items[2], "sizes");
    const auto strides = ints(*arg.items[3], "strides");
    if (sizes.size() != strides.size()) {
      refuse("a tensor has {} sizes and {} strides; expected as many of each", sizes.size(), strides.size());
    }
    if (arg.items[4]->kind != Kind::kBool || arg.items[5]->kind != Kind::kNone) {
      refuse("a tensor's requires_grad and hooks are a {} and a {}; expected a bool and an empty OrderedDict",
             describe(*arg.items[4]), describe(*arg.items[5]));
    }
    uint64_t count = 1;
    uint64_t last = static_cast<uint64_t>(offset.number);
    bool overflow = false;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const auto size = static_cast<uint64_t>(sizes[i]);
      overflow |= __builtin_mul_overflow(count, size, &count);
      if (size > 0) {
        uint64_t reach = 0;
        overflow |= __builtin_mul_overflow(size - 1, static_cast<uint64_t>(strides[i]), &reach);
        overflow |= __builtin_add_overflow(last, reach, &last);
      }
    }
    const auto numel = static_cast<uint64_t>(storage.numel);
    const bool inside = count == 0 ? static_cast<uint64_t>(offset.number) <= numel : last < numel && count <= numel;
    if (overflow || !inside) {
      refuse(
          "a tensor of sizes ({}) and strides ({}) from element {} reaches past its storage of {} elements; "
          "expected the view inside its storage",
          fmt::join(sizes, ", "), fmt::join(strides, ", "), offset.number, numel);
    }
    auto v = make(Kind::kTensor);
    v->number = storage.number;
    return v;
  }

  /// BINPERSID ('storage', dtype, key, device, numel): the tensor record
  /// data/KEY (constants/KEY), which must hold exactly numel elements.
  void persistent_id() {
    if (role_ == Role::kDebug) refuse("a tensor in a debug record; expected none");
    const auto id = pop();
    const auto& items = id->items;
    if (id->kind != Kind::kTuple || items.size() != 5 || items[0]->kind != Kind::kString ||
        items[0]->text != "storage" || items[1]->kind != Kind::kDtype || items[2]->kind != Kind::kString ||
        items[3]->kind != Kind::kString || items[4]->kind != Kind::kInt) {
      refuse("its id is a {}; expected ('storage', storage type, key, device, numel)", describe(*id));
    }
    const std::string& key = items[2]->text;
    const std::string& device = items[3]->text;
    const int64_t numel = items[4]->number;
    if (!is_digits(key, 20)) refuse("tensor key {}; expected a record number", shown(key));
    const bool cuda_index = device.compare(0, 5, "cuda:") == 0 && is_digits(std::string_view(device).substr(5), 2);
    if (device != "cpu" && device != "cuda" && !cuda_index) {
      refuse("tensor device {}; expected cpu or cuda[:N]", shown(device));
    }
    const std::string name = (role_ == Role::kData ? "data/" : "constants/") + key;
    const auto found = records_.find(name);
    if (found == records_.end()) refuse("tensor record '{}' is missing; expected it in the archive", name);
    const auto type = static_cast<c10::ScalarType>(items[1]->number);
    const uint64_t item_size = c10::elementSize(type);
    uint64_t bytes = 0;
    if (numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), item_size, &bytes) ||
        bytes != found->second->size) {
      refuse("tensor record '{}' holds {} bytes but the pickle says {} elements of {} bytes; expected the same size",
             name, found->second->size, numel, item_size);
    }
    id->sealed = true;
    auto v = make(Kind::kStorage);
    v->number = items[1]->number;
    v->numel = numel;
    push(v);
  }

  std::string_view data_;
  Role role_;
  std::string record_;
  const std::string& path_;
  const std::map<std::string, const Record*>& records_;
  const std::map<std::string, ClassInfo>& classes_;
  size_t pos_ = 0;
  size_t at_ = 0;
  uint8_t op_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::vector<ValuePtr> memo_;
};

// ---------------------------------------------------------------------------

class ArchiveChecker {
 public:
  ArchiveChecker(std::string_view file, const std::string& path) : file_(file), path_(path) {}

  void run() {
    records_ = ZipReader(file_, path_).read();
    for (const auto& r : records_) by_name_[r.relative] = &r;
    for (const char* required : {"data.pkl", "constants.pkl"}) {
      if (by_name_.count(required) == 0) {
        bad(path_, "the archive has no '{}' record; expected one, as LibTorch's module writer makes", required);
      }
    }
    for (const auto& r : records_) read_record(r);
    check_version();
    check_code();
    for (const auto& [name, record] : by_name_) {
      if (name.size() > 10 && name.compare(name.size() - 10, 10, ".debug_pkl") == 0) {
        check_debug(name, contents(*record));
      }
    }
    const auto constants = check_pickle("constants.pkl", Role::kConstants);
    if (constants->kind != Kind::kTuple) {
      bad(path_, "record '{}' holds a {}; expected a tuple of constants", by_name_.at("constants.pkl")->name,
          kind_name(constants->kind));
    }
    const auto root = check_pickle("data.pkl", Role::kData);
    if (root->kind != Kind::kObject) {
      bad(path_, "record '{}' holds a {}; expected a module object", by_name_.at("data.pkl")->name,
          kind_name(root->kind));
    }
  }

 private:
  /// Checks a record's CRC-32 (inflating it when deflated; only small text
  /// records are) and keeps the inflated text.
  void read_record(const Record& r) {
    const std::string_view stored = file_.substr(r.data, r.compressed);
    std::string_view plain = stored;
    if (r.method == kDeflated) {
      std::string out(r.size, '\0');  // at most kMaxTextRecord, checked with the directory
      z_stream z{};
      if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail("{}: cannot start zlib", path_);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data()));
      z.avail_in = static_cast<uInt>(stored.size());
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      const int status = inflate(&z, Z_FINISH);
      const uint64_t produced = z.total_out;
      const uint64_t left = z.avail_in;
      inflateEnd(&z);
      if (status != Z_STREAM_END || produced != r.size || left != 0) {
        bad(path_, "deflated record '{}' does not inflate to its {} bytes ({}); expected an intact deflate stream",
            r.name, r.size, status == Z_STREAM_END ? "wrong length" : "damaged stream");
      }
      plain = texts_[r.relative] = std::move(out);
    }
    uint32_t crc = 0;
    for (std::string_view rest = plain; !rest.empty();) {
      const size_t chunk = std::min<size_t>(rest.size(), 1u << 30);
      crc = static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(rest.data()), static_cast<uInt>(chunk)));
      rest.remove_prefix(chunk);
    }
    if (kCheckCrc && crc != r.crc) {
      bad(path_,
          "record '{}' has CRC-32 0x{:08x}; expected 0x{:08x} as the zip directory records (the bytes are "
          "damaged)",
          r.name, crc, r.crc);
    }
  }

  std::string_view contents(const Record& r) const {
    const auto text = texts_.find(r.relative);
    return text != texts_.end() ? std::string_view(text->second) : file_.substr(r.data, r.compressed);
  }

  void check_version() {
    // LibTorch reads .data/version when present, version otherwise.
    const char* name = by_name_.count(".data/version") != 0 ? ".data/version" : "version";
    const auto found = by_name_.find(name);
    if (found == by_name_.end()) bad(path_, "the archive has no 'version' record; expected one");
    std::string_view text = contents(*found->second);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    const uint64_t low = caffe2::serialize::kMinProducedFileFormatVersion;
    const uint64_t high = caffe2::serialize::kMaxSupportedFileFormatVersion;
    const uint64_t version = is_digits(text, 4) ? std::stoull(std::string(text)) : 0;
    if (version < low || version > high) {
      bad(path_, "record '{}' holds {}; expected a format version from {} to {}", found->second->name, shown(text), low,
          high);
    }
  }

  void check_code() {
    for (const auto& [name, record] : by_name_) {
      if (name.compare(0, 5, "code/") != 0 || name.compare(name.size() - 3, 3, ".py") != 0) continue;
      if (record->size > kMaxTextRecord) {
        bad(path_, "record '{}' is {} bytes; expected a module declaration of at most {} bytes", record->name,
            record->size, kMaxTextRecord);
      }
      // code/__torch__/a/b.py declares the classes __torch__.a.b.X.
      std::string qualifier = name.substr(5, name.size() - 8);
      std::replace(qualifier.begin(), qualifier.end(), '/', '.');
      CodeParser(contents(*record), record->name, qualifier, path_, classes_).parse();
    }
    for (const auto& [name, info] : classes_) {
      for (const auto& used : info.uses) {
        if (classes_.count(used) == 0) {
          bad(path_, "record '{}' refers to class '{}', which no code record declares; expected every class declared",
              info.record, used);
        }
      }
    }
    // The compiler resolves classes recursively: a class must not contain
    // itself, directly or through others (depth-first, without recursion).
    std::map<std::string, int> state;  // 1: on the current path, 2: done
    for (const auto& [start, unused] : classes_) {
      if (state[start] == 2) continue;
      std::vector<std::pair<std::string, size_t>> path{{start, 0}};
      state[start] = 1;
      while (!path.empty()) {
        auto& [name, next] = path.back();
        const auto& uses = classes_.at(name).uses;
        if (next == uses.size()) {
          state[name] = 2;
          path.pop_back();
          continue;
        }
        const std::string& used = uses[next++];
        if (state[used] == 1) {
          bad(path_, "class '{}' contains itself through '{}'; expected module classes to form a tree", used, name);
        }
        if (state[used] == 0) {
          state[used] = 1;
          path.emplace_back(used, 0);
        }
      }
    }
  }

  ValuePtr check_pickle(const std::string& name, Role role) {
    const Record& r = *by_name_.at(name);
    return PickleChecker(contents(r), role, r.name, path_, by_name_, classes_).run();
  }

  /// A debug record maps byte ranges of the TorchScript text to their
  /// source: LibTorch reads it only to print a compile error, indexing its
  /// string table and text without checks.
  void check_debug(const std::string& name, std::string_view data) {
    const Record& r = *by_name_.at(name);
    const auto root = PickleChecker(data, Role::kDebug, r.name, path_, by_name_, classes_).run();
    const auto refuse = [&](const char* what) {
      bad(path_, "record '{}': {}; expected LibTorch's debug format (FORMAT_WITH_STRING_TABLE, texts, ranges)", r.name,
          what);
    };
    const auto is = [](const ValuePtr& v, Kind kind, size_t items) {
      return v->kind == kind && v->items.size() == items;
    };
    if (root->kind != Kind::kTuple || root->items.size() != 3 || root->items[0]->kind != Kind::kString ||
        root->items[0]->text != "FORMAT_WITH_STRING_TABLE" || root->items[1]->kind != Kind::kTuple ||
        root->items[2]->kind != Kind::kTuple) {
      refuse("not a (format, texts, ranges) tuple");
    }
    const auto& texts = root->items[1]->items;
    if (texts.empty()) refuse("an empty string table");
    for (const auto& text : texts) {
      if (text->kind != Kind::kString) refuse("a string table entry that is not a str");
    }
    for (const auto& range : root->items[2]->items) {
      if (range->kind != Kind::kTuple || (range->items.size() != 2 && range->items.size() != 3) ||
          range->items[0]->kind != Kind::kInt || !is(range->items[1], Kind::kTuple, 3)) {
        refuse("a range entry that is not (offset, (source, start, end), tag)");
      }
      const auto& span = range->items[1]->items;
      const auto& source = span[0];
      if (!is(source, Kind::kTuple, 3) || source->items[0]->kind != Kind::kTypedList ||
          source->items[1]->kind != Kind::kInt || source->items[2]->kind != Kind::kInt || span[1]->kind != Kind::kInt ||
          span[2]->kind != Kind::kInt) {
        refuse("a source that is not (line indices, file index, line number)");
      }
      uint64_t length = 0;
      const auto in_table = [&](int64_t index) { return index >= 0 && static_cast<uint64_t>(index) < texts.size(); };
      for (const auto& index : source->items[0]->items) {
        if (!in_table(index->number)) refuse("a line index outside the string table");
        length += texts[static_cast<size_t>(index->number)]->text.size();
      }
      if (!in_table(source->items[1]->number)) refuse("a file index outside the string table");
      const int64_t start = span[1]->number;
      const int64_t end = span[2]->number;
      if (start < 0 || end < start || static_cast<uint64_t>(end) > length) refuse("a range outside its source text");
    }
  }

  std::string_view file_;
  const std::string& path_;
  std::vector<Record> records_;
  std::map<std::string, const Record*> by_name_;
  std::map<std::string, std::string> texts_;
  std::map<std::string, ClassInfo> classes_;
};

}  // namespace

void check_torch_archive(std::string_view bytes, const std::string& path) { ArchiveChecker(bytes, path).run(); }

std::string read_checked_torch_archive(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) fail("{}: is a folder, expected a checkpoint file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open ({})", path, std::strerror(errno));
  std::string bytes;
  std::string chunk(1 << 20, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    bytes.append(chunk.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) fail("{}: read error ({})", path, std::strerror(errno));
  check_torch_archive(bytes, path);
  return bytes;
}

}  // namespace daas::core
