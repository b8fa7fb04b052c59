#!/usr/bin/python3
"""Do two searches agree on which ops are better, edge by edge?

    scripts/alpha_agreement.py RUN_A RUN_B

Reads the last line of each run folder's alpha.jsonl (softmax of α per edge)
and prints, for the normal and the reduction cell: the Spearman rank
correlation of the 8 ops' probabilities between the runs, per edge and
averaged; the same averaged over pairs of different edges (a null that is
not zero, since all edges share a global ordering of the ops); on how many
edges the most likely op is the same; and the mean entropy of an edge.
"""
import json
import math
import statistics
import sys


def last_alpha(run):
    with open(f"{run}/alpha.jsonl") as f:
        lines = [line for line in f if line.strip()]
    return json.loads(lines[-1])


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0] * len(values)
    for rank, i in enumerate(order):
        out[i] = rank
    return out


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    mean = (len(a) - 1) / 2
    num = sum((x - mean) * (y - mean) for x, y in zip(ra, rb))
    den = math.sqrt(sum((x - mean) ** 2 for x in ra) * sum((y - mean) ** 2 for y in rb))
    return num / den


def entropy(p):
    return -sum(x * math.log(x) for x in p if x > 0)


def top(p):
    return max(range(len(p)), key=lambda k: p[k])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: alpha_agreement.py RUN_A RUN_B (two search run folders with alpha.jsonl)")
    a, b = last_alpha(sys.argv[1]), last_alpha(sys.argv[2])
    for cell in ("normal", "reduce"):
        A, B = a[cell], b[cell]
        if len(A) != len(B):
            sys.exit(f"{cell}: {len(A)} edges against {len(B)}; expected searches of the same space")
        same = [spearman(A[i], B[i]) for i in range(len(A))]
        other = [spearman(A[i], B[j]) for i in range(len(A)) for j in range(len(B)) if i != j]
        same_top = sum(top(A[i]) == top(B[i]) for i in range(len(A)))
        print(f"{cell}: same edge {statistics.mean(same):+.2f} (per edge {' '.join(f'{x:+.2f}' for x in same)}), "
              f"other edges {statistics.mean(other):+.2f}, same top op on {same_top} of {len(A)} edges, "
              f"mean entropy {statistics.mean(map(entropy, A)):.4f} / {statistics.mean(map(entropy, B)):.4f}")
    for name, run in (("A", a), ("B", b)):
        mean = [statistics.mean(p[k] for p in run["normal"]) for k in range(len(run["ops"]))]
        print(f"{name} normal cell, mean probability:", " ".join(f"{o} {m:.4f}" for o, m in zip(run["ops"], mean)))


if __name__ == "__main__":
    main()
