#!/usr/bin/python3
"""Packer round trip for CTest: writes tiny float models as .npz, packs them with the
tfpack command line, computes numpy's float forward pass on fresh inputs, and has the C
runtime (learn_packcheck) check its int8 inference against it within a tolerance."""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tfpack  # noqa: E402


def case_cnn(rng):
    f = lambda *s: (rng.normal(size=s) * 0.5).astype(np.float32)  # noqa: E731
    meta = {"name": "check-cnn", "version": "1.0.0", "task": "classify", "input": [32, 3],
            "layers": [{"op": "conv1d", "act": "relu", "w": "c1_w", "b": "c1_b", "stride": 1},
                       {"op": "maxpool1d", "kernel": 2},
                       {"op": "conv1d", "act": "relu", "w": "c2_w", "b": "c2_b", "stride": 2},
                       {"op": "avgpool1d", "kernel": 2},
                       {"op": "flatten"},
                       {"op": "dense", "act": "tanh", "w": "d_w", "b": "d_b"},
                       {"op": "dense", "act": "softmax", "w": "h_w", "b": "h_b",
                        "update": True}],
            "test_tolerance": 1e-3}
    arrays = {"c1_w": f(6, 5, 3), "c1_b": f(6), "c2_w": f(8, 3, 6), "c2_b": f(8),
              "d_w": f(12, 24) * 0.5, "d_b": f(12), "h_w": f(4, 12), "h_b": f(4)}
    # Channels of very different ranges make per-channel quantisation worth it.
    arrays["c1_w"][0] *= 3
    arrays["calib_x"] = rng.normal(size=(64, 96)).astype(np.float32)
    arrays["train_x"] = arrays["calib_x"]
    arrays["test_x"] = rng.normal(size=(4, 96)).astype(np.float32)
    return meta, arrays, [], 0.06


def case_mlp(rng):
    f = lambda *s: (rng.normal(size=s) * 0.4).astype(np.float32)  # noqa: E731
    meta = {"name": "check-mlp", "version": "0.2.0", "task": "classify", "input": [1, 20],
            "layers": [{"op": "dense", "act": "relu", "w": "a_w", "b": "a_b"},
                       {"op": "dense", "act": "sigmoid", "w": "b_w", "b": "b_b"},
                       {"op": "dense", "act": "softmax", "w": "h_w", "b": "h_b",
                        "update": True}],
            "test_tolerance": 1e-3}
    arrays = {"a_w": f(16, 20), "a_b": f(16), "b_w": f(10, 16), "b_b": f(10),
              "h_w": f(5, 10) * 4, "h_b": f(5), "test_x": rng.normal(size=(3, 20))}
    return meta, arrays, ["--per-channel", "never"], 0.06


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checker", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    rng = np.random.default_rng(2026)
    failed = 0
    for case in (case_cnn, case_mlp):
        meta, arrays, opts, tol = case(rng)
        base = os.path.join(a.workdir, meta["name"])
        tfpack.save_npz(base + ".npz", meta, **arrays)
        r = subprocess.run([sys.executable, os.path.join(HERE, "tfpack.py"), base + ".npz",
                            base + ".tfm"] + opts)
        if r.returncode != 0:
            print("check_packer: tfpack failed for", meta["name"])
            failed += 1
            continue
        n_in = meta["input"][0] * meta["input"][1]
        x = rng.normal(size=(50, n_in)).astype(np.float32)
        y = np.stack([tfpack.float_forward(meta, arrays, v) for v in x]).astype(np.float32)
        x.astype("<f4").tofile(base + ".in.f32")
        y.astype("<f4").tofile(base + ".out.f32")
        r = subprocess.run([a.checker, base + ".tfm", base + ".in.f32", base + ".out.f32",
                            str(tol)])
        failed += r.returncode != 0
    # A malformed .npz is refused with a message, not a traceback.
    meta, arrays, _, _ = case_mlp(rng)
    arrays["a_w"] = arrays["a_w"][:, :5]
    tfpack.save_npz(os.path.join(a.workdir, "bad.npz"), meta, **arrays)
    r = subprocess.run([sys.executable, os.path.join(HERE, "tfpack.py"),
                        os.path.join(a.workdir, "bad.npz"), os.path.join(a.workdir, "bad.tfm")],
                       capture_output=True, text=True)
    if r.returncode == 0 or "do not fit" not in r.stderr:
        print("check_packer: a mismatched .npz was not refused:", r.stderr)
        failed += 1
    print("%d passed, %d failed" % (3 - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
