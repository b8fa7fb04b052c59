#!/bin/sh
# bench/reference.py builds networks of the sizes daas builds, so that
# bench/compare.sh compares the same work: parameter counts of the search
# network (weights without α), DARTS_V2 and bench/rich_genotype.txt at C 16,
# 8 cells, 1×28×28, 10 classes, from `daas info` and from the reference.
#   bench/check_sizes.sh DAAS_BINARY      (ctest: bench_reference_sizes)
set -eu
daas=$1
here=$(dirname "$0")
python=${PYTHON:-/usr/bin/python3}
shape="--channels 16 --layers 8 --in_channels 1 --size 28 --classes 10"

reference=$("$python" "$here/reference.py" --count --channels 16 --layers 8 --shape 1x28x28 \
  --genotype "DARTS_V2,$here/rich_genotype.txt")

# daas_count NAME: the count `daas info` gives (search network or genotype).
daas_count() {
  if [ "$1" = supernet ]; then
    # shellcheck disable=SC2086 # shape is words
    "$daas" info --supernet $shape | sed -n 's/^ *weights: *\([0-9,]*\) .*/\1/p' | tr -d ,
  else
    # shellcheck disable=SC2086
    "$daas" info --genotype "$1" $shape | sed -n 's/^ *parameters: *\([0-9,]*\) .*without.*/\1/p' | tr -d ,
  fi
}

status=0
for name in supernet DARTS_V2 "$here/rich_genotype.txt"; do
  d=$(daas_count "$name")
  p=$(echo "$reference" | sed -n "s|^PARAMS network=$name params=||p")
  if [ -n "$d" ] && [ "$d" = "$p" ]; then
    echo "ok   $name: $d parameters"
  else
    echo "FAIL $name: daas ${d:-?}, reference ${p:-?} parameters"
    status=1
  fi
done
exit $status
