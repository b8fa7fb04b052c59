// Damaged and forged LibTorch archives (model.pt, checkpoint.pt) are refused
// with one clear error before LibTorch reads them; intact ones still load.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "daas/core/archive_check.h"
#include "daas/core/checkpoint.h"
#include "daas/core/files.h"
#include "test_support.h"

namespace daas::core {
namespace {

using Records = std::vector<std::pair<std::string, std::string>>;

/// The bytes of a string literal, NULs included.
template <size_t N>
std::string bin(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

std::string corpus_file(const std::string& name) { return testing::source_dir() + "/fuzz/corpus/model_file/" + name; }

/// A checkpoint as daas's trainer writes one: a network's weights and
/// buffers, an optimiser's state, a generator's state and a JSON record.
std::string write_checkpoint(const testing::TempDir& dir) {
  torch::manual_seed(0);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4),
                            torch::nn::Flatten(), torch::nn::Linear(4 * 4 * 4, 3));
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  net->forward(torch::rand({2, 1, 6, 6})).sum().backward();
  sgd.step();
  CheckpointWriter writer;
  writer.module("model", *net);
  writer.tensor("conv_weight", net->ptr(0)->named_parameters()["weight"]);
  writer.optimizer("optimizer", sgd);
  writer.generator("rng", at::detail::getDefaultCPUGenerator());
  writer.json("state", {{"epoch", 1}});
  writer.save(dir.file("checkpoint.pt"));
  return dir.file("checkpoint.pt");
}

/// The archive's records (names without the archive's folder), read with LibTorch's own reader.
Records records_of(const std::string& bytes) {
  std::istringstream in(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  Records out;
  for (const auto& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    out.emplace_back(name, std::string(static_cast<const char*>(data.get()), size));
  }
  return out;
}

const std::string& record(const Records& records, const std::string& name) {
  for (const auto& [n, data] : records) {
    if (n == name) return data;
  }
  throw std::runtime_error("no record " + name);
}

/// A forged archive: the records written by LibTorch's writer, so the zip
/// directory and every CRC-32 are right whatever the records hold.
std::string archive_of(const Records& records) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    out.append(static_cast<const char*>(data), size);
    return size;
  });
  for (const auto& [name, data] : records) {
    if (name != "version") writer.writeRecord(name, data.data(), data.size());  // the writer adds its own
  }
  writer.writeEndOfFile();
  return out;
}

/// `bytes` forged with record `name` replaced (or removed, or added).
std::string with_record(const std::string& bytes, const std::string& name, const std::optional<std::string>& data) {
  Records records = records_of(bytes);
  bool found = false;
  for (auto it = records.begin(); it != records.end(); ++it) {
    if (it->first != name) continue;
    found = true;
    if (data) {
      it->second = *data;
    } else {
      records.erase(it);
    }
    break;
  }
  if (!found && data) records.emplace_back(name, *data);
  return archive_of(records);
}

uint32_t le32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

void put_le(std::string& b, size_t at, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) b[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

/// Where a record's entry sits in the zip directory.
size_t directory_entry(const std::string& bytes, const std::string& name) {
  size_t at = le32(bytes, bytes.size() - 22 + 16);
  while (le32(bytes, at) == 0x02014b50) {
    const size_t name_length = le32(bytes, at + 28) & 0xffff;
    const size_t extra_length = le32(bytes, at + 30) & 0xffff;
    if (bytes.compare(at + 46, name_length, name) == 0) return at;
    at += 46 + name_length + extra_length;
  }
  throw std::runtime_error("no directory entry " + name);
}

/// Overwrites a stored record's bytes in place (same length) and fixes its CRC-32.
std::string patched(std::string bytes, const std::string& name, const std::string& data) {
  const size_t entry = directory_entry(bytes, name);
  const size_t header = le32(bytes, entry + 42);
  const size_t start = header + 30 + (le32(bytes, header + 26) & 0xffff) + (le32(bytes, header + 28) & 0xffff);
  bytes.replace(start, data.size(), data);
  put_le(bytes, entry + 16, crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())), 4);
  return bytes;
}

/// A pickle string: BINUNICODE.
std::string str(const std::string& s) {
  std::string out = "X";
  put_le(out.append(4, '\0'), 1, s.size(), 4);
  return out + s;
}

std::string binint(int32_t v) {
  std::string out = "J" + std::string(4, '\0');
  put_le(out, 1, static_cast<uint32_t>(v), 4);
  return out;
}

/// data.pkl for a module object whose attribute `w` is a float tensor of
/// record data/KEY with `numel` elements, the given sizes, strides and offset.
std::string tensor_pickle(const std::string& key, int numel, const std::vector<int>& sizes,
                          const std::vector<int>& strides, int offset = 0) {
  std::string sizes_tuple = "(";
  for (const int s : sizes) sizes_tuple += binint(s);
  std::string strides_tuple = "(";
  for (const int s : strides) strides_tuple += binint(s);
  return "\x80\x02"
         "c__torch__\nModule\n)\x81}(" +
         str("w") + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") + "ctorch\nFloatStorage\n" + str(key) +
         str("cpu") + binint(numel) + "tQ" + binint(offset) + sizes_tuple + "t" + strides_tuple +
         "t\x89"
         "ccollections\nOrderedDict\n)Rt"
         "Rub.";
}

class ArchiveCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = write_checkpoint(dir_);
    bytes_ = read_file(path_);
    records_ = records_of(bytes_);
  }

  /// Expects check_torch_archive to refuse `bytes` with one line naming
  /// the file and holding `message`.
  void expect_refused(const std::string& bytes, const std::string& message) {
    try {
      check_torch_archive(bytes, "forged.pt");
      ADD_FAILURE() << "accepted; expected a refusal with: " << message;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("forged.pt: not a readable daas checkpoint (truncated or corrupt): ", 0), 0u) << what;
      EXPECT_NE(what.find(message), std::string::npos) << what << "\nexpected to contain: " << message;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }

  /// A float tensor record of the checkpoint: its key and element count.
  std::pair<std::string, int> float_record() const {
    for (const auto& [name, data] : records_) {
      if (name.compare(0, 5, "data/") == 0 && !data.empty() && data.size() % 4 == 0) {
        return {name.substr(5), static_cast<int>(data.size() / 4)};
      }
    }
    throw std::runtime_error("no float record");
  }

  testing::TempDir dir_;
  std::string path_;
  std::string bytes_;
  Records records_;
};

TEST_F(ArchiveCheck, ArchivesDaasWritesPassAndStillLoad) {
  EXPECT_NO_THROW(check_torch_archive(bytes_, path_));
  CheckpointReader reader(path_);
  EXPECT_EQ(reader.json("state")["epoch"], 1);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4),
                            torch::nn::Flatten(), torch::nn::Linear(4 * 4 * 4, 3));
  reader.module("model", *net);
  EXPECT_TRUE(torch::equal(net->ptr(0)->named_parameters()["weight"], reader.tensor("conv_weight")));
  // A model file written by `daas train` (the fuzz corpus's seed).
  EXPECT_NO_THROW(check_torch_archive(read_file(corpus_file("tiny.pt")), "tiny.pt"));
  EXPECT_TRUE(CheckpointReader(corpus_file("tiny.pt")).json("info").is_object());
  // LibTorch's writer rewriting the same records: still fine.
  EXPECT_NO_THROW(check_torch_archive(archive_of(records_), "forged.pt"));
}

TEST_F(ArchiveCheck, TheShuffledModelOfTheOpenFindingIsOneClearError) {
  // Three bytes of code/__torch__.py shuffled ("__rpaameters__"): LibTorch's
  // TorchScript importer dereferenced a missing type on it (SIGSEGV).
  EXPECT_THROWS_WITH(CheckpointReader(corpus_file("model_file-crash-a841272c")),
                     "model_file-crash-a841272c: not a readable daas checkpoint (truncated or corrupt): record "
                     "'archive/code/__torch__.py' has CRC-32 0x30fec668; expected 0x0517794e");
  // The same line with its CRC-32 forged is refused by the declaration check.
  const std::string tiny = read_file(corpus_file("tiny.pt"));
  std::string code = record(records_of(tiny), "code/__torch__.py");
  code.replace(code.find("__parameters__"), 14, "__rpaameters__");
  EXPECT_THROWS_WITH(check_torch_archive(with_record(tiny, "code/__torch__.py", code), "m.pt"),
                     "m.pt: not a readable daas checkpoint (truncated or corrupt): record 'archive/code/__torch__.py' "
                     "line 2: is not an attribute declaration: '  __rpaameters__ = []'");
}

TEST_F(ArchiveCheck, TruncationsAreRefusedAtEveryPoint) {
  std::vector<size_t> cuts;
  for (size_t cut = 0; cut < bytes_.size(); cut += bytes_.size() / 97 + 1) cuts.push_back(cut);
  // The zip end records and the directory's tail, byte by byte.
  for (size_t back = 1; back <= 300; ++back) cuts.push_back(bytes_.size() - back);
  for (const size_t cut : cuts) {
    write_file_atomic(dir_.file("cut.pt"), bytes_.substr(0, cut));
    EXPECT_THROWS_WITH(CheckpointReader(dir_.file("cut.pt")), "cut.pt: not a readable daas checkpoint");
  }
}

TEST_F(ArchiveCheck, ByteFlipsAreCaughtByTheirCrc) {
  std::istringstream in(bytes_);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  const std::string tensor = "data/" + float_record().first;
  for (const std::string& name :
       {std::string("data.pkl"), std::string("constants.pkl"), std::string("version"), tensor}) {
    const size_t start = reader.getRecordOffset(name);
    const size_t size = record(records_, name).size();
    for (size_t at = start; at < start + size; ++at) {
      std::string flipped = bytes_;
      flipped[at] = static_cast<char>(flipped[at] ^ (1 << (at % 8)));
      expect_refused(flipped, fmt::format("record 'archive/{}' has CRC-32", name));
    }
  }
  std::string flipped = bytes_;
  flipped[reader.getRecordOffset("data.pkl") + 40] ^= 0x20;
  write_file_atomic(dir_.file("flipped.pt"), flipped);
  EXPECT_THROWS_WITH(CheckpointReader(dir_.file("flipped.pt")),
                     "flipped.pt: not a readable daas checkpoint (truncated or corrupt): record 'archive/data.pkl' "
                     "has CRC-32");
}

TEST_F(ArchiveCheck, ForgedPicklesAreRefusedByName) {
  const auto pickle = [&](const std::string& data, const std::string& message) {
    SCOPED_TRACE(message);
    expect_refused(with_record(bytes_, "data.pkl", data), "record 'archive/data.pkl' " + message);
  };
  // The stack underflows that crashed LibTorch's unpickler (SIGSEGV, SIGABRT).
  pickle("\x80\x02\x85.", "byte 2, opcode 0x85 (TUPLE1): pops an empty stack");
  pickle("\x80\x02N\x87.", "byte 3, opcode 0x87 (TUPLE3): pops an empty stack");
  pickle(
      "\x80\x02"
      "b.",
      "byte 2, opcode 0x62 (BUILD): pops an empty stack");
  pickle("\x80\x02\x81.", "byte 2, opcode 0x81 (NEWOBJ): pops an empty stack");
  pickle("\x80\x02NR.", "byte 3, opcode 0x52 (REDUCE): pops an empty stack");
  pickle("\x80\x02NN(\x86t.", "byte 5, opcode 0x86 (TUPLE2): pops an empty stack (nothing above the last MARK)");
  // Nesting that overflowed its C++ stack when freed.
  pickle("\x80\x02" + std::string(100000, '(') + ")" + std::string(100000, 't') + ".",
         "byte 66, opcode 0x28 (MARK): more than 64 MARKs open");
  pickle("\x80\x02)" + std::string(100, '\x85') + ".",
         "byte 66, opcode 0x85 (TUPLE1): values nested more than 64 deep");
  // Sizes that drove allocations.
  pickle("\x80\x02Nr\xff\xff\xff\x0f.", "byte 3, opcode 0x72 (LONG_BINPUT): memo id 268435455 skips ids");
  pickle(bin("\x80\x02X\xff\xff\xff\x7f"), "byte 2, opcode 0x58 (BINUNICODE): needs 2147483647 argument bytes");
  // Everything else the simulation tracks.
  pickle("\x80\x02h\x05.", "byte 2, opcode 0x68 (BINGET): memo id 5 was never set");
  pickle("\x80\x02(N.", "byte 4, opcode 0x2e (STOP): 1 MARK(s) still open");
  pickle("\x80\x02NN.", "byte 4, opcode 0x2e (STOP): 2 values on the stack; expected exactly one");
  pickle("\x80\x02N.N", "byte 3, opcode 0x2e (STOP): 1 more bytes follow");
  pickle("\x80\x02N", "ends at byte 3 inside its pickle");
  pickle("\x80\x03N.", "starts with '\\x80\\x03'; expected a pickle of protocol 2");
  pickle("\x80\x02S'x'\n.", "byte 2, opcode 0x53 (STRING): not an opcode LibTorch's pickler writes");
  pickle("\x80\x02\xff.", "byte 2, opcode 0xff (not a pickle opcode)");
  pickle(
      "\x80\x02"
      "cos\nsystem\n.",
      "byte 2, opcode 0x63 (GLOBAL): 'os system' is not a global daas archives use");
  pickle(
      "\x80\x02"
      "c__torch__\nNowhere\n.",
      "byte 2, opcode 0x63 (GLOBAL): class '__torch__.Nowhere' is not defined by the archive's code records");
  pickle(bin("\x80\x02]q\x00(h\x00"
             "e."),
         "byte 8, opcode 0x65 (APPENDS): puts a list inside itself");
  pickle(
      "\x80\x02}(N"
      "u.",
      "byte 5, opcode 0x75 (SETITEMS): 1 values for a dict; expected key and value pairs");
  pickle(bin("\x80\x02K\x00NR."),
         "byte 5, opcode 0x52 (REDUCE): calls a int 0; expected a function or class from GLOBAL");
  pickle("\x80\x02)N.", "byte 4, opcode 0x2e (STOP): 2 values");
  pickle("\x80\x02).", "holds a tuple; expected a module object");
}

TEST_F(ArchiveCheck, TensorsMustLieInsideTheirRecords) {
  const auto [key, numel] = float_record();
  const auto forged = [&](const std::string& data) { return with_record(bytes_, "data.pkl", data); };
  // The view exactly covering its storage passes the check (LibTorch then
  // refuses the object, which lacks the module's attributes: still one line).
  const std::string fits = forged(tensor_pickle(key, numel, {numel}, {1}));
  EXPECT_NO_THROW(check_torch_archive(fits, "fits.pt"));
  write_file_atomic(dir_.file("fits.pt"), fits);
  EXPECT_THROWS_WITH(CheckpointReader(dir_.file("fits.pt")),
                     "fits.pt: not a readable daas checkpoint (truncated or corrupt): ");
  expect_refused(forged(tensor_pickle(key, numel, {numel + 1}, {1})),
                 fmt::format("reaches past its storage of {} elements", numel));
  expect_refused(forged(tensor_pickle(key, numel, {2, numel}, {numel, 1})), "reaches past its storage");
  expect_refused(forged(tensor_pickle(key, numel, {numel}, {1}, 1)), "from element 1 reaches past its storage");
  expect_refused(forged(tensor_pickle(key, numel, {1 << 30, 1 << 30, 1 << 30}, {0, 0, 0})), "reaches past its storage");
  expect_refused(forged(tensor_pickle(key, numel, {numel}, {-1})), "a tensor's strides holds a int -1");
  expect_refused(forged(tensor_pickle(key, numel, {numel}, {1, 1})), "a tensor has 1 sizes and 2 strides");
  expect_refused(forged(tensor_pickle(key, numel + 1, {numel}, {1})),
                 fmt::format("tensor record 'data/{}' holds {} bytes but the pickle says {} elements of 4 bytes", key,
                             numel * 4, numel + 1));
  expect_refused(forged(tensor_pickle("999", numel, {numel}, {1})), "tensor record 'data/999' is missing");
  // The record itself cut short or removed.
  const std::string& data = record(records_, "data/" + key);
  expect_refused(with_record(bytes_, "data/" + key, data.substr(0, data.size() / 2)),
                 fmt::format("tensor record 'data/{}' holds {} bytes", key, data.size() / 2));
  expect_refused(with_record(bytes_, "data/" + key, std::nullopt),
                 fmt::format("tensor record 'data/{}' is missing", key));
}

TEST_F(ArchiveCheck, ForgedByteFlipsOfDataPklNeverCrash) {
  // Every flip gives a pickle with valid CRC-32s: the checker or LibTorch
  // must refuse it with daas's error, or it loads; never a crash.
  const std::string& pickle = record(records_, "data.pkl");
  int refused_by_check = 0;
  int loaded = 0;
  for (size_t at = 2; at < pickle.size(); ++at) {
    std::string changed = pickle;
    changed[at] = static_cast<char>(changed[at] ^ (0x41 + at % 3));
    write_file_atomic(dir_.file("f.pt"), with_record(bytes_, "data.pkl", changed));
    try {
      check_torch_archive(read_file(dir_.file("f.pt")), "f.pt");
    } catch (const Error&) {
      ++refused_by_check;
    }
    try {
      CheckpointReader reader(dir_.file("f.pt"));
      reader.json("state");
      ++loaded;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("f.pt: "), std::string::npos) << e.what();
    }
  }
  // Most flips break the opcode stream; the rest change a name (LibTorch
  // then misses an attribute) or a number (harmless: it loads).
  EXPECT_GT(refused_by_check, static_cast<int>(pickle.size() / 2));
  EXPECT_GT(loaded, 0);
}

TEST_F(ArchiveCheck, BadZipDirectoriesAreNamed) {
  const size_t end = bytes_.size() - 22;
  const size_t directory = le32(bytes_, end + 16);
  {
    std::string b = bytes_ + "junk";
    expect_refused(b, "no zip end-of-directory record in the last 22 bytes");
    expect_refused("PK", "the file is 2 bytes; expected a zip archive of at least 52 bytes");
  }
  {
    std::string b = bytes_;
    put_le(b, end + 20, 1, 2);
    expect_refused(b, "the zip end record has a 1-byte comment; expected none");
  }
  {
    std::string b = bytes_;
    put_le(b, end + 16, directory + 46, 4);
    expect_refused(b, "the zip end records disagree");
  }
  {
    std::string b = bytes_;
    put_le(b, end - 20 - 56 + 48, directory + 46, 8);  // zip64's directory offset
    put_le(b, end + 16, directory + 46, 4);
    expect_refused(b, fmt::format("the zip directory is said to take bytes {} to", directory + 46));
  }
  {
    std::string b = bytes_;
    put_le(b, end - 20 - 56 + 32, 100000, 8);  // zip64's entry counts
    put_le(b, end - 20 - 56 + 24, 100000, 8);
    put_le(b, end + 8, 0xffff, 2);
    put_le(b, end + 10, 0xffff, 2);
    expect_refused(b, "is said to hold 100000 records");
  }
  const size_t entry = directory_entry(bytes_, "archive/data.pkl");
  {
    std::string b = bytes_;
    put_le(b, entry + 42, 1, 4);
    expect_refused(b, "record 'archive/data.pkl' has no local zip header at byte 1");
  }
  {
    std::string b = bytes_;
    put_le(b, entry + 20, 0x7ffffff0, 4);
    put_le(b, entry + 24, 0x7ffffff0, 4);
    expect_refused(b, "the data of record 'archive/data.pkl' (2147483632 bytes from byte");
  }
  {
    std::string b = bytes_;
    put_le(b, entry + 24, 7, 4);
    expect_refused(b, "stored record 'archive/data.pkl' is");
  }
  {
    std::string b = bytes_;
    // Two records' names swapped in the directory only.
    const size_t one = directory_entry(bytes_, "archive/data/1");
    const size_t two = directory_entry(bytes_, "archive/data/2");
    b.replace(one + 46, 14, "archive/data/2");
    b.replace(two + 46, 14, "archive/data/1");
    expect_refused(b, "the local header of record 'archive/data/");
  }
  {
    std::string b = bytes_;
    put_le(b, entry + 8, 1, 2);  // encrypted
    expect_refused(b, "record 'archive/data.pkl' has zip flags 0x0001");
  }
  {
    std::string b = bytes_;
    b[entry] = 'X';
    expect_refused(b, "is not a directory entry");
  }
  expect_refused(with_record(bytes_, "Data.pkl", std::string("\x80\x02N.")), "record 'archive/Data.pkl' appears twice");
  expect_refused(with_record(bytes_, "model.json", std::string("{}")),
                 "record 'archive/model.json' is not one a daas archive holds");
  expect_refused(with_record(bytes_, "constants.pkl", std::nullopt), "the archive has no 'constants.pkl' record");
  expect_refused(patched(bytes_, "archive/version", "0\n"),
                 "record 'archive/version' holds '0'; expected a format version");
  expect_refused(patched(bytes_, "archive/version", "x\n"),
                 "record 'archive/version' holds 'x'; expected a format version");
}

TEST_F(ArchiveCheck, ForgedTorchScriptIsRefused) {
  const auto code = [&](const std::string& text, const std::string& message) {
    SCOPED_TRACE(message);
    expect_refused(with_record(bytes_, "code/__torch__.py", text), message);
  };
  const std::string head = "class Module(Module):\n  __parameters__ = []\n  __buffers__ = []\n";
  const std::string original = record(records_, "code/__torch__.py");
  EXPECT_NO_THROW(check_torch_archive(with_record(bytes_, "code/__torch__.py", original), "same.pt"));
  code(head + "  def forward(self, x):\n    return x\n", "line 4: is not an attribute declaration: '  def forward");
  code(head + "  x : Final[int] = 3\n", "line 4: declares a type outside those daas writes");
  code(head + "  __constants__ : int\n", "line 4: is not an attribute declaration");
  code(head + "  me : __torch__.Module\n", "class '__torch__.Module' contains itself");
  code(head + "  other : __torch__.nowhere.Module\n",
       "refers to class '__torch__.nowhere.Module', which no code record");
  code(head + "  t : " + std::string(20, 'O') + "\n", "declares a type outside those daas writes");
  code(head + "  t : Optional[Optional[Optional[Optional[Optional[Optional[Optional[Optional[Optional[int]]]]]]]]]\n",
       "declares a type outside those daas writes");
  code("import os\n" + head, "line 1: comes before any class");
  code(head + "class Module(Module):\n", "line 4: defines a class a second time");
  code(head + "  a : int\t\n", "line 4: holds a control or non-ASCII byte");
  code("", "record 'archive/code/__torch__.py' is empty");
  // The debug record: ranges into its string table.
  const std::string intlist = "ctorch.jit._pickle\nbuild_intlist\n(](";
  const auto debug = [&](const std::string& indices, int start, int end) {
    return "\x80\x02(" + str("FORMAT_WITH_STRING_TABLE") + "(" + str("") + str("class") + "t((" + binint(0) + "((" +
           intlist + indices + "etR" + binint(0) + binint(0) + "t" + binint(start) + binint(end) + "t" + binint(0) +
           "ttt.";
  };
  const auto debug_record = [&](const std::string& data) {
    return with_record(bytes_, "code/__torch__.py.debug_pkl", data);
  };
  EXPECT_NO_THROW(check_torch_archive(debug_record(debug(binint(1), 0, 5)), "d.pt"));
  expect_refused(debug_record(debug(binint(7), 0, 0)), "a line index outside the string table");
  expect_refused(debug_record(debug(binint(1), 0, 6)), "a range outside its source text");
  expect_refused(debug_record(debug(binint(1), 3, 2)), "a range outside its source text");
  expect_refused(debug_record("\x80\x02" + str("FORMAT_WITH_STRING_TABLE") + "."),
                 "not a (format, texts, ranges) tuple");
}

}  // namespace
}  // namespace daas::core
