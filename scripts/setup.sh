#!/usr/bin/env bash
# Installs every Debian package daas needs to build, test and run its default
# job. Idempotent: packages already present are skipped, and apt is not
# touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config make
  libtorch-dev                          # tensors, autograd, kernels
  libgloo-dev                           # Gloo headers, which c10d's ProcessGroupGloo.hpp includes (runs over several processes)
  libcli11-dev                          # command line
  libyaml-cpp-dev                       # profiles and config.yaml
  nlohmann-json3-dev                    # genotype/policy/metrics JSON
  libspdlog-dev libfmt-dev              # logging and formatting
  zlib1g-dev libpng-dev libjpeg-dev     # .gz data sets, PNG and JPEG images
  libgtest-dev libgmock-dev googletest  # tests
  libbenchmark-dev                      # benchmarks
  clang-format                          # formatting check
  dataset-fashion-mnist                 # the default data set
  python3 python3-torchvision python3-numpy  # torchvision (and torch): oracle of the augmentation parity tests, loader of the export test
  graphviz                              # daas report: the cells drawn by dot
  chromium fonts-dejavu-core            # the report tests open reports in headless Chromium
)
# `scripts/setup.sh fuzz` (make fuzz): clang and its libFuzzer runtime.
if [ "${1:-}" = fuzz ]; then
  packages+=(clang libclang-rt-14-dev)
fi
# npm fetches the plotting libraries daas report inlines (at configure time,
# cmake/report_assets.cmake). A Node.js already installed with its own npm
# is used as it is; otherwise Debian's.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
