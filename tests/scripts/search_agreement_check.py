#!/usr/bin/python3
"""scripts/search_agreement.py on made-up run folders: identical α and
policies agree fully, reversed ones fully disagree, a run with only one of
them is compared on what both have, and searches of different spaces are a
clear error."""
import json
import math
import os
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(sys.argv[1], "scripts", "search_agreement.py")
OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
       "dil_conv_5x5"]


def softmax_row(edge, reverse=False, swap_top=False):
    weights = [((k * 7 + edge * 3) % 8) + 1.0 for k in range(8)]
    if reverse:
        weights = [9.0 - w for w in weights]
    if swap_top:  # the best op becomes the second best and the other way round
        first, second = weights.index(8.0), weights.index(7.0)
        weights[first], weights[second] = 7.0, 8.0
    total = sum(weights)
    return [w / total for w in weights]


def run_folder(root, name, edges, reverse=False, swap_top=False):
    path = os.path.join(root, name)
    os.makedirs(path)
    record = {"ops": OPS, "normal": [softmax_row(e, reverse, swap_top) for e in range(edges)],
              "reduce": [softmax_row(e + 1, reverse, swap_top) for e in range(edges)]}
    with open(os.path.join(path, "alpha.jsonl"), "w") as f:
        f.write(json.dumps(dict(record, epoch=1, normal=[[0.125] * 8] * edges)) + "\n")  # an earlier epoch
        f.write(json.dumps(dict(record, epoch=2)) + "\n")
    return path


def alpha_folder(root, name, rows):
    """A search folder whose one epoch has these rows in both cells."""
    path = os.path.join(root, name)
    os.makedirs(path)
    with open(os.path.join(path, "alpha.jsonl"), "w") as f:
        f.write(json.dumps({"ops": OPS, "epoch": 1, "normal": rows, "reduce": rows}) + "\n")
    return path


POLICY_OPS = ["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert", "Equalize",
              "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness", "Cutout"]


def policy_folder(root, name, sub_policies=105, reverse=False, shuffle_tail=False):
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    sign = -1.0 if reverse else 1.0
    weights = [math.exp(sign * ((i * 37) % sub_policies) / sub_policies) for i in range(sub_policies)]
    if shuffle_tail:  # the 10 most likely sub-policies stay, the others' weights move one place on
        tail = sorted(range(sub_policies), key=lambda i: -weights[i])[10:]
        moved = [weights[tail[(j + 1) % len(tail)]] for j in range(len(tail))]
        for i, w in zip(tail, moved):
            weights[i] = w
    total = sum(weights)
    record = {"ops": POLICY_OPS, "sub_policy_probability": [w / total for w in weights],
              "application": [0.5 + sign * 0.01 * ((i * 4) % 15) for i in range(15)],
              "mean_level": [0.5 + sign * 0.01 * ((i * 7) % 15) for i in range(15)]}
    with open(os.path.join(path, "policy_history.jsonl"), "w") as f:
        f.write(json.dumps(dict(record, epoch=1, application=[0.5] * 15)) + "\n")  # an earlier epoch
        f.write(json.dumps(dict(record, epoch=2)) + "\n")
    return path


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


with tempfile.TemporaryDirectory() as root:
    a, same, reversed_, small = (run_folder(root, "a", 14), run_folder(root, "b", 14),
                                 run_folder(root, "c", 14, reverse=True), run_folder(root, "d", 5))
    out = run(a, same)
    assert out.returncode == 0, out.stderr
    assert "normal: same edge +1.00" in out.stdout and "same top op on 14 of 14 edges" in out.stdout, out.stdout
    out = run(a, reversed_)
    assert out.returncode == 0, out.stderr
    assert "normal: same edge -1.00" in out.stdout and "same top op on 0 of 14 edges" in out.stdout, out.stdout
    out = run(a, run_folder(root, "e", 14, swap_top=True))
    assert out.returncode == 0, out.stderr
    assert "normal: same edge +0.98" in out.stdout and "same top op on 0 of 14 edges" in out.stdout, out.stdout
    out = run(a, small)
    assert out.returncode != 0 and "14 edges against 5" in out.stderr, (out.stdout, out.stderr)
    # Per epoch: in the uniform first epoch (all ops tied) there is no ranking, the second agrees fully.
    out = run(a, "--per-epoch", same)
    assert out.returncode == 0, out.stderr
    assert "    1: n/a (14 constant left out) / n/a (182 constant left out) /  0   +1.00" in out.stdout, out.stdout
    assert "    2: +1.00 / " in out.stdout, out.stdout
    # Tied values share their mean rank: two halves of tied ops, swapped, disagree fully.
    halves = [[0.1] * 4 + [0.15] * 4] * 14
    out = run(alpha_folder(root, "t1", halves), alpha_folder(root, "t2", [row[::-1] for row in halves]))
    assert out.returncode == 0, out.stderr
    assert "normal: same edge -1.00" in out.stdout and "same top op on 0 of 14 edges" in out.stdout, out.stdout
    # Policies: a joint search (α and policy) against a policy search (policy only).
    joint = policy_folder(root, "a")  # beside a's alpha.jsonl
    out = run(joint, policy_folder(root, "p"))
    assert out.returncode == 0, out.stderr
    assert "alpha.jsonl: only in" in out.stdout, out.stdout
    assert "policy: sub-policies +1.00" in out.stdout and "top 25 shared 25 (chance 6.0)" in out.stdout, out.stdout
    assert "ops' application +1.00" in out.stdout and "mean level +1.00" in out.stdout, out.stdout
    out = run(joint, policy_folder(root, "q", reverse=True), "--top", "10")
    assert out.returncode == 0, out.stderr
    assert "policy: sub-policies -1.00" in out.stdout and "top 10 shared 0 (chance 1.0)" in out.stdout, out.stdout
    assert "ops' application -1.00" in out.stdout, out.stdout
    out = run("--top", "10", joint, policy_folder(root, "s", shuffle_tail=True))
    assert out.returncode == 0, out.stderr
    assert "top 10 shared 10 (chance 1.0)" in out.stdout and "policy: sub-policies +1.00" not in out.stdout, out.stdout
    out = run(joint, policy_folder(root, "r", sub_policies=28))
    assert out.returncode != 0 and "105 sub-policies against 28" in out.stderr, (out.stdout, out.stderr)
    renamed = policy_folder(root, "u")
    with open(os.path.join(renamed, "policy_history.jsonl")) as f:
        text = f.read().replace('"Invert"', '"Inverse"')
    with open(os.path.join(renamed, "policy_history.jsonl"), "w") as f:
        f.write(text)
    out = run(joint, renamed)
    assert out.returncode != 0 and "Invert, Equalize" in out.stderr and "Inverse, Equalize" in out.stderr, out.stderr
    out = run("--top", "0", joint, joint)
    assert out.returncode != 0 and "--top 0: expected at least 1" in out.stderr, out.stderr
    out = run(joint, os.path.join(root, "nosuch"))
    assert out.returncode != 0 and "nosuch: no such folder" in out.stderr, out.stderr
    empty = os.path.join(root, "empty")
    os.makedirs(empty)
    out = run(empty, joint)
    assert out.returncode != 0 and "neither alpha.jsonl nor policy_history.jsonl" in out.stderr, out.stderr
print("search_agreement: ok")
