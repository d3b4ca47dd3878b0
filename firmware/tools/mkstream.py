#!/usr/bin/python3
"""Writes the data stream the TinyOL firmware replays: rows of the digits model's held-out
half (digits_holdout.npz from tools/model/train_digits.py), drawn with a fixed seed.

Each record is 65 bytes: 64 pixels (0..16, one byte each) and the label. The drift (a gain
and offset on every pixel from a given sample on) is applied by the firmware itself, so
the stream stays small and exact.

Usage: mkstream.py HOLDOUT.npz OUT.bin ROWS
"""
import sys

import numpy as np


def main():
    holdout, out, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    d = np.load(holdout)
    x, y = d["X"], d["y"]
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(y), rows)
    rec = np.zeros((rows, 65), dtype=np.uint8)
    rec[:, :64] = np.clip(np.rint(x[idx]), 0, 16).astype(np.uint8)
    rec[:, 64] = y[idx].astype(np.uint8)
    with open(out, "wb") as f:
        f.write(rec.tobytes())


if __name__ == "__main__":
    main()
