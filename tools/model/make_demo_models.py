#!/usr/bin/python3
"""Builds the demo models into a build directory (they are build products, not committed):
the digits MLP, the vibration 1-D CNN and the vibration autoencoder, each trained
reproducibly and packed; then checks
them with the C tools: tinyfleet-eval must load each container, pass its self-test vectors
through the C runtime (learn_packcheck), and on the vibration stream TinyOL must end at least
as accurate as the frozen model after the sensor's gain drop.
Usage: make_demo_models.py --out DIR --eval tinyfleet-eval [--packcheck learn_packcheck]"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--packcheck")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for script in ("train_digits.py", "train_vibration.py", "train_vibration_ae.py"):
        subprocess.run([sys.executable, os.path.join(HERE, script), "--out", a.out],
                       check=True)
    failed = 0
    out = subprocess.run([a.eval, "--model", os.path.join(a.out, "vib-cnn.tfm"), "--csv",
                          os.path.join(a.out, "vibration_stream.csv"), "--segments", "2000",
                          "--label-rate", "0.1", "--quiet-alarms"],
                         capture_output=True, text=True)
    print(out.stdout, out.stderr)
    m = re.search(r"^1\s+2000\s+\d+\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M)
    if out.returncode != 0 or m is None or float(m.group(2)) < float(m.group(1)):
        failed += 1
    # The autoencoder: after the gain change TinyOL's healthy reconstruction error must be
    # back below the frozen one's, and faults must still score above healthy windows.
    out = subprocess.run([a.eval, "--model", os.path.join(a.out, "vib-ae.tfm"), "--csv",
                          os.path.join(a.out, "vibration_ae_stream.csv"), "--segments",
                          "2000,2500", "--label-rate", "0.1", "--lr", "0.01", "--quiet-alarms"],
                         capture_output=True, text=True)
    print(out.stdout, out.stderr)
    m = re.search(r"^2\s+2500\s+\d+\s+([\d.e+-]+)\s+([\d.e+-]+)\s+([\d.e+-]+)\s+([\d.e+-]+)$",
                  out.stdout, re.M)
    if out.returncode != 0 or m is None:
        failed += 1
    else:
        fn, fa, tn, ta = (float(m.group(i)) for i in range(1, 5))
        failed += not (tn < 0.5 * fn and ta > 3 * tn)
    if a.packcheck:
        # Self-test vectors only: an empty input set is refused, so give one test row.
        import numpy as np
        import tfpack  # noqa: E402
        for name in ("digits-mlp", "vib-cnn", "vib-ae"):
            meta, arr = tfpack.load_npz(os.path.join(a.out, name + ".npz"))
            x = arr["test_x"][:1].astype("<f4")
            y = tfpack.float_forward(meta, arr, x[0]).astype("<f4")
            x.tofile(os.path.join(a.out, name + ".in.f32"))
            y.tofile(os.path.join(a.out, name + ".out.f32"))
            r = subprocess.run([a.packcheck, os.path.join(a.out, name + ".tfm"),
                                os.path.join(a.out, name + ".in.f32"),
                                os.path.join(a.out, name + ".out.f32"), "0.05"])
            failed += r.returncode != 0
    print("%d passed, %d failed" % (5 - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
