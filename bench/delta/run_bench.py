#!/usr/bin/python3
"""Delta benchmark: every (base -> update) pair of the corpus through our encoder (both
modes) and the reference tools, side by side in one run.

usage: run_bench.py BUILD_DIR CORPUS_DIR [--md OUT.md]

BUILD_DIR is a configured and built `default` preset (build/default). CORPUS_DIR comes from
gen_corpus.py. Columns (bytes): ours-agn (format-agnostic), ours-tensor (tensor-aware),
ours = what the gateway ships (smallest of both modes and the full image; `diff --stats`
tells where its bytes go, see the last table), bsdiff,
xdelta3 -9 -e -s, zstd -19 --long --patch-from, xz -9 and zstd -19 of the new image;
lzma-raw = the same aligned difference stream our agnostic mode codes, compressed with
liblzma raw LZMA1 (lc=0 lp=0 pb=0, 4 KiB dictionary: the library codec we would otherwise
run on the device), for equal-size pairs. Times: our diff and apply (device applier on the
host), seconds. RAM: applier peak working RAM measured by stack painting.
"""
import glob
import lzma
import os
import re
import subprocess
import sys
import tempfile
import time

TOOLS = ["bsdiff", "xdelta3", "zstd", "xz"]


def run(cmd, **kw):
    t = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stderr.decode()))
    return r.stdout.decode(), time.monotonic() - t


def size(path):
    return os.path.getsize(path)


def lzma_raw_diff(old, new):
    if len(old) != len(new):
        return None
    d = bytes((b - a) & 0xFF for a, b in zip(old, new))
    f = [{"id": lzma.FILTER_LZMA1, "dict_size": 4096, "lc": 0, "lp": 0, "pb": 0,
          "preset": 9 | lzma.PRESET_EXTREME}]
    return len(lzma.compress(d, format=lzma.FORMAT_RAW, filters=f))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 1
    build, corpus = sys.argv[1], sys.argv[2]
    md = sys.argv[sys.argv.index("--md") + 1] if "--md" in sys.argv else None
    cli = os.path.join(build, "tools/delta/tinyfleet-delta")
    ramtool = os.path.join(build, "bench/delta/bench_delta_ram")
    tmp = tempfile.mkdtemp(prefix="tf-delta-bench-")
    rows = []
    peak_ram = 0
    t_start = time.monotonic()
    for old in sorted(glob.glob(os.path.join(corpus, "*_base.bin"))):
        stem = old[:-len("_base.bin")]
        for new in sorted(glob.glob(stem + "_*.bin")):
            if new == old:
                continue
            name = os.path.basename(new)[:-4]
            r = {"pair": name, "new": size(new)}
            with open(old, "rb") as f:
                ob = f.read()
            with open(new, "rb") as f:
                nb = f.read()
            pa = os.path.join(tmp, "p.agn")
            pt = os.path.join(tmp, "p.ten")
            pb = os.path.join(tmp, "p.best")
            out, _ = run([cli, "diff", "--mode", "agnostic", old, new, pa])
            r["agn"] = size(pa)
            out, _ = run([cli, "diff", "--mode", "tensor", old, new, pt])
            r["tensor"] = size(pt)
            out, r["diff_s"] = run([cli, "diff", "--mode", "auto", "--stats", old, new, pb])
            r["ours"] = size(pb)
            m = re.search(r"bytes (.*)", out).group(1)
            r["parts"] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.-]+)", m)}
            m = re.search(r"blocks (.*)", out).group(1)
            r["blocks"] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m)}
            r["ours_mode"] = re.search(r"mode=(\w+)", out).group(1)
            out, _ = run([cli, "apply", "--stats", old, pb, os.path.join(tmp, "o")])
            r["apply_s"] = float(re.search(r"apply_s=([\d.]+)", out).group(1))
            with open(os.path.join(tmp, "o"), "rb") as f:
                if f.read() != nb:
                    raise RuntimeError("%s: apply mismatch" % name)
            out, _ = run([ramtool, old, pb])
            ram = int(re.search(r"applier_peak_ram=(\d+)", out).group(1))
            peak_ram = max(peak_ram, ram)
            r["ram"] = ram
            bp = os.path.join(tmp, "p.bsdiff")
            run(["bsdiff", old, new, bp])
            r["bsdiff"] = size(bp)
            xp = os.path.join(tmp, "p.xd3")
            run(["xdelta3", "-9", "-e", "-f", "-s", old, new, xp])
            r["xdelta3"] = size(xp)
            zp = os.path.join(tmp, "p.zst")
            run(["zstd", "-q", "-f", "-19", "--long", "--patch-from=" + old, new, "-o", zp])
            r["zstd_pf"] = size(zp)
            out = subprocess.run(["xz", "-9", "-c", new], stdout=subprocess.PIPE).stdout
            r["xz"] = len(out)
            out = subprocess.run(["zstd", "-q", "-19", "-c", new], stdout=subprocess.PIPE).stdout
            r["zstd"] = len(out)
            r["lzma_raw"] = lzma_raw_diff(ob, nb)
            rows.append(r)
            print("%-22s new=%8d ours=%8d (%s) agn=%8d tensor=%8d bsdiff=%8d xdelta3=%8d "
                  "zstd-pf=%8d xz=%8d zstd=%8d" % (name, r["new"], r["ours"], r["ours_mode"],
                                                   r["agn"], r["tensor"], r["bsdiff"],
                                                   r["xdelta3"], r["zstd_pf"], r["xz"],
                                                   r["zstd"]), flush=True)
    wall = time.monotonic() - t_start

    tot = {k: sum(r[k] for r in rows) for k in
           ("new", "ours", "agn", "tensor", "bsdiff", "xdelta3", "zstd_pf", "xz", "zstd")}
    lines = []
    lines.append("| pair | new | ours (mode) | agnostic | tensor | bsdiff | xdelta3 | "
                 "zstd --patch-from | xz -9 | zstd -19 | lzma-raw(diff) | ours/bsdiff | "
                 "ours/best other | diff s | apply s | RAM B |")
    lines.append("|" + "---|" * 16)
    full_ok = True
    for r in rows:
        best_other = min(r["bsdiff"], r["xdelta3"], r["zstd_pf"], r["xz"], r["zstd"])
        if r["pair"].endswith("_full") and r["ours"] >= best_other:
            full_ok = False
        lines.append("| %s | %d | %d (%s) | %d | %d | %d | %d | %d | %d | %d | %s | %.3f | %.3f "
                     "| %.3f | %.4f | %d |" % (
                         r["pair"], r["new"], r["ours"], r["ours_mode"], r["agn"], r["tensor"],
                         r["bsdiff"], r["xdelta3"], r["zstd_pf"], r["xz"], r["zstd"],
                         "-" if r["lzma_raw"] is None else str(r["lzma_raw"]),
                         r["ours"] / r["bsdiff"], r["ours"] / best_other, r["diff_s"],
                         r["apply_s"], r["ram"]))
    lines.append("| **total** | %d | %d | %d | %d | %d | %d | %d | %d | %d | | %.3f | | | | |" % (
        tot["new"], tot["ours"], tot["agn"], tot["tensor"], tot["bsdiff"], tot["xdelta3"],
        tot["zstd_pf"], tot["xz"], tot["zstd"], tot["ours"] / tot["bsdiff"]))
    summary = [
        "",
        "pairs: %d; total ours / bsdiff = %.3f (goal <= 0.7); ours / xdelta3 = %.3f; "
        "ours / zstd --patch-from = %.3f" % (len(rows), tot["ours"] / tot["bsdiff"],
                                             tot["ours"] / tot["xdelta3"],
                                             tot["ours"] / tot["zstd_pf"]),
        "below the best other tool on every full-fine-tune pair: %s" % ("yes" if full_ok else "NO"),
        "applier peak working RAM (max over pairs): %d bytes" % peak_ram,
        "benchmark wall time: %.1f s" % wall,
    ]
    # Breakdowns: by weight type and by update scenario.
    summary.append("")
    summary.append("| subset | pairs | new bytes | ours | bsdiff | ours/bsdiff | best other tool total "
                   "(per pair min) | ours/best |")
    summary.append("|---|---|---|---|---|---|---|---|")
    groups = [("int8", lambda r: "_i8_" in r["pair"]), ("float32", lambda r: "_f32_" in r["pair"])]
    for sc in ("full", "light", "last", "widen", "insert", "prune", "reseed"):
        groups.append((sc, lambda r, sc=sc: r["pair"].endswith("_" + sc)))
    for gname, pred in groups:
        g = [r for r in rows if pred(r)]
        if not g:
            continue
        o = sum(r["ours"] for r in g)
        b = sum(r["bsdiff"] for r in g)
        bo = sum(min(r["bsdiff"], r["xdelta3"], r["zstd_pf"], r["xz"], r["zstd"]) for r in g)
        summary.append("| %s | %d | %d | %d | %d | %.3f | %d | %.3f |" % (
            gname, len(g), sum(r["new"] for r in g), o, b, o / b, bo, o / bo))
    # Where our bytes go: information content per part of the coded stream (diff --stats),
    # per subset, as bytes and as a share of our patch bytes, and the blocks per coding.
    parts = ("headers", "ops", "add", "add_f32_sym", "add_f32_raw", "insert", "flush")
    summary.append("")
    summary.append("| subset | ours | " + " | ".join(parts) +
                   " | blocks stride 1 / 4 / F32 |")
    summary.append("|---|---|" + "---|" * len(parts) + "---|")
    for gname, pred in [("all", lambda r: True)] + groups:
        g = [r for r in rows if pred(r)]
        if not g:
            continue
        o = sum(r["ours"] for r in g)
        cells = []
        for k in parts:
            v = sum(r["parts"].get(k, 0) for r in g)
            cells.append("%d (%.1f %%)" % (round(v), 100 * v / o))
        bl = [sum(r["blocks"].get(k, 0) for r in g) for k in ("stride1", "stride4", "f32")]
        summary.append("| %s | %d | %s | %d / %d / %d |" % (gname, o, " | ".join(cells), *bl))
    text = "\n".join(lines + summary) + "\n"
    print(text)
    if md:
        with open(md, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
