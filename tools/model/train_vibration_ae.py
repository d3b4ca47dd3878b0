#!/usr/bin/python3
"""Trains the anomaly-detection demo (TinyOL's autoencoder case) and packs it.

Features per window of the synthetic accelerometer of train_vibration.py (64 samples x 3
axes): per axis the mean, RMS about the mean, peak |deviation| and kurtosis -> 12 features.
The autoencoder is trained on healthy windows only: standardise -> dense 12->4 ReLU (int8,
frozen encoder) -> dense 4->12 linear (float32, the update layer). The anomaly score is the
mean squared reconstruction error of the standardised features (tfa_tinyol_score).

Stream (DIR/vibration_ae_stream.csv, label 0 healthy / 1 fault): 4,000 windows, 5 % of them
faults (imbalance, misalignment or bearing); from row 2,000 the machine runs at a new
the accelerometer's gain rises to 1.6 (a loosened mount), which changes the healthy
features: a frozen autoencoder then scores healthy windows higher too, while TinyOL's
running standardisation and update layer relearn what healthy looks like (the update layer
trains only on rows whose label says healthy, when revealed).

Usage: train_vibration_ae.py --out DIR [--seed N] [--epochs E]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfpack  # noqa: E402
from train_vibration import make_windows  # noqa: E402

NF, HID = 12, 4


def features(W):
    m = W.mean(axis=1)
    d = W - m[:, None, :]
    rms = np.sqrt((d ** 2).mean(axis=1))
    peak = np.abs(d).max(axis=1)
    kurt = (d ** 4).mean(axis=1) / np.maximum(rms ** 4, 1e-9)
    return np.concatenate([m, rms, peak, kurt], axis=1).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=200)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    Xtr = features(make_windows(rng, 2000, classes=np.zeros(2000, int))[0])
    mean, var = Xtr.mean(axis=0), Xtr.var(axis=0)
    Z = (Xtr - mean) / np.sqrt(var)
    p = {"ew": rng.normal(0, np.sqrt(2 / NF), (HID, NF)), "eb": np.zeros(HID),
         "dw": rng.normal(0, np.sqrt(1 / HID), (NF, HID)), "db": np.zeros(NF)}
    mom = {k: np.zeros_like(v) for k, v in p.items()}
    sq = {k: np.zeros_like(v) for k, v in p.items()}
    step = 0
    for ep in range(a.epochs):
        for b0 in range(0, len(Z), 100):
            z = Z[b0:b0 + 100]
            a1 = z @ p["ew"].T + p["eb"]
            h = np.maximum(a1, 0)
            r = h @ p["dw"].T + p["db"]
            d = 2 * (r - z) / z.size
            g = {"dw": d.T @ h, "db": d.sum(0)}
            dh = (d @ p["dw"]) * (a1 > 0)
            g["ew"], g["eb"] = dh.T @ z, dh.sum(0)
            step += 1
            for k in p:
                mom[k] = 0.9 * mom[k] + 0.1 * g[k]
                sq[k] = 0.999 * sq[k] + 0.001 * g[k] ** 2
                p[k] -= 1e-2 * (mom[k] / (1 - 0.9 ** step)) / (
                    np.sqrt(sq[k] / (1 - 0.999 ** step)) + 1e-8)
    meta = {"name": "vib-ae", "version": "1.0.%d" % a.seed, "task": "anomaly",
            "input": [1, NF],
            "layers": [{"op": "dense", "act": "relu", "w": "ew", "b": "eb"},
                       {"op": "dense", "w": "dw", "b": "db", "update": True}],
            "test_tolerance": 1e-3}
    arrays = {k: v.astype(np.float32) for k, v in p.items()}
    arrays.update({"stats_x": Xtr, "feat_mean": mean.astype(np.float32),
                   "feat_var": var.astype(np.float32), "calib_x": Z[:300].astype(np.float32),
                   "test_x": Z[:2].astype(np.float32)})
    tfpack.save_npz(os.path.join(a.out, "vib-ae.npz"), meta, **arrays)
    img, summ = tfpack.pack(meta, arrays)
    with open(os.path.join(a.out, "vib-ae.tfm"), "wb") as f:
        f.write(img)
    rows = []
    for gain in (1.0, 1.6):
        lab = (rng.random(2000) < 0.05).astype(int)
        cls = np.where(lab == 1, rng.integers(1, 4, 2000), 0)
        F = features(make_windows(rng, 2000, gain=gain, classes=cls)[0])
        rows += [(f, l) for f, l in zip(F, lab)]
    with open(os.path.join(a.out, "vibration_ae_stream.csv"), "w") as f:
        for feat, lab in rows:
            f.write(",".join("%.5g" % v for v in feat) + ",%d\n" % lab)
    zt = Z[:200]
    err = np.mean((np.maximum(zt @ p["ew"].T + p["eb"], 0) @ p["dw"].T + p["db"] - zt) ** 2)
    print("train_vibration_ae: seed %d: healthy reconstruction error %.4f; container %d bytes,"
          " arena %d bytes; stream 4000 rows, 5 %% faults, sensor gain 1.6 from row 2000"
          % (a.seed, err, summ["bytes"], summ["arena"]))


if __name__ == "__main__":
    main()
