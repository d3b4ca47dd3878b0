#!/usr/bin/python3
"""Writes the seed corpora of fuzz_container and fuzz_tinyol_blob.

container/: a few small valid containers covering every layer op, activation, dtype and
optional section, made with tfpack from fixed random weights.
tinyol_blob/: TinyOL saved-state blobs (layout in device-agent's tinyol.h) for the fixed
model of tests/fuzz/fuzz_tinyol_blob.c: a valid one, one for another model, a torn one.
Usage: make_fuzz_seeds.py <tests/fuzz/corpus dir>"""
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfpack  # noqa: E402


def blob(tag, w, b, mean, m2, n=100, predictions=7, updates=5):
    """A TinyOL blob: header, weights, bias, Welford mean and m2, CRC-32 (zlib's = IEEE)."""
    body = struct.pack("<4sHHIHHHHIII", b"TFOL", 1, 0, tag, 3, 2, 3, 0, predictions, updates,
                       n)
    body += struct.pack("<%df" % (len(w) + len(b) + len(mean) + len(m2)), *(w + b + mean + m2))
    return body + struct.pack("<I", zlib.crc32(body))


def blob_seeds(out):
    os.makedirs(out, exist_ok=True)
    w = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
    b = [0.0, 0.0]
    # The model tag: CRC-32 of name, version with its NUL, head weights and bias bytes.
    tag = zlib.crc32(b"fuzz-model" + b"1\0" + struct.pack("<6f", *w) + struct.pack("<2f", *b))
    good = blob(tag, [0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [0.05, -0.05], [0.0, 1.0, -1.0],
                [100.0, 50.0, 200.0])
    open(os.path.join(out, "valid.blob"), "wb").write(good)
    open(os.path.join(out, "other_model.blob"), "wb").write(
        blob(tag ^ 1, w, b, [0.0] * 3, [100.0] * 3))
    torn = good[:40] + b"\xff" * (len(good) - 40)
    open(os.path.join(out, "torn.blob"), "wb").write(torn)


def main():
    root = sys.argv[1]
    blob_seeds(os.path.join(root, "tinyol_blob"))
    out = os.path.join(root, "container")
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
