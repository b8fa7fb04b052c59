#pragma once
// Checks a LibTorch archive (model.pt, checkpoint.pt) before LibTorch reads
// it. LibTorch 1.13's reader trusts the file: a damaged or hostile archive
// can crash it (a shuffled TorchScript line, a pickle that pops an empty
// stack, a tensor view past its storage) or make it allocate whatever a size
// field says. The check accepts only what daas's own writer produces (an
// uncompressed-or-deflate zip of version, data.pkl, constants.pkl, data/N
// tensor records and TorchScript module declarations) and fails with one
// line naming the file, what is wrong and what was expected.
#include <string>
#include <string_view>

namespace daas::core {

/// Reads `path` (raw bytes, no decompression) and checks it with
/// check_torch_archive; returns the bytes, so that exactly what was checked
/// is what LibTorch loads.
std::string read_checked_torch_archive(const std::string& path);

/// Fails (daas::core::Error: "<path>: not a readable daas checkpoint (truncated or
/// corrupt): ...") unless `bytes`, the contents of `path`, are an archive
/// LibTorch can load safely: a sane zip directory, every record's CRC-32,
/// every pickle (data.pkl, constants.pkl, code/*.debug_pkl) a well-formed
/// opcode stream of the subset LibTorch writes whose tensors lie inside their
/// records, and every TorchScript record a plain module declaration.
void check_torch_archive(std::string_view bytes, const std::string& path);

}  // namespace daas::core
