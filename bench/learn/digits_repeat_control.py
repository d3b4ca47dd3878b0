#!/usr/bin/python3
"""Control for the digits benchmark: how much of TinyOL's stationary accuracy comes from
seeing the same held-out image again (the 6,000-row streams repeat each of the 899
held-out images ~6.7 times)? Runs, per seed, a stationary stream of the held-out images
each exactly once (899 rows) and one with repeats (6,000 rows drawn with replacement),
at 100 % labels, and prints frozen and TinyOL prequential accuracy of both.
Usage: digits_repeat_control.py --eval tinyfleet-eval --work DIR [--seeds 5] [--lr 0.05]
(reuses DIR/seed<N>/ models from digits_drift.py when present)."""
import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(evalbin, model, csv, lr):
    out = subprocess.run([evalbin, "--model", model, "--csv", csv, "--lr", str(lr),
                          "--detectors", "none"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"^all\s+-\s+\d+\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    return float(m.group(1)), float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.05)
    a = ap.parse_args()
    rows = []
    for seed in range(a.seeds):
        d = os.path.join(a.work, "seed%d" % seed)
        if not os.path.exists(os.path.join(d, "digits-mlp.tfm")):
            subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "model",
                                                         "train_digits.py"), "--out", d,
                            "--seed", str(seed)], check=True, stderr=subprocess.DEVNULL)
        ho = np.load(os.path.join(d, "digits_holdout.npz"))
        rng = np.random.default_rng(500 + seed)
        res = []
        for name, idx in (("once", rng.permutation(len(ho["y"]))),
                          ("repeats", rng.integers(0, len(ho["y"]), 6000))):
            csv = os.path.join(d, "control_%s.csv" % name)
            with open(csv, "w") as f:
                for i in idx:
                    f.write(",".join("%g" % v for v in ho["X"][i]) + ",%d\n" % ho["y"][i])
            res += run(a.eval, os.path.join(d, "digits-mlp.tfm"), csv, a.lr)
        rows.append(res)
    v = np.array(rows).mean(axis=0)
    print("| stream (stationary, 100 %% labels, lr %g, %d seeds) | frozen | TinyOL |"
          % (a.lr, a.seeds))
    print("| --- | ---: | ---: |")
    print("| each held-out image once (899 rows) | %.3f | %.3f |" % (v[0], v[1]))
    print("| drawn with replacement (6,000 rows) | %.3f | %.3f |" % (v[2], v[3]))


if __name__ == "__main__":
    main()
