#!/usr/bin/python3
"""Compares the TinyOL firmware run on the Cortex-M4 (QEMU) with its host twin.

Both print the same lines (firmware/src/fw_core.c, fw_tinyol_run): per-window correct
counts and mean loss, every detector alarm with its sample index, and the totals. The
runs must agree line by line; integers (counts, sample indices, alarms) exactly, and the
printed mean losses within FLOAT_TOL absolute. The arithmetic is IEEE single precision on
both sides with contraction off (-ffp-contract=off); what may differ is libm (newlib's
expf/logf/tanhf against glibc's), by an ulp or so per call, hence the tolerance.

Usage: compare_runs.py HOST.out TARGET.out      exit 0 when they agree
"""
import re
import sys

FLOAT_TOL = 1e-3     # absolute, on values printed with 4 decimals


def tokens(line):
    return re.findall(r"[^\s=]+=[^\s]+|\S+", line)


def main():
    host = open(sys.argv[1], encoding="utf-8").read().splitlines()
    target = open(sys.argv[2], encoding="utf-8").read().splitlines()
    if len(host) != len(target):
        print("compare: %d host lines, %d target lines" % (len(host), len(target)))
    bad, exact, near, worst = 0, 0, 0, 0.0
    for i, (h, t) in enumerate(zip(host, target)):
        if h == t:
            exact += 1
            continue
        th, tt = tokens(h), tokens(t)
        ok = len(th) == len(tt)
        for a, b in zip(th, tt):
            if a == b:
                continue
            ka, _, va = a.partition("=")
            kb, _, vb = b.partition("=")
            if ka != kb or "." not in va or "." not in vb:
                ok = False
                continue
            d = abs(float(va) - float(vb))
            worst = max(worst, d)
            ok = ok and d <= FLOAT_TOL
        if ok:
            near += 1
        else:
            bad += 1
            print("compare: line %d differs\n  host:   %s\n  target: %s" % (i + 1, h, t))
    if len(host) != len(target) or bad or not host:
        print("compare: FAILED (%d lines differ)" % bad)
        return 1
    print("compare: host twin and Cortex-M4 agree: %d lines identical, %d within %g "
          "(largest difference %g)" % (exact, near, FLOAT_TOL, worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
