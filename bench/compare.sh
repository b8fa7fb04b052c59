#!/bin/sh
# daas against a plain PyTorch reference, same machine, same kernels
# (LibTorch 1.13 and Debian's python3-torch 1.13), 2 threads each:
#   bench/compare.sh [BUILD_DIR]
# For every case runs daas (BUILD_DIR/bench/bench_compare) then Python
# (bench/reference.py), alternating, ROUNDS rounds, and prints the median
# images/s of each over the rounds and the median of the rounds' ratios
# daas / Python (each round's pair ran back to back, so its ratio is less
# exposed to the machine's drift than a ratio of two medians).
# Environment: ROUNDS (3), STEPS timed steps per run (10), WARMUP (3),
# CASES (space-separated case names; all by default), PYTHON (/usr/bin/python3),
# PYTHON_MALLOC: "daas" (default) runs Python with the glibc malloc settings
# daas makes for itself at start-up (keep_freed_memory in
# src/daas/core/runtime.cpp: mmap threshold 32 MiB, trim threshold 512 MiB,
# top pad 64 MiB), "default" with glibc's own. With glibc's defaults, large
# blocks are mmapped until the dynamic threshold has risen and the heap is
# trimmed as they are freed, so the kernel faults in and zeroes activation
# memory step after step; on a virtual machine with costly page faults that
# made the Python side 4-6x slower in inference, which measures the
# allocator rather than the engine. Blocks above 32 MiB are mmapped whatever
# the settings: at batch 256 Python's whole-batch cell outputs (37-49 MiB)
# still are, while daas's ranks hold half a batch each and keep theirs in
# the heap, so for inference the settings level the field only in part.
# A GLIBC_TUNABLES of your own is kept (the malloc settings are appended).
# OMP_WAIT_POLICY is left alone: daas chooses its own wait policy (passive),
# Python runs with libgomp's default (spinning). On a busy machine spinning
# costs many times more (measured: a Python DARTS_V2 training step 5.9x slower
# than with PASSIVE next to other jobs), so compare on a quiet machine.
set -eu
build=${1:-build}
here=$(dirname "$0")
rounds=${ROUNDS:-3}
steps=${STEPS:-10}
warmup=${WARMUP:-3}
python=${PYTHON:-/usr/bin/python3}
daas="$build/bench/bench_compare"
python_malloc=${PYTHON_MALLOC:-daas}
case "$python_malloc" in
  daas)
    python_env="GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912:glibc.malloc.top_pad=67108864"
    python_malloc_text="daas's settings ($python_env)" ;;
  default)
    # `env` needs an assignment; this one changes nothing.
    python_env="DAAS_COMPARE_MALLOC=default"
    python_malloc_text="glibc's defaults" ;;
  *) echo "compare.sh: PYTHON_MALLOC '$python_malloc'; expected daas or default" >&2; exit 2 ;;
esac
[ -x "$daas" ] || { echo "compare.sh: $daas not found; build it: cmake --build $build --target bench_compare" >&2; exit 1; }

# name|flags (both programs take the same flags)
all_cases="a-joint-c16|--case joint --channels 16 --layers 8 --batch 64 --shape 1x28x28
b-joint-fashion|--case joint --channels 8 --layers 5 --batch 64 --shape 1x28x28
b-arch-fashion|--case arch --channels 8 --layers 5 --batch 64 --shape 1x28x28
c-train-darts_v2|--case train --genotype DARTS_V2 --channels 16 --layers 8 --batch 96 --shape 1x28x28
c-infer-darts_v2|--case infer --genotype DARTS_V2 --channels 16 --layers 8 --batch 256 --shape 1x28x28
d-joint-c16-rgb32|--case joint --channels 16 --layers 8 --batch 64 --shape 3x32x32
e-train-rich|--case train --genotype $here/rich_genotype.txt --channels 16 --layers 8 --batch 96 --shape 1x28x28"

echo "daas vs plain PyTorch, $(date '+%Y-%m-%d %H:%M:%S %Z')"
# busy_cores: how many cores other processes kept busy over the last second
# (from /proc/stat; the load average lags by minutes, so a benchmark that
# just ended would read as a busy machine).
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
busy_cores() {
  before=$(cpu_ticks)
  sleep 1
  after=$(cpu_ticks)
  echo "$before $after" | awk -v n="$(nproc)" '{ printf "%.2f", n * ($3 - $1) / (($4 - $2) > 0 ? $4 - $2 : 1) }'
}
busy=$(busy_cores)
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $busy cores busy over the last second, load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "python: $("$python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')"
echo "rounds $rounds, $warmup warm-up + $steps timed steps per run, 2 threads, OMP_WAIT_POLICY ${OMP_WAIT_POLICY:-unset}"
echo "python malloc: $python_malloc_text"
if [ -z "${OMP_WAIT_POLICY:-}" ] && awk -v b="$busy" 'BEGIN { exit !(b > 0.5) }'; then
  echo "warning: the machine is busy; libgomp's default spin-waiting (the Python side) then loses far more than"
  echo "         daas's passive waiting, and the ratios measure mostly that (OMP_WAIT_POLICY=PASSIVE sets both)"
fi

# selected NAME: whether CASES (if set) names the case.
selected() { [ -z "${CASES:-}" ] || echo " $CASES " | grep -q " $1 "; }

echo "$all_cases" | while IFS='|' read -r name flags; do
  if selected "$name"; then printf '  %-18s %s\n' "$name" "$flags"; fi
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# One run: prints its images/s, or "-" when it failed (its error on stderr).
run() {
  out=$("$@" --steps "$steps" --warmup "$warmup" </dev/null) || true
  value=$(echo "$out" | sed -n 's/^RESULT .*img_per_s=\([0-9.]*\).*/\1/p')
  echo "${value:--}"
}

round=1
while [ "$round" -le "$rounds" ]; do
  echo "$all_cases" | while IFS='|' read -r name flags; do
    selected "$name" || continue
    # shellcheck disable=SC2086 # flags are words
    d=$(run "$daas" $flags)
    # shellcheck disable=SC2086
    p=$(run env "$python_env" "$python" "$here/reference.py" $flags)
    echo "round $round/$rounds $name: daas $d, python $p images/s" >&2
    echo "$name daas $d" >>"$results"
    echo "$name python $p" >>"$results"
  done
  round=$((round + 1))
done

awk '
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    if (n == 0) return ""
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  !($1 in seen) { seen[$1] = 1; order[++cases] = $1 }
  $3 != "-" { values[$1, $2] = values[$1, $2] " " $3 }
  # A round is a daas line then its Python line; a ratio where both ran.
  $2 == "daas" { last = $3 }
  $2 == "python" && last != "-" && $3 != "-" && $3 > 0 {
    ratios[$1] = ratios[$1] " " (last / $3)
  }
  END {
    printf "\n%-18s %14s %14s %18s %s\n", "case", "daas img/s", "python img/s", "daas/python", "  (rounds)"
    for (c = 1; c <= cases; c++) {
      name = order[c]
      d = median(values[name, "daas"]); p = median(values[name, "python"]); r = median(ratios[name])
      shown = ""; n = split(ratios[name], each, " ")
      for (i = 1; i <= n; i++) shown = shown " " sprintf("%.2f", each[i])
      printf "%-18s %14s %14s %18s   %s\n", name, d == "" ? "-" : sprintf("%.1f", d), p == "" ? "-" : sprintf("%.1f", p),
        r == "" ? "-" : sprintf("%.2f", r), shown
    }
  }' "$results"
