#!/usr/bin/python3
"""Pretrains a frozen model on the first rows of any CSV stream and packs it, so that
tinyfleet-eval can then replay the whole stream with --skip N (the pretraining rows are
learned from but not scored).

CSV: numeric feature columns and one integer class label column (default: the last), an
optional header line. Model: standardise (statistics of the pretraining rows, variance
floored at 1 % of the mean variance) -> dense F->H ReLU (int8) -> dense H->C softmax (the
TinyOL update layer, float32), trained with sklearn's MLPClassifier. Classes are 0..C-1
with C = max label + 1 over the pretraining rows (or --classes).

Usage: train_csv.py --csv data.csv --rows N --out model.tfm [--header] [--label-col K]
                    [--hidden H] [--classes C] [--seed S] [--name NAME]
"""
import argparse
import os
import sys

import numpy as np
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfpack  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--rows", type=int, required=True, help="pretraining rows")
    ap.add_argument("--out", required=True)
    ap.add_argument("--header", action="store_true")
    ap.add_argument("--label-col", type=int, default=-1)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--classes", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="csv-mlp")
    a = ap.parse_args()
    try:
        data = np.loadtxt(a.csv, delimiter=",", skiprows=1 if a.header else 0,
                          max_rows=a.rows, ndmin=2)
    except ValueError as e:
        print("train_csv: %s: %s" % (a.csv, e), file=sys.stderr)
        return 1
    if len(data) < 10:
        print("train_csv: need at least 10 pretraining rows, got %d" % len(data),
              file=sys.stderr)
        return 1
    lc = a.label_col % data.shape[1]
    y = data[:, lc]
    if np.any(y != np.floor(y)) or np.any(y < 0):
        print("train_csv: the label column must hold class indices 0, 1, ...", file=sys.stderr)
        return 1
    y = y.astype(int)
    X = np.delete(data, lc, axis=1)
    classes = a.classes or int(y.max()) + 1
    mean, var = X.mean(axis=0), X.var(axis=0)
    var = np.maximum(var, 0.01 * max(var.mean(), 1e-12))
    Z = (X - mean) / np.sqrt(var)
    clf = MLPClassifier(hidden_layer_sizes=(a.hidden,), activation="relu", alpha=1e-3,
                        max_iter=500, random_state=a.seed)
    clf.fit(Z, y)
    # Classes never seen in the pretraining rows get zero weights and a very low bias.
    hw = np.zeros((classes, a.hidden), np.float32)
    hb = np.full(classes, -10.0, np.float32)
    if len(clf.classes_) == 2:
        # sklearn keeps one logistic output for two classes: logit(p1) = z.
        w1, b1 = clf.coefs_[1][:, 0], clf.intercepts_[1][0]
        hw[clf.classes_[1]], hb[clf.classes_[1]] = w1, b1
        hw[clf.classes_[0]], hb[clf.classes_[0]] = 0.0, 0.0
    else:
        hw[clf.classes_] = clf.coefs_[1].T
        hb[clf.classes_] = clf.intercepts_[1]
    meta = {"name": a.name, "version": "1.0.0", "task": "classify", "input": [1, X.shape[1]],
            "layers": [{"op": "dense", "act": "relu", "w": "h_w", "b": "h_b"},
                       {"op": "dense", "act": "softmax", "w": "o_w", "b": "o_b",
                        "update": True}]}
    arrays = {"h_w": clf.coefs_[0].T.astype(np.float32),
              "h_b": clf.intercepts_[0].astype(np.float32), "o_w": hw, "o_b": hb,
              "stats_x": X.astype(np.float32), "feat_mean": mean.astype(np.float32),
              "feat_var": var.astype(np.float32), "calib_x": Z[:300].astype(np.float32),
              "test_x": Z[:2].astype(np.float32)}
    try:
        img, summ = tfpack.pack(meta, arrays)
    except ValueError as e:
        print("train_csv: %s" % e, file=sys.stderr)
        return 1
    with open(a.out, "wb") as f:
        f.write(img)
    print("train_csv: %d rows, %d features, %d classes: training accuracy %.4f; wrote %s "
          "(%d bytes, arena %d bytes). Replay with: tinyfleet-eval --model %s --csv %s "
          "--skip %d%s" % (len(y), X.shape[1], classes, clf.score(Z, y), a.out, summ["bytes"],
                           summ["arena"], a.out, a.csv, len(y),
                           " --header" if a.header else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
