#!/usr/bin/python3
"""Do two searches agree on what is better?

    scripts/search_agreement.py [--top K] [--per-epoch] RUN_A RUN_B

Compares two search run folders (two seeds of one setting, say) on what both
searched.

Architecture (the last line of alpha.jsonl, softmax of α per edge), for the
normal and the reduction cell: the Spearman rank correlation of the 8 ops'
probabilities between the runs, per edge and averaged; the same averaged over
pairs of different edges (a null that is not zero, since all edges share a
global ordering of the ops); on how many edges the most likely op is the
same; and the mean entropy of an edge. With --per-epoch, the same three
figures for every epoch both runs recorded: when the searches agreed most.

Policy (the last line of policy_history.jsonl): the Spearman correlation of
the sub-policies' probabilities, of the ops' application probabilities and of
their mean magnitude levels; how many of each run's K most likely
sub-policies (default 25) the other's K also holds, against the K²/n expected
by chance; and the entropy of the sub-policy distribution.
"""
import argparse
import json
import math
import os
import signal
import statistics
import sys


def records(run, name):
    with open(os.path.join(run, name)) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    if not lines:
        sys.exit(f"{run}/{name}: empty; expected one record per epoch")
    return lines


def last_record(run, name):
    return records(run, name)[-1]


def ranks(values):
    """Ranks from 0, tied values sharing the mean of their ranks (the records
    round to 4 significant digits, so near-uniform rows tie)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            out[order[position]] = (start + end) / 2
        start = end + 1
    return out


def spearman(a, b):
    """Pearson correlation of the ranks; 0 when either side is constant."""
    ra, rb = ranks(a), ranks(b)
    mean_a, mean_b = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - mean_a) * (y - mean_b) for x, y in zip(ra, rb))
    den = math.sqrt(sum((x - mean_a) ** 2 for x in ra) * sum((y - mean_b) ** 2 for y in rb))
    return num / den if den > 0 else None


def mean_of(values):
    """Mean of the defined values ("n/a" when none); a note counts the undefined ones."""
    defined = [v for v in values if v is not None]
    text = f"{statistics.mean(defined):+.2f}" if defined else "n/a"
    return text if len(defined) == len(values) else f"{text} ({len(values) - len(defined)} constant left out)"


def signed(value):
    return "n/a" if value is None else f"{value:+.2f}"


def entropy(p):
    return -sum(x * math.log(x) for x in p if x > 0)


def top(p):
    """The most likely op, or None when several share the largest value."""
    best = max(p)
    return p.index(best) if p.count(best) == 1 else None


def top_set(p, k):
    """The k most likely indices, and whether the k-th value ties with the next (the set is then arbitrary)."""
    order = sorted(range(len(p)), key=lambda i: -p[i])
    return set(order[:k]), k < len(p) and p[order[k - 1]] == p[order[k]]


def check_ops(a, b, what):
    if a["ops"] != b["ops"]:
        sys.exit(f"{what}: ops {', '.join(a['ops'])} against {', '.join(b['ops'])}; expected searches of the same space")


def edge_agreement(A, B, cell):
    """Per-edge Spearman, its mean over pairs of different edges, and the edges with the same top op."""
    if len(A) != len(B):
        sys.exit(f"{cell}: {len(A)} edges against {len(B)}; expected searches of the same space")
    same = [spearman(A[i], B[i]) for i in range(len(A))]
    other = [spearman(A[i], B[j]) for i in range(len(A)) for j in range(len(B)) if i != j]
    return same, other, sum(top(A[i]) is not None and top(A[i]) == top(B[i]) for i in range(len(A)))


def compare_alpha(a, b):
    check_ops(a, b, "alpha")
    for cell in ("normal", "reduce"):
        A, B = a[cell], b[cell]
        same, other, same_top = edge_agreement(A, B, cell)
        print(f"{cell}: same edge {mean_of(same)} (per edge {' '.join(signed(x) for x in same)}), "
              f"other edges {mean_of(other)}, same top op on {same_top} of {len(A)} edges, "
              f"mean entropy {statistics.mean(map(entropy, A)):.4f} / {statistics.mean(map(entropy, B)):.4f}")
    for name, run in (("A", a), ("B", b)):
        mean = [statistics.mean(p[k] for p in run["normal"]) for k in range(len(run["ops"]))]
        print(f"{name} normal cell, mean probability:", " ".join(f"{o} {m:.4f}" for o, m in zip(run["ops"], mean)))


def alpha_per_epoch(run_a, run_b):
    by_epoch = {record["epoch"]: record for record in records(run_b, "alpha.jsonl")}
    print("epoch: same edge / other edges / same top op, normal cell; the same, reduction cell")
    for a in records(run_a, "alpha.jsonl"):
        b = by_epoch.get(a["epoch"])
        if b is None:
            continue
        row = []
        for cell in ("normal", "reduce"):
            same, other, same_top = edge_agreement(a[cell], b[cell], cell)
            row.append(f"{mean_of(same)} / {mean_of(other)} / {same_top:2d}")
        print(f"{a['epoch']:5d}: {row[0]}   {row[1]}")


def compare_policy(a, b, k):
    check_ops(a, b, "policy")
    if len(a["sub_policy_probability"]) != len(b["sub_policy_probability"]):
        sys.exit(f"policy: {len(a['sub_policy_probability'])} sub-policies against "
                 f"{len(b['sub_policy_probability'])}; expected searches of the same space")
    P, Q = a["sub_policy_probability"], b["sub_policy_probability"]
    n = len(P)
    k = min(k, n)
    (top_p, tie_p), (top_q, tie_q) = top_set(P, k), top_set(Q, k)
    # |ρ| above 1.96 / √(n − 1) is unlikely (5%) for unrelated rankings.
    print(f"policy: sub-policies {signed(spearman(P, Q))} (chance within ±{1.96 / math.sqrt(n - 1):.2f}), "
          f"top {k} shared {len(top_p & top_q)} (chance {k * k / n:.1f}"
          f"{'; the top ' + str(k) + ' ends in a tie, so which ones is arbitrary' if tie_p or tie_q else ''}), "
          f"ops' application {signed(spearman(a['application'], b['application']))} and "
          f"mean level {signed(spearman(a['mean_level'], b['mean_level']))} "
          f"(chance within ±{1.96 / math.sqrt(len(a['ops']) - 1):.2f} each), "
          f"entropy {entropy(P):.4f} / {entropy(Q):.4f} (uniform {math.log(n):.4f})")
    for name, run in (("A", a), ("B", b)):
        order = sorted(range(len(run["ops"])), key=lambda i: -run["application"][i])
        print(f"{name} ops by application:", " ".join(f"{run['ops'][i]} {run['application'][i]:.3f}" for i in order))


def main():
    parser = argparse.ArgumentParser(description="Do two searches agree on what is better? (see the top of this file)")
    parser.add_argument("runs", nargs=2, metavar="RUN", help="search run folders (alpha.jsonl, policy_history.jsonl)")
    parser.add_argument("--top", type=int, default=25, metavar="K",
                        help="how many of the most likely sub-policies to compare (default 25)")
    parser.add_argument("--per-epoch", action="store_true", help="the architecture's agreement after every epoch")
    args = parser.parse_intermixed_args()
    if args.top < 1:
        parser.error(f"--top {args.top}: expected at least 1")
    for run in args.runs:
        if not os.path.isdir(run):
            sys.exit(f"{run}: no such folder; expected a search run folder")
    compared = []
    for name, compare in (("alpha.jsonl", compare_alpha),
                          ("policy_history.jsonl", lambda a, b: compare_policy(a, b, args.top))):
        present = [os.path.exists(os.path.join(run, name)) for run in args.runs]
        if all(present):
            a, b = (last_record(run, name) for run in args.runs)
            if a.get("epoch") != b.get("epoch"):
                print(f"{name}: the last records are of epoch {a.get('epoch')} and {b.get('epoch')}; "
                      "the runs are compared at different points of their searches")
            compare(a, b)
            compared.append(name)
        elif any(present):
            print(f"{name}: only in {args.runs[present.index(True)]}; not compared")
    if args.per_epoch:
        if "alpha.jsonl" in compared:
            alpha_per_epoch(*args.runs)
        else:
            print("--per-epoch: the runs do not both have alpha.jsonl; nothing to show per epoch")
    if not compared:
        sys.exit(f"{args.runs[0]}, {args.runs[1]}: neither alpha.jsonl nor policy_history.jsonl in both; "
                 "expected two search run folders")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    main()
