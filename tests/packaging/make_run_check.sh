#!/bin/sh
# `make -n run` with a `date` that answers differently at every call: every
# command of the recipe must name the same run folder (the folder is fixed
# once per make, not per recipe line). Usage: make_run_check.sh SOURCE_DIR
set -eu
src=$1
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat > "$fake/date" <<'SH'
#!/bin/sh
count="$(dirname "$0")/count"
n=$(cat "$count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$count"
echo "call$n"
SH
chmod +x "$fake/date"
out=$(cd "$src" && env -u RUN PATH="$fake:$PATH" make -n run BUILD="$fake/build")
folders=$(printf '%s\n' "$out" | grep -o 'runs/fashion-call[0-9]*' | sort -u)
count=$(printf '%s\n' "$folders" | grep -c . || true)
if [ "$count" -ne 1 ]; then
  echo "make run names $count run folders: $folders"
  exit 1
fi
echo "make_run_check: ok ($folders)"
