#!/usr/bin/python3
"""Writes the seed corpus of fuzz_drift (tests/fuzz/corpus/drift/): a few inputs in the
layout that tests/fuzz/fuzz_drift.c documents. Run from anywhere; rewrites the folder."""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "drift")


def fl(v):
    """One small float: (b - 64) / 16 for b < 0xf0."""
    b = int(round(v * 16)) + 64
    assert 0 <= b < 0xf0
    return bytes([b])


def stats(nf, nb):
    out = b""
    for _ in range(nf):
        out += fl(0.0) + fl(1.0)            # mean 0, var 1
    edges = [-2 + 4 * (i + 1) / nb for i in range(nb - 1)]
    for _ in range(nf):
        out += b"".join(fl(e) for e in edges)
    for _ in range(nf):
        out += b"".join(fl(1.0 / nb) for _ in range(nb))
    return out


def stream(rng, nf, n, p_err):
    """n predictions (op 12: op % 3 == 0, 3 classes) each followed by a label (op 7:
    op % 3 == 1, repeated twice), then a clearing report (op 5)."""
    out = b""
    for _ in range(n):
        out += bytes([12])
        out += b"".join(fl(rng.uniform(-2, 2)) for _ in range(nf))
        out += fl(0.75) + fl(0.25) + fl(0.0)
        err = rng.random() < p_err
        out += bytes([7]) + fl(2.0 if err else 0.125) + bytes([0 if err else 1])
    out += bytes([5])
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    rng = random.Random(1)
    seeds = {
        # flags 0x02: PSI on; nf 3; nb 4; k0 window 4, k1 clock 4, k2 small PH lambda
        "psi_small": bytes([0x02, 2, 4, 0x03, 0x03, 0x12]) + stats(3, 4) +
        stream(rng, 3, 40, 0.1) + stream(rng, 3, 40, 0.6),
        "loss_stream": bytes([0x03, 1, 3, 0x21, 0x07, 0x31]) + stats(2, 3) +
        stream(rng, 2, 60, 0.3),
        "no_stats": bytes([0x20, 0, 0, 0x00, 0x1f, 0x00]) + fl(0) + fl(1) +
        bytes([1 + 3 * 5]) + fl(1.0) + b"\x00" + bytes([2 + 3 * 3]),
        "specials": bytes([0x06, 1, 2, 0x05, 0x01, 0x10]) + fl(0) + fl(1) + fl(0) +
        fl(1) + fl(0) + fl(0.5) + fl(0.5) + fl(0.5) + fl(0.5) +
        bytes([0x0c, 0xf1, 0xf4, 0xf2, 0xf5, 0xf6, 0x04, 0xf0, 0, 0, 0x80, 0x7f, 0x01]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
