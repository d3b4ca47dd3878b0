#!/usr/bin/python3
"""CTest smoke test of tinyfleet-eval: a 4-feature, 3-class model whose classes swap labels
half way through a CSV stream. The frozen model must collapse after the swap and TinyOL
must recover; a malformed CSV must be refused with a message and a non-zero exit."""
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
import tfpack  # noqa: E402


def main():
    evalbin, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    centers = np.eye(3, 4) * 4 + 10
    X = np.concatenate([rng.normal(centers[c], 1.0, size=(400, 4)) for c in range(3)])
    y = np.repeat(np.arange(3), 400)
    mean, var = X.mean(axis=0), X.var(axis=0)
    Z = (X - mean) / np.sqrt(var)
    # A least-squares linear head on one-hot targets is good enough as the shipped model.
    A = np.hstack([Z, np.ones((len(Z), 1))])
    W = np.linalg.lstsq(A, np.eye(3)[y] * 8 - 4, rcond=None)[0]
    meta = {"name": "eval-smoke", "version": "1", "task": "classify", "input": [1, 4],
            "layers": [{"op": "dense", "act": "softmax", "w": "w", "b": "b", "update": True}]}
    img, _ = tfpack.pack(meta, {"w": W[:4].T.astype(np.float32), "b": W[4].astype(np.float32),
                                "stats_x": X.astype(np.float32),
                                "feat_mean": mean.astype(np.float32),
                                "feat_var": var.astype(np.float32)})
    model = os.path.join(work, "smoke.tfm")
    open(model, "wb").write(img)
    cls = rng.integers(0, 3, 3000)
    xs = centers[cls] + rng.normal(0, 1.0, size=(3000, 4))
    lab = np.where(np.arange(3000) < 1500, cls, (cls + 1) % 3)
    csv = os.path.join(work, "smoke.csv")
    with open(csv, "w") as f:
        f.write("a,b,c,d,label\n")
        for r, l in zip(xs, lab):
            f.write(",".join("%.4f" % v for v in r) + ",%d\n" % l)
    out = subprocess.run([evalbin, "--model", model, "--csv", csv, "--header", "--segments",
                          "1500", "--label-rate", "0.2", "--lr", "0.1"],
                         capture_output=True, text=True)
    print(out.stdout, out.stderr)
    failed = 0
    segs = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(
        r"^(\d+|all)\s+\S+\s+\d+\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M)}
    if out.returncode != 0 or "0" not in segs or "1" not in segs:
        failed += 1
    else:
        failed += not (segs["0"][0] > 0.9 and segs["0"][1] > 0.9)   # both fine before
        failed += not (segs["1"][0] < 0.1)                          # frozen collapses
        failed += not (segs["1"][1] > 0.8)                          # TinyOL recovers
        failed += "ram bytes:" not in out.stdout or "alarm sample=" not in out.stdout
    bad_csv = os.path.join(work, "bad.csv")
    with open(csv) as src, open(bad_csv, "w") as f:
        f.write(src.read() + "1,2,3\n")
    bad = subprocess.run([evalbin, "--model", model, "--csv", bad_csv, "--header"],
                         capture_output=True, text=True)
    failed += bad.returncode == 0 or "columns" not in bad.stderr
    bad = subprocess.run([evalbin, "--model", csv, "--csv", csv], capture_output=True,
                         text=True)
    failed += bad.returncode == 0 or "not a model container" not in bad.stderr
    # Pretrain a frozen model on the first 1,000 rows with train_csv.py, replay with --skip.
    tc = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "model", "train_csv.py"), "--csv", csv, "--header", "--rows",
        "1000", "--out", os.path.join(work, "pre.tfm"), "--hidden", "8"],
        capture_output=True, text=True)
    print(tc.stdout, tc.stderr)
    failed += tc.returncode != 0
    out = subprocess.run([evalbin, "--model", os.path.join(work, "pre.tfm"), "--csv", csv,
                          "--header", "--skip", "1000", "--segments", "500", "--lr", "0.1"],
                         capture_output=True, text=True)
    print(out.stdout, out.stderr)
    segs = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(
        r"^(\d+|all)\s+\S+\s+\d+\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M)}
    failed += not ("0" in segs and segs["0"][0] > 0.9 and "1" in segs and segs["1"][1] > 0.8
                   and "scored 2000" in out.stdout)
    print("%d passed, %d failed" % (9 - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
