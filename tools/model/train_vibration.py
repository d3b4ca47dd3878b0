#!/usr/bin/python3
"""Trains the vibration demo model (a 1-D CNN) on a synthetic accelerometer stream and packs
it as a tinyfleet container. Reproducible: everything derives from --seed.

Data: windows of 64 samples x 3 axes at 1 kHz from a rotating machine at 25..35 Hz:
  class 0 normal        1x running speed on every axis + broadband noise
  class 1 imbalance     a strong 1x component, radial axes in quadrature
  class 2 misalignment  a strong 2x component, large on the axial axis
  class 3 bearing fault short decaying 180 Hz bursts at the bearing pass frequency
Model: standardise per axis -> conv1d k7 s2 (8 filters) ReLU -> maxpool 2 -> flatten ->
dense 112->16 ReLU -> dense 16->4 softmax (the TinyOL update layer). Trained with Adam on a
softmax cross-entropy, gradients written out below (numpy only).

Usage: train_vibration.py --out DIR [--seed N] [--epochs E] [--stream-rows N]
Writes DIR/vib-cnn.npz, DIR/vib-cnn.tfm and DIR/vibration_stream.csv (a held-out stream
whose sensor gain drops by 40 % half way, for tinyfleet-eval).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfpack  # noqa: E402

LEN, CH, K, S, F, H, C = 64, 3, 7, 2, 8, 16, 4
OUT1 = (LEN - K) // S + 1          # 29
POOL = OUT1 // 2                   # 14
FLAT = POOL * F                    # 112


def make_windows(rng, n, gain=1.0, classes=None, f_range=(25, 35)):
    """n windows [n, LEN, CH] and their classes (random, or the given array)."""
    t = np.arange(LEN) / 1000.0
    X = np.empty((n, LEN, CH))
    y = rng.integers(0, C, n) if classes is None else np.asarray(classes)
    for i in range(n):
        f0 = rng.uniform(*f_range)
        ph = rng.uniform(0, 2 * np.pi, 3)
        base = np.stack([0.3 * np.sin(2 * np.pi * f0 * t + ph[a]) for a in range(3)], axis=1)
        if y[i] == 1:
            base[:, 0] += 1.2 * np.sin(2 * np.pi * f0 * t + ph[0])
            base[:, 1] += 1.2 * np.cos(2 * np.pi * f0 * t + ph[0])
        elif y[i] == 2:
            base[:, 2] += 1.0 * np.sin(4 * np.pi * f0 * t + ph[2])
            base[:, 0] += 0.4 * np.sin(4 * np.pi * f0 * t + ph[1])
        elif y[i] == 3:
            period = int(1000 / (f0 * 3.6))
            start = rng.integers(0, period)
            for s0 in range(start, LEN, period):
                tt = np.arange(LEN - s0) / 1000.0
                burst = 1.5 * np.exp(-tt * 400) * np.sin(2 * np.pi * 180 * tt)
                base[s0:, 1] += burst
                base[s0:, 2] += 0.5 * burst
        X[i] = gain * (base + rng.normal(0, 0.25, (LEN, CH))) + np.array([0.0, 0.0, 1.0])
    return X.astype(np.float32), y


def patches(Z):
    """[N, LEN, CH] -> [N, OUT1, K*CH] (im2col for the strided conv)."""
    idx = (np.arange(OUT1) * S)[:, None] + np.arange(K)[None, :]
    return Z[:, idx, :].reshape(Z.shape[0], OUT1, K * CH)


def forward(p, Z):
    P = patches(Z)
    a1 = P @ p["cw"].reshape(F, K * CH).T + p["cb"]          # [N, 29, F]
    r1 = np.maximum(a1, 0)
    r1p = r1[:, :2 * POOL].reshape(-1, POOL, 2, F)
    m = r1p.max(axis=2)                                       # [N, 14, F]
    flat = m.reshape(-1, FLAT)
    a2 = flat @ p["dw"].T + p["db"]
    r2 = np.maximum(a2, 0)
    logits = r2 @ p["hw"].T + p["hb"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    return prob, (P, a1, r1p, m, flat, a2, r2)


def grads(p, Z, y):
    n = len(y)
    prob, (P, a1, r1p, m, flat, a2, r2) = forward(p, Z)
    d = prob.copy()
    d[np.arange(n), y] -= 1
    d /= n
    g = {"hw": d.T @ r2, "hb": d.sum(0)}
    d2 = (d @ p["hw"]) * (a2 > 0)
    g["dw"], g["db"] = d2.T @ flat, d2.sum(0)
    dm = (d2 @ p["dw"]).reshape(-1, POOL, F)
    mask = (r1p == m[:, :, None, :])
    mask = mask / np.maximum(mask.sum(axis=2, keepdims=True), 1)
    dr1 = np.zeros_like(a1)
    dr1[:, :2 * POOL] = (mask * dm[:, :, None, :]).reshape(-1, 2 * POOL, F)
    da1 = dr1 * (a1 > 0)
    g["cw"] = np.einsum("ntf,ntk->fk", da1, P).reshape(F, K, CH)
    g["cb"] = da1.sum(axis=(0, 1))
    loss = -np.mean(np.log(prob[np.arange(n), y] + 1e-12))
    return g, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--stream-rows", type=int, default=4000)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    Xtr, ytr = make_windows(rng, 2000)
    Xte, yte = make_windows(rng, 500)
    mean = Xtr.reshape(-1, CH).mean(axis=0)
    var = Xtr.reshape(-1, CH).var(axis=0)
    std = np.sqrt(var)
    Ztr, Zte = (Xtr - mean) / std, (Xte - mean) / std
    p = {"cw": rng.normal(0, np.sqrt(2 / (K * CH)), (F, K, CH)), "cb": np.zeros(F),
         "dw": rng.normal(0, np.sqrt(2 / FLAT), (H, FLAT)), "db": np.zeros(H),
         "hw": rng.normal(0, np.sqrt(1 / H), (C, H)), "hb": np.zeros(C)}
    mom = {k: np.zeros_like(v) for k, v in p.items()}
    sq = {k: np.zeros_like(v) for k, v in p.items()}
    step = 0
    for ep in range(a.epochs):
        order = rng.permutation(len(ytr))
        for b0 in range(0, len(order), 64):
            bi = order[b0:b0 + 64]
            g, loss = grads(p, Ztr[bi], ytr[bi])
            step += 1
            for k in p:   # Adam
                mom[k] = 0.9 * mom[k] + 0.1 * g[k]
                sq[k] = 0.999 * sq[k] + 0.001 * g[k] ** 2
                p[k] -= 3e-3 * (mom[k] / (1 - 0.9 ** step)) / (
                    np.sqrt(sq[k] / (1 - 0.999 ** step)) + 1e-8)
    acc = float(np.mean(forward(p, Zte)[0].argmax(axis=1) == yte))
    meta = {"name": "vib-cnn", "version": "1.0.%d" % a.seed, "task": "classify",
            "input": [LEN, CH],
            "layers": [{"op": "conv1d", "act": "relu", "w": "cw", "b": "cb", "stride": S},
                       {"op": "maxpool1d", "kernel": 2, "stride": 2},
                       {"op": "flatten"},
                       {"op": "dense", "act": "relu", "w": "dw", "b": "db"},
                       {"op": "dense", "act": "softmax", "w": "hw", "b": "hb",
                        "update": True}],
            "test_tolerance": 1e-3}
    arrays = {k: v.astype(np.float32) for k, v in p.items()}
    arrays.update({"stats_x": Xtr.reshape(-1, LEN * CH), "feat_mean": mean.astype(np.float32),
                   "feat_var": var.astype(np.float32),
                   "calib_x": Ztr[:200].reshape(200, -1).astype(np.float32),
                   "test_x": Zte[:4].reshape(4, -1).astype(np.float32)})
    tfpack.save_npz(os.path.join(a.out, "vib-cnn.npz"), meta, **arrays)
    img, summ = tfpack.pack(meta, arrays)
    with open(os.path.join(a.out, "vib-cnn.tfm"), "wb") as f:
        f.write(img)
    layers = tfpack.build_layers(meta, arrays, calib=arrays["calib_x"])
    acc_q = float(np.mean([np.argmax(tfpack.forward(layers, z, (LEN, CH))) == t
                           for z, t in zip(Zte, yte)]))
    # A held-out stream: the sensor's gain drops by 40 % half way (a loosened mount).
    half = a.stream_rows // 2
    Xs1, ys1 = make_windows(rng, half)
    Xs2, ys2 = make_windows(rng, a.stream_rows - half, gain=0.6)
    with open(os.path.join(a.out, "vibration_stream.csv"), "w") as f:
        for Xs, ys in ((Xs1, ys1), (Xs2, ys2)):
            for w, lab in zip(Xs, ys):
                f.write(",".join("%.4f" % v for v in w.reshape(-1)) + ",%d\n" % lab)
    print("train_vibration: seed %d: held-out accuracy float %.4f, int8 container %.4f; "
          "container %d bytes, arena %d bytes; stream %d rows (gain 0.6 from row %d)"
          % (a.seed, acc, acc_q, summ["bytes"], summ["arena"], a.stream_rows, half))


if __name__ == "__main__":
    main()
