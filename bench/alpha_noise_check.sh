#!/bin/sh
# bench_alpha_noise on a tiny arch search: every estimate is printed with
# finite figures, the same seed prints the same figures, another seed draws
# other paths and batches, and a search without α is refused in one line.
#   bench/alpha_noise_check.sh DAAS_BINARY BENCH_ALPHA_NOISE  (ctest: bench_alpha_noise_runs)
set -eu
daas=$1
noise=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL $*"
  exit 1
}

"$daas" search --profile smoke --mode arch --fixed-policy standard --epochs 1 --out "$work/arch" > "$work/search.log" 2>&1 ||
  fail "the arch search did not run: $(tail -3 "$work/search.log")"
probe="--draws 8 --signal-draws 8 --tau 1,0.5 --threads 1"
# shellcheck disable=SC2086 # probe is words
"$noise" "$work/arch" $probe > "$work/a.txt" || fail "bench_alpha_noise exited $?"
# shellcheck disable=SC2086
"$noise" "$work/arch" $probe > "$work/b.txt"
# shellcheck disable=SC2086
"$noise" "$work/arch" $probe --seed 1 > "$work/c.txt"

for name in both path batch "split 2" "split 4"; do
  lines=$(grep -c "^  $name  *summed variance" "$work/a.txt" || true)
  [ "$lines" = 2 ] || fail "'$name': $lines lines, expected one per temperature"
done
[ "$(grep -c '^tau ' "$work/a.txt")" = 2 ] || fail "expected a block per temperature"
grep -E "summed variance|per entry" "$work/a.txt" | grep -q -i -E "nan|inf" && fail "a figure is not finite: $(cat "$work/a.txt")"
grep "summed variance" "$work/a.txt" | grep -q "summed variance 0.000e+00" && fail "a variance is zero"
cmp -s "$work/a.txt" "$work/b.txt" || fail "the same seed printed other figures"
cmp -s "$work/a.txt" "$work/c.txt" && fail "--seed 1 printed the same figures as seed 0"

"$daas" search --profile smoke --mode policy --out "$work/policy" > "$work/search.log" 2>&1 ||
  fail "the policy search did not run"
# shellcheck disable=SC2086
if "$noise" "$work/policy" $probe > "$work/out.txt" 2> "$work/err.txt"; then fail "a policy search was accepted"; fi
if [ "$(wc -l < "$work/err.txt" | tr -d ' ')" != 1 ] || ! grep -q "has no α" "$work/err.txt"; then
  fail "refusal: $(cat "$work/err.txt")"
fi
for bad in "--draws 12.5" "--draws 9" "--batch -5" "--tau 0" "--seed x"; do
  # shellcheck disable=SC2086
  if "$noise" "$work/arch" $bad > "$work/out.txt" 2> "$work/err.txt"; then fail "'$bad' was accepted"; fi
  if [ "$(wc -l < "$work/err.txt" | tr -d ' ')" != 1 ] || ! grep -q -- "${bad%% *}" "$work/err.txt"; then
    fail "'$bad': $(cat "$work/err.txt")"
  fi
done
echo "ok   bench_alpha_noise"
