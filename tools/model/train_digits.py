#!/usr/bin/python3
"""Trains the digits demo model reproducibly and packs it as a tinyfleet container.

Data: scikit-learn's bundled 8x8 digits (1,797 images, 64 features of 0..16 intensity,
10 classes). A stratified split by --seed keeps --train-frac for training; the rest is the
held-out pool the drift benchmark streams from (written to <out>/digits_holdout.npz).

Model: standardise (training mean, variance floored at 1 % of the mean variance) ->
dense 64->32 ReLU (int8, per-channel when it helps, static activation quantisation) ->
dense 32->10 softmax (float32, the TinyOL update layer). Trained with sklearn's
MLPClassifier (adam, fixed random_state).

Usage: train_digits.py --out DIR [--seed N] [--train-frac F] [--hidden H]
Writes DIR/digits-mlp.npz (float weights), DIR/digits-mlp.tfm, DIR/digits_holdout.npz.
"""
import argparse
import os
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfpack  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-frac", type=float, default=0.5)
    ap.add_argument("--hidden", type=int, default=32)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    X, y = load_digits(return_X_y=True)
    Xtr, Xho, ytr, yho = train_test_split(X, y, train_size=a.train_frac, stratify=y,
                                          random_state=a.seed)
    mean = Xtr.mean(axis=0)
    var = Xtr.var(axis=0)
    var = np.maximum(var, 0.01 * var.mean())
    std = np.sqrt(var)
    Ztr, Zho = (Xtr - mean) / std, (Xho - mean) / std
    clf = MLPClassifier(hidden_layer_sizes=(a.hidden,), activation="relu", alpha=1e-3,
                        max_iter=400, random_state=a.seed)
    clf.fit(Ztr, ytr)
    meta = {"name": "digits-mlp", "version": "1.0.%d" % a.seed, "task": "classify",
            "input": [1, 64],
            "layers": [{"op": "dense", "act": "relu", "w": "h_w", "b": "h_b"},
                       {"op": "dense", "act": "softmax", "w": "o_w", "b": "o_b",
                        "update": True}],
            "test_tolerance": 1e-3}
    arrays = {"h_w": clf.coefs_[0].T.astype(np.float32),
              "h_b": clf.intercepts_[0].astype(np.float32),
              "o_w": clf.coefs_[1].T.astype(np.float32),
              "o_b": clf.intercepts_[1].astype(np.float32),
              "stats_x": Xtr.astype(np.float32),
              "feat_mean": mean.astype(np.float32), "feat_var": var.astype(np.float32),
              "calib_x": Ztr[:300].astype(np.float32),
              "test_x": Zho[:4].astype(np.float32)}
    npz = os.path.join(a.out, "digits-mlp.npz")
    tfpack.save_npz(npz, meta, **arrays)
    img, summ = tfpack.pack(meta, arrays)
    with open(os.path.join(a.out, "digits-mlp.tfm"), "wb") as f:
        f.write(img)
    np.savez(os.path.join(a.out, "digits_holdout.npz"), X=Xho, y=yho)
    acc_float = clf.score(Zho, yho)
    layers = tfpack.build_layers(meta, arrays, calib=arrays["calib_x"])
    pred = [int(np.argmax(tfpack.forward(layers, z, (1, 64)))) for z in Zho]
    acc_q = float(np.mean(np.array(pred) == yho))
    print("train_digits: seed %d: %d train / %d held-out; held-out accuracy float %.4f, "
          "int8 container %.4f; container %d bytes, arena %d bytes"
          % (a.seed, len(ytr), len(yho), acc_float, acc_q, summ["bytes"], summ["arena"]))


if __name__ == "__main__":
    main()
