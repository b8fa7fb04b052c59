#!/bin/sh
# `cmake --install` into a temporary prefix: the installed daas, run from /
# without DAAS_CONFIGS, finds a profile that exists only under
# <prefix>/share/daas/configs, and names that folder first when a profile is
# missing. Usage: install_check.sh BUILD_DIR
set -eu
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
test -x "$prefix/bin/daas"
test -f "$prefix/share/daas/configs/smoke.yaml"
cp "$prefix/share/daas/configs/smoke.yaml" "$prefix/share/daas/configs/installed-only.yaml"
cd /
env -u DAAS_CONFIGS "$prefix/bin/daas" search --profile installed-only --dry-run > "$prefix/out"
grep -q "(profile installed-only)" "$prefix/out"
if env -u DAAS_CONFIGS "$prefix/bin/daas" search --profile nosuch --dry-run 2> "$prefix/err"; then
  echo "install_check: a missing profile was not an error"
  exit 1
fi
grep -q "looked up in: $prefix/share/daas/configs" "$prefix/err" || {
  cat "$prefix/err"
  exit 1
}
echo "install_check: ok"
