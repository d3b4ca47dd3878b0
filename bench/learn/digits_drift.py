#!/usr/bin/python3
"""Drift benchmark on scikit-learn's digits: frozen model vs TinyOL, prequential.

For each seed: train_digits.py trains the int8 MLP on half of the digits (stratified split
by seed) and packs it; the stream is drawn (with replacement, seeded) from the other half,
which the model never saw. Each stream has STREAM rows; drift starts at row DRIFT.
Scenarios (all documented in RESULTS.md):
  gain_offset   abrupt sensor drift at DRIFT: x -> 1.5 x + 3 on every pixel
  inversion     gradual pixel inversion: from DRIFT to DRIFT+RAMP the probability that a
                sample is inverted (x -> 16 - x) rises linearly from 0 to 1, then stays 1
  permutation   recurring concept drift: labels pass through a fixed random permutation
                of the 10 classes in [DRIFT, DRIFT+1000) and [DRIFT+2000, DRIFT+3000),
                features unchanged
Every (scenario, label rate, seed) runs tinyfleet-eval once; the table reports the mean
(and min..max over seeds) of the prequential accuracy before the drift ([0, DRIFT)) and
after it ([DRIFT, STREAM); for permutation: inside the permuted windows).

Usage: digits_drift.py --eval build/default/tools/eval/tinyfleet-eval --work DIR
                       [--seeds 5] [--rates 1,0.1,0.01] [--lr 0.05]
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "..", "tools", "model")
STREAM, DRIFT, RAMP = 6000, 2000, 1000
SCENARIOS = ["gain_offset", "inversion", "permutation"]


def make_stream(X, y, scenario, seed, path):
    rng = np.random.default_rng(1000 + seed)
    idx = rng.integers(0, len(y), STREAM)
    xs, ys = X[idx].astype(np.float64).copy(), y[idx].copy()
    perm = rng.permutation(10)
    while np.any(perm == np.arange(10)):     # a derangement: every class moves
        perm = rng.permutation(10)
    t = np.arange(STREAM)
    if scenario == "gain_offset":
        xs[t >= DRIFT] = 1.5 * xs[t >= DRIFT] + 3.0
    elif scenario == "inversion":
        p = np.clip((t - DRIFT) / RAMP, 0, 1)
        inv = rng.random(STREAM) < p
        xs[inv] = 16.0 - xs[inv]
    elif scenario == "permutation":
        w = ((t >= DRIFT) & (t < DRIFT + 1000)) | ((t >= DRIFT + 2000) & (t < DRIFT + 3000))
        ys[w] = perm[ys[w]]
    with open(path, "w") as f:
        for row, lab in zip(xs, ys):
            f.write(",".join("%g" % v for v in row) + ",%d\n" % lab)


def run_eval(evalbin, model, csv, rate, seed, lr, segments):
    cmd = [evalbin, "--model", model, "--csv", csv, "--label-rate", str(rate),
           "--seed", str(seed), "--lr", str(lr), "--segments", segments]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    segs = {}
    for m in re.finditer(r"^(\d+|all)\s+\S+\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out, re.M):
        segs[m.group(1)] = (int(m.group(2)), float(m.group(3)), float(m.group(4)))
    alarms = [(int(m.group(1)), m.group(2))
              for m in re.finditer(r"^alarm sample=(\d+) detector=(\S+)", out, re.M)]
    ram = re.search(r"^ram bytes: .* = (\d+)$", out, re.M).group(1)
    us = float(re.search(r"time per sample .*: ([\d.]+) us", out).group(1))
    return segs, alarms, int(ram), us, " ".join(cmd)


def weighted(segs, keys):
    n = sum(segs[k][0] for k in keys)
    return (sum(segs[k][0] * segs[k][1] for k in keys) / n,
            sum(segs[k][0] * segs[k][2] for k in keys) / n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rates", default="1,0.1,0.01")
    ap.add_argument("--lr", type=float, default=0.05)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rates = [float(r) for r in a.rates.split(",")]
    res = {}          # (scenario, rate) -> list of (fb, tb, fa, ta)
    det = {}          # scenario -> detector -> [delays], false alarms before drift
    example = None
    ram = us = None
    for seed in range(a.seeds):
        d = os.path.join(a.work, "seed%d" % seed)
        subprocess.run([sys.executable, os.path.join(TOOLS, "train_digits.py"), "--out", d,
                        "--seed", str(seed)], check=True, stderr=subprocess.DEVNULL)
        ho = np.load(os.path.join(d, "digits_holdout.npz"))
        model = os.path.join(d, "digits-mlp.tfm")
        for sc in SCENARIOS:
            csv = os.path.join(d, sc + ".csv")
            make_stream(ho["X"], ho["y"], sc, seed, csv)
            segments = "%d,%d,%d,%d" % (DRIFT, DRIFT + 1000, DRIFT + 2000, DRIFT + 3000)
            for rate in rates:
                segs, alarms, ram, us, cmd = run_eval(a.eval, model, csv, rate, seed, a.lr,
                                                      segments)
                example = example or cmd
                before = weighted(segs, ["0"])
                if sc == "permutation":
                    after = weighted(segs, ["1", "3"])
                else:
                    after = weighted(segs, ["1", "2", "3", "4"])
                res.setdefault((sc, rate), []).append(before + after)
                if rate == 1.0:
                    dd = det.setdefault(sc, {})
                    for name in sorted({n for _, n in alarms}):
                        pre = sum(1 for s, n in alarms if n == name and s < DRIFT)
                        post = [s - DRIFT for s, n in alarms if n == name and s >= DRIFT]
                        e = dd.setdefault(name, {"false": 0, "delays": [], "missed": 0})
                        e["false"] += pre
                        if post:
                            e["delays"].append(post[0])
                        else:
                            e["missed"] += 1
    print("## Digits drift benchmark (%d seeds, stream %d rows, drift at row %d, lr %g)\n"
          % (a.seeds, STREAM, DRIFT, a.lr))
    print("Example run: `%s`\n" % example)
    print("| scenario | label rate | frozen before | TinyOL before | frozen after | "
          "TinyOL after | recovered |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for sc in SCENARIOS:
        for rate in rates:
            v = np.array(res[(sc, rate)])
            mean = v.mean(axis=0)
            lost = mean[0] - mean[2]
            rec = (mean[3] - mean[2]) / lost if lost > 0.01 else float("nan")
            cell = lambda j: "%.3f (%.3f..%.3f)" % (mean[j], v[:, j].min(), v[:, j].max())  # noqa
            print("| %s | %g %% | %s | %s | %s | %s | %s |"
                  % (sc, 100 * rate, cell(0), cell(1), cell(2), cell(3),
                     "%.0f %%" % (100 * rec) if rec == rec else "-"))
    print("\n\"recovered\" = (TinyOL after - frozen after) / (frozen before - frozen after): "
          "the share of the accuracy the frozen model lost that TinyOL wins back.\n")
    print("Detector alarms on the TinyOL agent's stream at 100 %% labels (defaults; %d seeds): "
          "false = alarms before the drift (2,000 rows per seed), delay = rows from the drift "
          "to the first alarm after it (median), missed = seeds without an alarm after it.\n"
          % a.seeds)
    print("| scenario | detector | false alarms | median delay | missed |")
    print("| --- | --- | ---: | ---: | ---: |")
    for sc in SCENARIOS:
        for name, e in sorted(det.get(sc, {}).items()):
            med = "%d" % int(np.median(e["delays"])) if e["delays"] else "-"
            print("| %s | %s | %d | %s | %d |" % (sc, name, e["false"], med, e["missed"]))
    print("\nAgent RAM reported by tinyfleet-eval: %d bytes; host time per sample "
          "(frozen + TinyOL + detectors) %.2f us (last run)." % (ram, us))


if __name__ == "__main__":
    main()
