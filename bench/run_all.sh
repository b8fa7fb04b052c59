#!/bin/sh
# Runs every benchmark of a build: bench/run_all.sh [BUILD_DIR]
# OpenMP waits passively: spin-waiting on a shared machine distorts timings
# by an order of magnitude (see include/daas/core/runtime.h).
set -eu
build=${1:-build}
here=$(dirname "$0")
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
echo "== augmentation: daas vs torchvision"
sh "$here/augment.sh" "$build" 1
for name in data_read nas_step search_step; do
  echo "== $name"
  "$build/bench/bench_$name" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
done
