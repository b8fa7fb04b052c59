#!/bin/sh
# Two processes × 1 thread (c10d, Gloo on 127.0.0.1) against one process ×
# 2 threads, for the joint search step (fashion settings) and the retraining
# step (DARTS_V2, C 16, 8 cells, batch 96), on the same global batches:
#   bench/dist_compare.sh [BUILD_DIR]
# Prints training images/s of each configuration (median over ROUNDS,
# alternating) and, for two processes, the share of the timed steps spent in
# all-reduces (communication_seconds / seconds of metrics.jsonl: sending,
# receiving and waiting for the slower process). Environment: ROUNDS (3),
# STEPS steps per epoch (20; the second epoch is timed, the first warms up).
# Only meaningful on a quiet machine with at least 2 free cores.
set -eu
build=${1:-build}
rounds=${ROUNDS:-3}
steps=${STEPS:-20}
daas="$build/daas"
[ -x "$daas" ] || { echo "dist_compare.sh: $daas not found; build it first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name|command and settings
cases="joint-search|search --profile fashion --mode joint --subset 12000
retrain|train --profile fashion --genotype DARTS_V2 --channels 16 --layers 8 --batch-size 96 --eval-every 1000 --subset 12000"

# The second epoch's field `key` of a run folder's metrics.jsonl.
field() {
  python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(r[1].get(sys.argv[2], 0))' \
    "$1/metrics.jsonl" "$2"
}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "$cases" | while IFS='|' read -r name command; do
  : >"$work/one" ; : >"$work/two" ; : >"$work/share"
  for round in $(seq "$rounds"); do
    rm -rf "$work/a" "$work/b"
    # shellcheck disable=SC2086
    "$daas" $command --epochs 2 --steps-per-epoch "$steps" --threads 2 --quiet --out "$work/a" >/dev/null
    field "$work/a" images_per_second >>"$work/one"
    # shellcheck disable=SC2086
    "$daas" $command --epochs 2 --steps-per-epoch "$steps" --threads 1 --nproc 2 --quiet --out "$work/b" >/dev/null
    field "$work/b" images_per_second >>"$work/two"
    python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.strip()][1]; s=r.get("train_seconds", r["seconds"]); print(r["communication_seconds"] / s)' \
      "$work/b/metrics.jsonl" >>"$work/share"
  done
  printf '%-14s 1 process x 2 threads %8.1f img/s | 2 processes x 1 thread %8.1f img/s | communication %4.1f%% of a step\n' \
    "$name" "$(median <"$work/one")" "$(median <"$work/two")" "$(python3 -c 'import sys; print(100 * float(sys.argv[1]))' "$(median <"$work/share")")"
done
