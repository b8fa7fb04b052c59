#!/bin/sh
# Depthwise and pointwise convolutions, 3×3 pools and BatchNorm, daas's
# kernels vs LibTorch's (oneDNN for the convolutions), one run:
#   bench/depthwise.sh [BUILD_DIR] [benchmark flags...]
#   bench/depthwise.sh build --benchmark_filter=Pointwise    # the 1×1 ones only
#   bench/depthwise.sh build --benchmark_filter=Pool         # the pools only
#   bench/depthwise.sh build --benchmark_filter=BatchNorm    # BatchNorm only
# Prints the median time of each case, pass and thread count, and LibTorch's
# time over ours (above 1: ours is faster) for each instruction set.
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$build/bench/bench_depthwise" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json "$@" >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import json, sys
medians = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    kind, case, step, isa, threads = b["run_name"].split("/")[:5]
    case = kind[3:] + " " + case
    medians[(case, step, threads.split(":")[1], isa)] = b["real_time"]
reference = ("onednn", "libtorch")
isas = sorted({k[3] for k in medians if k[3] not in reference})
print(f"{'case':28} {'pass':11} thr {'LibTorch us':>11} " + " ".join(f"{i + ' us':>12} {'x':>5}" for i in isas))
for (case, step, threads, isa), t in medians.items():
    if isa not in reference:
        continue
    cells = [f"{medians[(case, step, threads, i)]:12.1f} {t / medians[(case, step, threads, i)]:5.2f}" for i in isas]
    print(f"{case:28} {step:11} {threads:>3} {t:11.1f} " + " ".join(cells))
PY
