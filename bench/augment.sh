#!/bin/sh
# Augmentation throughput, daas vs torchvision, same machine and thread count:
#   bench/augment.sh [BUILD_DIR] [THREADS]
# Prints daas's images/s for the autoaugment-cifar10 and searched-policy
# pipelines (256 × 3 × 32 × 32 uint8) and torchvision's AutoAugment(CIFAR10)
# applied image by image, then the ratios.
set -eu
build=${1:-build}
threads=${2:-1}
here=$(dirname "$0")
daas=$("$build/bench/bench_augment" --threads="$threads" \
  --benchmark_filter='AutoAugmentPolicy|AutoAugmentPipeline|SearchablePolicyStep|SearchedPolicyPipeline' \
  --benchmark_format=csv 2>/dev/null)
tv=$(/usr/bin/python3 "$here/augment_torchvision.py" --threads "$threads" --seconds 5)
echo "$tv"
policy=$(echo "$tv" | sed -n '1s/.*: \([0-9]*\) images\/s/\1/p')
pipeline=$(echo "$tv" | sed -n '2s/.*: \([0-9]*\) images\/s/\1/p')
echo "$daas" | awk -F, -v tv="$policy" -v tvp="$pipeline" -v threads="$threads" '
  /^"BM_/ { name = $1; gsub(/"|\/min_time:[0-9.]*|\/real_time/, "", name)
            printf "daas %-26s %d thread(s): %7.0f images/s = %5.1fx torchvision AutoAugment, %5.1fx its pipeline\n",
                   name, threads, $7, $7 / tv, $7 / tvp }'
