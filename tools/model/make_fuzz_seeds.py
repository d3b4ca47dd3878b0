#!/usr/bin/python3
"""Writes the seed corpus of fuzz_container (tests/fuzz/corpus/container/): a few small
valid containers covering every layer op, activation, dtype and optional section, made with
tfpack from fixed random weights. Usage: make_fuzz_seeds.py <corpus dir>"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfpack  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    # conv1d + pools + flatten + dense, static quantisation, stats and self-test vectors
    meta = {"name": "seed-cnn", "version": "1.0.0", "task": "classify", "input": [12, 2],
            "layers": [{"op": "conv1d", "act": "relu", "w": "c_w", "b": "c_b"},
                       {"op": "maxpool1d", "kernel": 2},
                       {"op": "avgpool1d", "kernel": 2, "stride": 1},
                       {"op": "flatten"},
                       {"op": "dense", "act": "tanh", "w": "d_w", "b": "d_b"},
                       {"op": "dense", "act": "softmax", "w": "h_w", "b": "h_b",
                        "update": True}]}
    arr = {"c_w": f(3, 3, 2), "c_b": f(3), "d_w": f(4, 12), "d_b": f(4), "h_w": f(3, 4),
           "h_b": f(3), "train_x": f(50, 24), "calib_x": f(10, 24), "test_x": f(2, 24)}
    img, _ = tfpack.pack(meta, arr, psi_bin_count=4)
    open(os.path.join(out, "cnn.tfm"), "wb").write(img)
    # MLP, dynamic quantisation, sigmoid, regression, pruning, no sections
    meta = {"name": "seed-mlp", "version": "0.1", "task": "regress", "input": [1, 6],
            "layers": [{"op": "dense", "act": "sigmoid", "w": "a_w"},
                       {"op": "dense", "w": "h_w", "b": "h_b", "update": True}]}
    img, _ = tfpack.pack(meta, {"a_w": f(5, 6), "h_w": f(2, 5), "h_b": f(2)}, prune_frac=0.5)
    open(os.path.join(out, "mlp.tfm"), "wb").write(img)
    # autoencoder for anomaly detection, no update layer flag on the frozen part
    meta = {"name": "seed-ae", "version": "2.0.0-rc1", "task": "anomaly", "input": [1, 4],
            "layers": [{"op": "dense", "act": "relu", "w": "e_w", "b": "e_b"},
                       {"op": "dense", "w": "d_w", "b": "d_b", "update": True}]}
    img, _ = tfpack.pack(meta, {"e_w": f(2, 4), "e_b": f(2), "d_w": f(4, 2), "d_b": f(4),
                                "train_x": f(20, 4), "test_x": f(1, 4)}, psi_bin_count=3)
    open(os.path.join(out, "ae.tfm"), "wb").write(img)
    # no trainable layer at all, float32 frozen weights
    meta = {"name": "seed-frozen", "version": "1", "task": "classify", "input": [1, 3],
            "layers": [{"op": "dense", "act": "softmax", "w": "w", "b": "b"}]}
    arr = {"w": f(2, 3), "b": f(2)}
    img, _ = tfpack.pack(meta, arr, pc_mode="never")
    open(os.path.join(out, "frozen.tfm"), "wb").write(img)


if __name__ == "__main__":
    main()
