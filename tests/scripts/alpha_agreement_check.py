#!/usr/bin/python3
"""scripts/alpha_agreement.py on made-up run folders: identical α agree
fully, reversed α fully disagree, and searches of different spaces are a
clear error."""
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(sys.argv[1], "scripts", "alpha_agreement.py")
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
print("alpha_agreement: ok")
