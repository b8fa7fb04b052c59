#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/) for a while on its corpus:
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
# TARGETs (e.g. model_file) limit the run to those; FUZZ_JOBS sets the
# build's parallelism (default: every core). BUILD_DIR is configured with
# clang, ASan, UBSan and -DDAAS_FUZZ=ON. New interesting inputs go into
# fuzz/corpus/<target>; a crash leaves BUILD_DIR/fuzz-findings/<target>/crash-*
# and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: checks a fuzzer cannot pass by
# mutation (the model archive's CRC-32s) are skipped, so that the inputs reach
# the checks behind them, as a forged file would.
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
flags="$flags -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DDAAS_FUZZ=ON -DDAAS_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="$flags" >/dev/null
known=$(sed -n 's/^set(DAAS_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt)
targets=${*:-$known}
for target in $targets; do
  case " $known " in
    *" $target "*) ;;
    *) echo "fuzz.sh: unknown target '$target'; expected one of: $known" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC2086 # target names are words
cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target $(for t in $targets; do echo "fuzz_$t"; done)
status=0
for target in $targets; do
  findings="$build/fuzz-findings/$target"
  mkdir -p "$findings"
  echo "== $target: $seconds s"
  # LibTorch itself is not instrumented and keeps allocations for the
  # process's life: no leak check. 2 GiB of memory at most per input.
  if ! ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -timeout=20 -artifact_prefix="$findings/" "fuzz/corpus/$target" 2>"$findings/log.txt"; then
    echo "   finding: see $findings (log.txt and crash-*)"
    tail -n 30 "$findings/log.txt"
    status=1
  else
    grep -E '^Done|#[0-9]+.*DONE' "$findings/log.txt" | tail -n 1 || true
  fi
done
exit $status
