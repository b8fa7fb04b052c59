// Hostile but fair use of the command line (issue 14): every case is one clear
// line, exit 1 (2 for usage errors), and leaves every existing file as it was.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli_support.h"
#include "daas/core/checkpoint.h"
#include "daas/core/files.h"
#include "daas/data/image_io.h"
#include "daas/nas/genotype.h"
#include "daas/train/model.h"
#include "test_support.h"

namespace daas {
namespace {

namespace fs = std::filesystem;
using testing::run_daas;
using testing::TempDir;

#define EXPECT_FAILS_WITH(result, code, text)                                                  \
  do {                                                                                         \
    const auto r_ = (result);                                                                  \
    EXPECT_EQ(r_.exit_code, code) << r_.output;                                                \
    EXPECT_NE(r_.output.find(text), std::string::npos) << r_.output << "\nexpected: " << text; \
  } while (0)

int files_in(const std::string& dir) {
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  return files;
}

TEST(HostileCli, DeeplyNestedGenotypesAndPoliciesAreRefused) {
  TempDir dir;
  core::write_file_atomic(dir.file("deep.txt"),
                          "Genotype(normal=" + std::string(50000, '[') + std::string(50000, ']') + ")");
  EXPECT_FAILS_WITH(run_daas("info --genotype " + dir.file("deep.txt")), 1,
                    "deep.txt: genotype text: lists nested more than 8 deep at offset 24");
  core::write_file_atomic(dir.file("deep.json"),
                          "{\"normal\": " + std::string(200000, '[') + std::string(200000, ']') + "}");
  EXPECT_FAILS_WITH(run_daas("info --genotype " + dir.file("deep.json")), 1,
                    "deep.json: genotype JSON: JSON nested more than 32 levels deep");
  core::write_file_atomic(dir.file("policy.json"), std::string(100000, '[') + std::string(100000, ']'));
  data::write_png(dir.file("a.png"), torch::zeros({3, 8, 8}, torch::kUInt8));
  EXPECT_FAILS_WITH(run_daas("augment --policy file:" + dir.file("policy.json") + " --input " + dir.file("a.png") +
                             " --out " + dir.file("out")),
                    1, "policy.json: JSON nested more than 32 levels deep at byte 32; expected at most 32");
}

TEST(HostileCli, SizesFromFilesAndSettingsAreBoundedBeforeAllocating) {
  TempDir dir;
  core::write_file_atomic(dir.file("g.txt"),
                          "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(0, "
                          "1000000000000), reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])");
  EXPECT_FAILS_WITH(run_daas("info --genotype " + dir.file("g.txt")), 1,
                    "g.txt: genotype text: range(0, 1000000000000) has more than 64 nodes");
  EXPECT_FAILS_WITH(run_daas("train --profile smoke --channels 1024 --layers 200 --out " + dir.file("t")), 1,
                    "--channels/--layers: C 1024 with 200 layers is too large a network");
  EXPECT_FAILS_WITH(run_daas("train --profile smoke --channels 4096 --out " + dir.file("t")), 2,
                    "setting 'channels' = 4096 (from --channels) is out of range; expected a value in [4, 1024]");
  EXPECT_FAILS_WITH(run_daas("train --profile smoke --channels 2 --out " + dir.file("t")), 2,
                    "setting 'channels' = 2 (from --channels) is out of range; expected a value in [4, 1024]");
  EXPECT_FALSE(fs::exists(dir.file("t")));
}

TEST(HostileCli, ProfileKeysAreValidated) {
  TempDir dir;
  auto with = [&](const std::string& text) {
    core::write_file_atomic(dir.file("p.yaml"), text);
    return run_daas("search --dry-run --profile " + dir.file("p.yaml"));
  };
  EXPECT_FAILS_WITH(
      with("serach:\n  epochs: 3\n"), 1,
      "p.yaml: unknown section 'serach'; expected one of augment, eval, export, info, predict, search, train");
  EXPECT_FAILS_WITH(with("search:\n  epochs:\n"), 1, "p.yaml: setting 'search.epochs' has no value");
  EXPECT_FAILS_WITH(with("search:\n  channels: {a: 1}\n"), 1,
                    "p.yaml: setting 'search.channels' is a mapping; expected a single value");
  EXPECT_FAILS_WITH(with("search:\n  epochs: 3\n  epochs: 4\n"), 1,
                    "p.yaml: setting 'search.epochs' is given twice; expected each setting once");
  EXPECT_FAILS_WITH(with("train:\n  epohcs: 3\n"), 1,
                    "p.yaml: unknown setting 'train.epohcs'; known settings of train:");
  EXPECT_FAILS_WITH(with("search:\n  epochs: [3]\n"), 1, "p.yaml: setting 'search.epochs' is a list");
}

TEST(HostileCli, AugmentValuesOutOfRangeAreRefused) {
  TempDir dir;
  data::write_png(dir.file("a.png"), torch::zeros({3, 8, 8}, torch::kUInt8));
  const std::string io = " --input " + dir.file("a.png") + " --out " + dir.file("out");
  EXPECT_FAILS_WITH(run_daas("augment --op Invert --value 5" + io), 2,
                    "--op Invert takes no value (got '5'); expected no --level or --value, or 0");
  EXPECT_FAILS_WITH(run_daas("augment --op Identity --value -1e300" + io), 2,
                    "--op Identity takes no value (got '-1e300')");
  EXPECT_FAILS_WITH(run_daas("augment --op Posterize --value 2.5" + io), 2,
                    "--op Posterize --value 2.5: expected an integer number of bits in [0, 8]");
  EXPECT_FAILS_WITH(run_daas("augment --op Rotate --level 1.5" + io), 2,
                    "--level 1.5: out of range; expected a level in [0, 1]");
  EXPECT_FALSE(fs::exists(dir.file("out")));
  EXPECT_EQ(run_daas("augment --op Invert" + io).exit_code, 0);
}

TEST(HostileCli, AugmentNeverOverwritesItsInputsOrItsOwnOutputs) {
  TempDir dir;
  const auto image = torch::randint(255, {3, 8, 8}).to(torch::kUInt8);
  data::write_png(dir.file("a.png"), image);
  const std::string before = core::read_file(dir.file("a.png"));
  EXPECT_FAILS_WITH(run_daas("augment --op Invert --input " + dir.file("a.png") + " --out " + dir.path()), 1,
                    "would overwrite the input " + dir.file("a.png") + "; expected another folder");
  EXPECT_EQ(core::read_file(dir.file("a.png")), before);
  // Inputs of one name, or one stem, get distinct outputs; the count is the files'.
  fs::create_directories(dir.file("b"));
  data::write_png(dir.file("b/a.png"), image);
  core::write_file_atomic(dir.file("a.jpg"),
                          core::read_file(dir.file("a.png")));  // a PNG named .jpg: read by its signature
  const auto three = run_daas("augment --op Invert --input " + dir.file("a.png") + "," + dir.file("b/a.png") + "," +
                              dir.file("a.jpg") + " --out " + dir.file("out"));
  ASSERT_EQ(three.exit_code, 0) << three.output;
  EXPECT_NE(three.output.find("wrote 3 images to " + dir.file("out")), std::string::npos) << three.output;
  for (const char* name : {"a-1.png", "a-2.png", "a-jpg.png"}) EXPECT_TRUE(fs::exists(dir.file("out") + "/" + name));
  EXPECT_EQ(files_in(dir.file("out")), 3);
  const auto two = run_daas("augment --op Invert --input " + dir.file("a.png") + "," + dir.file("a.jpg") + " --out " +
                            dir.file("out2"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_TRUE(fs::exists(dir.file("out2/a-png.png")));
  EXPECT_TRUE(fs::exists(dir.file("out2/a-jpg.png")));
  EXPECT_FAILS_WITH(run_daas("augment --op Invert --input " + dir.file("b") + " --out " + dir.file("out3")), 1,
                    "--input " + dir.file("b") + ": is a folder; expected PNG/JPEG files");
}

TEST(HostileCli, UsageErrorsExit2) {
  EXPECT_EQ(run_daas("data info --epochz 3").exit_code, 2);
  EXPECT_EQ(run_daas("nosuchcommand").exit_code, 2);
  EXPECT_EQ(run_daas("search --resume").exit_code, 2);
  EXPECT_EQ(run_daas("--help").exit_code, 0);
}

/// A search or train run folder as the command would have left it after its
/// first epoch, without running it: config.yaml from --dry-run, and a
/// checkpoint.pt (`state` only; enough for the checks before loading).
std::string fake_run(const TempDir& dir, const std::string& name, const std::string& command,
                     const nlohmann::json& state) {
  const std::string run = dir.file(name);
  fs::create_directories(run);
  const std::string dry = std::string(DAAS_BINARY) + " " + command + " --profile smoke --dry-run --out " + run + " > " +
                          run + "/config.yaml";
  EXPECT_EQ(std::system(dry.c_str()), 0);
  core::CheckpointWriter writer;
  writer.json("state", state);
  writer.save(run + "/checkpoint.pt");
  return run;
}

TEST(HostileCli, ResumeWithOtherSettingsChangesNothing) {
  TempDir dir;
  const std::string search = fake_run(dir, "s", "search", {{"version", 1}});
  const std::string config = core::read_file(search + "/config.yaml");
  EXPECT_FAILS_WITH(run_daas("search --resume " + search + " --lr 0.5"), 1,
                    "--resume " + search + ": setting 'lr' is 0.5 but the run was started with 0.025 (" + search +
                        "/config.yaml); a resumed run keeps its settings");
  EXPECT_EQ(core::read_file(search + "/config.yaml"), config);
  const std::string train = fake_run(dir, "t", "train", {{"version", 1}});
  const std::string train_config = core::read_file(train + "/config.yaml");
  EXPECT_FAILS_WITH(run_daas("train --resume " + train + " --channels 16"), 1,
                    "setting 'channels' is 16 but the run was started with 8");
  EXPECT_EQ(core::read_file(train + "/config.yaml"), train_config);
  EXPECT_FAILS_WITH(run_daas("train --resume " + search), 1,
                    "--resume " + search + ": holds a daas search run (config.yaml); expected a daas train run folder");
}

TEST(HostileCli, SwappedCheckpointsNameTheirKind) {
  TempDir dir;
  const std::string search = fake_run(dir, "s", "search", {{"version", 1}, {"next_epoch", 1}, {"genotype", "x"}});
  EXPECT_FAILS_WITH(run_daas("search --resume " + search + " --threads 1"), 1,
                    "checkpoint.pt: not a daas search checkpoint (no search settings in it; a daas train checkpoint?)");
}

/// `daas <command> --threads 1 --resume run`, expecting it to fail with one
/// error line (after the line naming the run, when the run got as far as
/// loading its checkpoint) and to leave config.yaml and metrics.jsonl (or
/// their absence) as they were.
testing::CommandResult resume_fails_in_one_line(const std::string& command, const std::string& run) {
  const auto read_if_there = [](const std::string& path) {
    return core::file_exists(path) ? std::optional<std::string>(core::read_file(path)) : std::nullopt;
  };
  const std::string config = core::read_file(run + "/config.yaml");
  const auto metrics = read_if_there(run + "/metrics.jsonl");
  const auto result = run_daas(command + " --threads 1 --resume " + run);
  size_t errors = 0;
  for (size_t at = result.output.find("] error "); at != std::string::npos; at = result.output.find("] error ", at + 1))
    ++errors;
  EXPECT_EQ(errors, 1u) << result.output;
  EXPECT_EQ(result.output.find('\n', result.output.find("] error ")), result.output.size() - 1) << result.output;
  EXPECT_EQ(core::read_file(run + "/config.yaml"), config) << run;
  EXPECT_EQ(read_if_there(run + "/metrics.jsonl"), metrics) << run;
  return result;
}

TEST(HostileCli, DamagedCheckpointCountersNameTheirField) {
  TempDir dir;
  // What `train --profile smoke` trains, so the checks reach the counters.
  const std::string genotype = nas::builtin_genotype("DARTS_V2").to_darts_string();
  const auto resume = [&](const std::string& name, const nlohmann::json& counters) {
    nlohmann::json state = {{"version", 1}, {"genotype", genotype}};
    state.update(counters);
    return resume_fails_in_one_line("train", fake_run(dir, name, "train", state));
  };
  const std::string state = "/checkpoint.pt: state";
  EXPECT_FAILS_WITH(resume("half", {{"next_epoch", 1.5}}), 1,
                    dir.file("half") + state + " field \"next_epoch\" = 1.5; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("text", {{"next_epoch", "x"}}), 1,
                    dir.file("text") + state + " field \"next_epoch\" = \"x\"; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("step", {{"next_epoch", 0}, {"next_step", -2}}), 1,
                    dir.file("step") + state + " field \"next_step\" = -2; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("no_partial", {{"next_epoch", 0}, {"next_step", 3}}), 1,
                    dir.file("no_partial") + state + " has no \"partial\"");
  const nlohmann::json sums = {{"loss", 1.0}, {"correct", 5}, {"images", -32}, {"steps", 1}, {"seconds", 0.5}};
  EXPECT_FAILS_WITH(resume("images", {{"next_epoch", 0}, {"next_step", 1}, {"partial", sums}}), 1,
                    dir.file("images") + state + ".partial field \"images\" = -32; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("genotype", {{"next_epoch", 0}, {"genotype", 5}}), 1,
                    dir.file("genotype") + "/checkpoint.pt: checkpoint of genotype 5, but this run trains");
  EXPECT_FAILS_WITH(resume("version", {{"version", "1"}, {"next_epoch", 0}}), 1,
                    dir.file("version") + "/checkpoint.pt: checkpoint version \"1\", expected 1");
}

TEST(HostileCli, DamagedSearchCheckpointCountersNameTheirField) {
  // A real search's state record (its settings pass the resume check), with
  // its counters damaged; the checks come before any weights are read, so
  // the forged checkpoint holds the state record alone.
  TempDir dir;
  const std::string real = dir.file("real");
  const auto ran = run_daas("search --profile smoke --epochs 1 --steps-per-epoch 1 --threads 1 --out " + real);
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  const auto real_state = core::CheckpointReader(real + "/checkpoint.pt").json("state");
  ASSERT_EQ(real_state.value("next_epoch", -1), 1) << real_state.dump();
  const auto resume = [&](const std::string& name, const nlohmann::json& counters) {
    const std::string run = dir.file(name);
    fs::create_directories(run);
    for (const char* file : {"config.yaml", "metrics.jsonl"}) fs::copy_file(real + "/" + file, run + "/" + file);
    nlohmann::json state = real_state;
    state.update(counters);
    core::CheckpointWriter writer;
    writer.json("state", state);
    writer.save(run + "/checkpoint.pt");
    return resume_fails_in_one_line("search", run);
  };
  const std::string state = "/checkpoint.pt: state";
  EXPECT_FAILS_WITH(resume("half", {{"next_epoch", 0.5}}), 1,
                    dir.file("half") + state + " field \"next_epoch\" = 0.5; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("huge", {{"next_epoch", 1e20}}), 1,
                    dir.file("huge") + state + " field \"next_epoch\" = 1e+20; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("step", {{"next_epoch", 0}, {"next_step", "2"}}), 1,
                    dir.file("step") + state + " field \"next_step\" = \"2\"; expected an integer of at least 0");
  EXPECT_FAILS_WITH(resume("no_partial", {{"next_epoch", 0}, {"next_step", 1}, {"partial", nullptr}}), 1,
                    dir.file("no_partial") + state + " field \"partial\" = null; expected a JSON object");
  auto sums = nlohmann::json{
      {"train_loss", 1.0}, {"val_loss", 1.0}, {"advantage_std", 0.0}, {"train_correct", 5},
      {"val_correct", 5},  {"images", 32},    {"steps", -1},          {"phase_seconds", {0, 0, 0, 0, 0}}};
  EXPECT_FAILS_WITH(
      resume("steps", {{"next_epoch", 0}, {"next_step", 1}, {"partial", {{"sums", sums}, {"seconds", 1}}}}), 1,
      dir.file("steps") + state + ".partial.sums field \"steps\" = -1; expected an integer of at least 0");
  sums["steps"] = 1;
  sums["phase_seconds"] = {0, 0};
  EXPECT_FAILS_WITH(
      resume("phases", {{"next_epoch", 0}, {"next_step", 1}, {"partial", {{"sums", sums}, {"seconds", 1}}}}), 1,
      dir.file("phases") + state + ".partial.sums field \"phase_seconds\" = [0,0]; expected 5 numbers");
  sums["phase_seconds"] = {0, 0, 0, 0, 0};
  EXPECT_FAILS_WITH(
      resume("seconds", {{"next_epoch", 0}, {"next_step", 1}, {"partial", {{"sums", sums}, {"seconds", "1"}}}}), 1,
      dir.file("seconds") + state + ".partial field \"seconds\" = \"1\"; expected a finite number");
}

TEST(HostileCli, DamagedModelFilesAreOneLineNeverACrash) {
  // The fuzz finding (a shuffled model.pt that crashed LibTorch's reader) and a model cut short.
  const std::string corpus = testing::source_dir() + "/fuzz/corpus/model_file/";
  const auto shuffled = run_daas("eval --subset 100 --model " + corpus + "model_file-crash-a841272c");
  EXPECT_FAILS_WITH(shuffled, 1,
                    "model_file-crash-a841272c: not a readable daas checkpoint (truncated or corrupt): record "
                    "'archive/code/__torch__.py' has CRC-32");
  EXPECT_EQ(std::count(shuffled.output.begin(), shuffled.output.end(), '\n'), 1) << shuffled.output;
  TempDir dir;
  const std::string tiny = core::read_file(corpus + "tiny.pt");
  core::write_file_atomic(dir.file("cut.pt"), tiny.substr(0, tiny.size() - 30));
  EXPECT_FAILS_WITH(run_daas("eval --subset 100 --model " + dir.file("cut.pt")), 1,
                    "cut.pt: not a readable daas checkpoint (truncated or corrupt): no zip end-of-directory record");
}

/// The fuzz corpus's tiny.pt (a daas model whose record predates
/// data_settings: data, subset and seed alone) with its JSON record edited.
std::string forged_model(const TempDir& dir, const std::string& name,
                         const std::function<void(nlohmann::json& info, nlohmann::json& extra)>& edit) {
  const std::string tiny = testing::source_dir() + "/fuzz/corpus/model_file/tiny.pt";
  core::CheckpointReader reader(tiny);
  auto info = reader.json("info");
  auto extra = reader.json("extra");
  edit(info, extra);
  auto loaded = train::load_model(tiny, c10::Device(c10::kCPU));
  core::CheckpointWriter writer;
  writer.module("model", loaded.network->module());
  writer.json("info", info);
  writer.json("extra", extra);
  const std::string path = dir.file(name + ".pt");
  writer.save(path);
  return path;
}

TEST(HostileCli, ModelRecordFieldsAreCheckedNamingFileAndField) {
  TempDir dir;
  const auto eval = [&](const std::string& name, const std::function<void(nlohmann::json&, nlohmann::json&)>& edit) {
    const auto result = run_daas("eval --threads 1 --model " + forged_model(dir, name, edit));
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
    return result;
  };
  const std::string record = ".pt: model record) ";
  EXPECT_FAILS_WITH(eval("seed_big", [](auto&, auto& extra) { extra["seed"] = 1e300; }), 1,
                    "setting 'seed' = '1e+300' (from " + dir.file("seed_big") + record + "is not an integer");
  EXPECT_FAILS_WITH(eval("seed_neg", [](auto&, auto& extra) { extra["seed"] = -5; }), 1,
                    "setting 'seed' = -5 (from " + dir.file("seed_neg") + record +
                        "is out of range; expected a value in [0, 4294967295]");
  EXPECT_FAILS_WITH(eval("seed_text", [](auto&, auto& extra) { extra["seed"] = "x"; }), 1,
                    "setting 'seed' = 'x' (from " + dir.file("seed_text") + record + "is not an integer");
  EXPECT_FAILS_WITH(eval("subset_neg", [](auto&, auto& extra) { extra["subset"] = -5; }), 1,
                    "setting 'subset' = -5 (from " + dir.file("subset_neg") + record +
                        "is out of range; expected a value in [0, 1000000000000]");
  EXPECT_FAILS_WITH(eval("data_number", [](auto&, auto& extra) { extra["data"] = 5; }), 1,
                    dir.file("data_number") + ".pt: model record: data setting 'data' is not a text");
  // Integers of the record proper: a float is not cast to one.
  EXPECT_FAILS_WITH(eval("version_big", [](auto& info, auto&) { info["version"] = 1e20; }), 1,
                    dir.file("version_big") + ".pt: model record field \"version\" = 1e+20; expected an integer");
  EXPECT_FAILS_WITH(eval("version_half", [](auto& info, auto&) { info["version"] = 1.5; }), 1,
                    dir.file("version_half") + ".pt: model record field \"version\" = 1.5; expected an integer");
  EXPECT_FAILS_WITH(eval("version_2", [](auto& info, auto&) { info["version"] = 2; }), 1,
                    dir.file("version_2") + ".pt: model file version 2, expected 1");
  EXPECT_FAILS_WITH(eval("C_big", [](auto& info, auto&) { info["C"] = 1e300; }), 1,
                    dir.file("C_big") + ".pt: model record field \"C\" = 1e+300; expected an integer");
  // A seed given on the command line is not the record's: that one is not read.
  const auto given = run_daas("eval --threads 1 --seed 3 --data nosuchformat --model " +
                              forged_model(dir, "seed_given", [](auto&, auto& extra) { extra["seed"] = -5; }));
  EXPECT_EQ(given.output.find("'seed'"), std::string::npos) << given.output;
}

/// `daas ARGS` fails as a usage error (exit 2) with one line holding `text`.
void expect_one_usage_line(const std::string& args, const std::string& text) {
  const auto result = run_daas(args);
  EXPECT_FAILS_WITH(result, 2, text);
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
}

TEST(HostileCli, DistributedOptionsNameTheirValue) {
  const auto fails = [](const std::string& args, const std::string& text) {
    expect_one_usage_line("eval --threads 1 --model m.pt " + args, text);
  };
  // CLI11's Range let NaN through, to a timeout of -9223372036854776 s.
  fails("--nproc 2 --dist-timeout nan", "setting 'dist_timeout' = 'nan' (from --dist-timeout) is not a finite number");
  fails("--dist-timeout abc", "setting 'dist_timeout' = 'abc' (from --dist-timeout) is not a finite number");
  fails("--dist-timeout=0.01",
        "setting 'dist_timeout' = 0.01 (from --dist-timeout) is out of range; expected a value in [0.1, 86400]");
  fails("--nproc 1.5", "setting 'nproc' = '1.5' (from --nproc) is not an integer");
  fails("--nproc 0", "setting 'nproc' = 0 (from --nproc) is out of range; expected a value in [1, 4096]");
  const auto help = run_daas("eval --help");
  EXPECT_NE(help.output.find("--nproc INT"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("works as well [1] (in [1, 4096])"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("died or hangs [60] (in [0.1, 86400])"), std::string::npos) << help.output;
}

TEST(HostileCli, InfoBoundsTheNetworkItMeasures) {
  const auto fails = [](const std::string& args, const std::string& text) {
    expect_one_usage_line("info --genotype DARTS_V2 --threads 1 " + args, text);
  };
  fails("--channels 4096 --layers 1000",
        "setting 'channels' = 4096 (from --channels) is out of range; expected a value in [0, 1024]");
  fails("--layers 1000", "setting 'layers' = 1000 (from --layers) is out of range; expected a value in [0, 200]");
  // The bounds of `daas train`, C²·layers among them.
  fails("--channels 1024 --layers 200",
        "--channels/--layers: C 1024 with 200 layers is too large a network (C²·layers 209715200); expected "
        "C²·layers at most 2097152");
  fails("--channels 2", "--channels/--layers: C 2; expected 4 to 1024 channels");
  EXPECT_FAILS_WITH(run_daas("info --supernet --profile smoke --channels 1024 --layers 8"), 2,
                    "--channels/--layers: C 1024 with 8 layers is too large a network");
  // The forward pass that counts multiply-adds: its memory (3.4 GB here)...
  fails("--channels 8 --layers 3 --size 4096",
        "--size 4096: a 4096×4096 input to NetworkCIFAR with C 8 makes feature maps of 134,217,728 values; "
        "expected at most 4,194,304 (a smaller --size or --channels)");
  // ...and its time (75 s here).
  fails("--channels 102 --layers 200 --size 202",
        "--channels 102 --layers 200 --size 202: counting multiply-adds would take too long (C²·layers·side² "
        "84,904,963,200, at the cells' side 202); expected at most 2,147,483,648");
  EXPECT_EQ(run_daas("info --genotype DARTS_V2 --threads 1 --imagenet --size 512").exit_code, 0);
  EXPECT_EQ(run_daas("info --genotype DARTS_V2 --threads 1 --channels 4 --layers 3 --size 1024").exit_code, 0);
}

TEST(HostileCli, RunFoldersAreOnlyNewEmptyOrOfTheSameCommand) {
  TempDir dir;
  fs::create_directories(dir.file("foreign"));
  core::write_file_atomic(dir.file("foreign/config.yaml"), "mine: 1\n");
  core::write_file_atomic(dir.file("foreign/policy.json"), "[]\n");
  EXPECT_FAILS_WITH(run_daas("search --profile smoke --out " + dir.file("foreign")), 1,
                    "--out " + dir.file("foreign") +
                        ": the folder is not empty and holds no daas run; expected a new or empty folder (nothing in "
                        "it was changed)");
  EXPECT_EQ(core::read_file(dir.file("foreign/config.yaml")), "mine: 1\n");
  EXPECT_EQ(core::read_file(dir.file("foreign/policy.json")), "[]\n");
  const std::string search = fake_run(dir, "s", "search", {{"version", 1}});
  EXPECT_FAILS_WITH(run_daas("train --profile smoke --out " + search), 1,
                    "--out " + search +
                        ": the folder is not empty and holds a daas search run; expected a new or "
                        "empty folder");
  EXPECT_EQ(files_in(search), 2);
}

TEST(HostileCli, FullDiskWhileCheckpointingKeepsNoTemporaryAndSaysSo) {
  TempDir dir;
  const std::string run = dir.file("run");
  // ulimit -f (512-byte blocks) makes writes past 200 KiB fail as on a full
  // disk; SIGXFSZ ignored so that they fail with an error, not a signal.
  const std::string command = "sh -c \"trap '' XFSZ; ulimit -f 400; exec " + std::string(DAAS_BINARY) +
                              " search --profile smoke --threads 2 --epochs 1 --out " + run + "\" 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 1) << output;
  EXPECT_NE(output.find("checkpoint.pt: cannot write"), std::string::npos) << output;
  EXPECT_NE(output.find("(File too large); the previous file is kept"), std::string::npos) << output;
  for (const auto& entry : fs::directory_iterator(run)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace daas
