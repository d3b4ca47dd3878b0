#!/usr/bin/python3
"""Telemetry interop with an implementation nobody here wrote (Debian's python3-cbor2).

1. Packs encoded by our C encoder (telemetry_tool sample) are decoded by cbor2 and resolved
   here per RFC 8428 section 4.6, independently of our decoder: integer labels of Table 4,
   resolved names (bn + n, section 4.5.1 character set), base time, base unit, base value,
   one value field per record. The resolved records must match the reference snapshot
   (tests/protocol/telemetry_sample.h, restated below), complete and under a byte budget
   (drop order as documented in telemetry.h).
2. Packs built here with cbor2, using RFC 8428 features our encoder never emits (bver,
   split base names, bv, bu, t, text extension labels, unknown records, reordering), are
   decoded by our C decoder (telemetry_tool decode) and must give the expected values;
   malformed ones must give the documented error codes.

3. schemas/examples/telemetry.diag is the diagnostic notation (RFC 8949 section 8) of
   telemetry.hex, as printed by `telemetry_check.py --diag HEXFILE`.

usage: telemetry_check.py TELEMETRY_TOOL WORKDIR EXAMPLES_DIR
       telemetry_check.py --diag HEXFILE
"""
import json
import math
import os
import re
import struct
import subprocess
import sys

import cbor2

LABELS = {-6: "bs", -5: "bv", -4: "bu", -3: "bt", -2: "bn", -1: "bver",
          0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd"}
NAME_RE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9:./_]*$")

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def resolve(pack):
    """RFC 8428 section 4.6 resolution, written from the RFC, not from our C code."""
    assert isinstance(pack, list), "a pack is an array"
    base = {"bn": "", "bt": 0, "bu": None, "bv": 0, "bs": 0}
    out = []
    for rec in pack:
        assert isinstance(rec, dict), "a record is a map"
        for k in rec:
            assert isinstance(k, int) and k in LABELS, "label %r not in RFC 8428 Table 4" % (k,)
        if -1 in rec:
            assert rec[-1] <= 10
        for lab, key in ((-2, "bn"), (-3, "bt"), (-4, "bu"), (-5, "bv"), (-6, "bs")):
            if lab in rec:
                base[key] = rec[lab]
        for lab in (-2, -4, 0, 1, 3):
            if lab in rec:
                assert isinstance(rec[lab], str), "label %d must be text" % lab
        for lab in (-3, -5, -6, 2, 5, 6, 7):
            if lab in rec:
                assert isinstance(rec[lab], (int, float)) and not isinstance(rec[lab], bool)
                assert math.isfinite(rec[lab])
        if 4 in rec:
            assert isinstance(rec[4], bool)
        values = [lab for lab in (2, 3, 4, 8) if lab in rec]
        assert len(values) <= 1, "at most one value field"
        name = base["bn"] + rec.get(0, "")
        assert NAME_RE.match(name), "resolved name %r breaks section 4.5.1" % name
        r = {"n": name, "t": base["bt"] + rec.get(6, 0), "u": rec.get(1, base["bu"])}
        if 2 in rec:
            r["v"] = base["bv"] + rec[2]
        if 4 in rec:
            r["vb"] = rec[4]
        if 3 in rec:
            r["vs"] = rec[3]
        out.append(r)
    return out


def shift(i):
    return (((i * 37) % 64) - 32) / 16.0


BASE = "pump-17/vib-anomaly:1.4.2/"
# The reference snapshot: name -> (unit, value); booleans are vb records.
CORE = {
    "samples": ("count", 5000), "labelled": ("count", 500), "loss": (None, 0.375),
    "acc": ("/", 0.875), "alarm": (None, True), "why": (None, 0x01 | 0x10),
    "ph": (None, 62.5), "ph_alarm": (None, True), "adwin": (None, 0.25),
    "adwin_alarm": (None, False), "adwin_w": ("count", 1024), "ddm": (None, 1.5),
    "ddm_alarm": (None, False), "psi": (None, 0.125), "psi_max": (None, 0.5),
    "conf": ("/", 0.75), "margin": ("/", 0.5), "nfeat": ("count", 64),
}
OPTIONAL = {"hddm": (None, 0.0625), "hddm_alarm": (None, False), "lr": (None, 0.0078125),
            "steps": ("count", 480)}
OPT_DROP_ORDER = ["steps", "lr", "hddm", "hddm_alarm"]


def run_tool(tool, *args):
    p = subprocess.run([tool] + list(args), capture_output=True, text=True, check=False)
    return p.returncode, p.stdout


def check_our_pack(tool, work, budget):
    path = os.path.join(work, "ours-%d.cbor" % budget)
    rc, out = run_tool(tool, "sample", path, str(budget), "64", "1")
    check(rc == 0, "encode sample under budget %d: %s" % (budget, out))
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) <= budget, "pack of %d bytes within budget %d" % (len(data), budget))
    recs = resolve(cbor2.loads(data))
    check(recs[0]["n"] == BASE + "samples", "first record resolves under the base name")
    by_name = {}
    for r in recs:
        check(r["n"].startswith(BASE), "record %s under base name" % r["n"])
        check(r["t"] == 1764000000, "resolved time of %s is the base time" % r["n"])
        short = r["n"][len(BASE):]
        check(short not in by_name, "record name %s appears once" % short)
        by_name[short] = r
    expect = dict(CORE)
    expect.update(OPTIONAL)
    for i in range(64):
        expect["z%d" % i] = (None, shift(i))
    dropped = by_name.pop("dropped", None)
    missing = [n for n in expect if n not in by_name]
    if dropped is None:
        check(not missing, "complete pack has every record (missing %s)" % missing)
    else:
        check(dropped["u"] == "count" and dropped["v"] == len(missing),
              "dropped record counts the %d missing records" % len(missing))
    for n in missing:
        check(n not in CORE, "never-dropped record %s is present" % n)
    # Drop order: shifts from least |shift| (ties: higher index first), then optional.
    order = sorted(range(64), key=lambda i: (abs(shift(i)), -i))
    droppable = ["z%d" % i for i in order] + OPT_DROP_ORDER
    check(set(missing) == set(droppable[:len(missing)]),
          "records dropped in the documented order (budget %d)" % budget)
    for short, r in by_name.items():
        check(short in expect, "record %s is documented" % short)
        if short not in expect:
            continue
        unit, value = expect[short]
        check(r["u"] == unit, "unit of %s: %r, want %r" % (short, r["u"], unit))
        if isinstance(value, bool):
            check(r.get("vb") is value, "vb of %s" % short)
        else:
            check(r.get("v") == value, "v of %s: %r, want %r" % (short, r.get("v"), value))
    return len(missing)


def decode_with_c(tool, work, name, pack):
    path = os.path.join(work, name + ".cbor")
    with open(path, "wb") as f:
        f.write(pack if isinstance(pack, bytes) else cbor2.dumps(pack))
    rc, out = run_tool(tool, "decode", path)
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return rc, fields


def check_python_pack(tool, work):
    bn = "gw-test-3/clf.v2:2.0.1-rc.1/"
    pack = [
        {-1: 10, -2: bn, -3: 1700000000, 0: "samples", 1: "count", 2: 1234},
        {0: "loss", -5: 0.5, 2: -0.125},                  # bv + v = 0.375
        {-5: 0, 0: "ph", 2: 3.5, 6: -10},                 # t: resolved time bt - 10
        {0: "adwin", 2: 0.0},
        {0: "ddm", 2: 2},
        {0: "psi", 2: 0.25}, {0: "psi_max", 2: 1.5},
        {0: "lr", 2: 0.001953125},
        {0: "why", 2: 4},
        {0: "temp", 1: "Cel", 2: 21.5},                   # unknown name: skipped
        {0: "fw", 3: "2.1.0"},                            # unknown string record
        {"note": "extension", 0: "z2", 2: 1.25},          # extension text label: ignored
        {-2: "gw-test-3/", 0: "clf.v2:2.0.1-rc.1/z5", 2: -0.75},   # split base name
        {-2: bn, 0: "z0", 2: 0},
        {0: "alarm", 4: True}, {0: "ph_alarm", 4: False}, {0: "adwin_alarm", 4: False},
        {0: "ddm_alarm", 4: True}, {0: "hddm_alarm", 4: True},
        {-4: "/", 0: "acc", 2: 0.5},                      # unit from bu
        {0: "conf", 2: 0.625}, {0: "margin", 2: 0.25},
        {-4: "count", 0: "adwin_w", 2: 32},
        {0: "labelled", 2: 12},
        {0: "nfeat", 2: 8},                               # after the z records
    ]
    rc, got = decode_with_c(tool, work, "python-pack", pack)
    check(rc == 0, "C decoder accepts the cbor2 pack: %r" % got.get("error"))
    want = {
        "device_id": "gw-test-3", "model": "clf.v2", "version": "2.0.1-rc.1",
        "samples": 1234, "labelled": 12, "loss": 0.375, "acc": 0.5, "alarm": 1, "why": 4,
        "ph": 3.5, "ph_alarm": 0, "adwin": 0, "adwin_alarm": 0, "adwin_w": 32, "ddm": 2,
        "ddm_alarm": 1, "psi": 0.25, "psi_max": 1.5, "conf": 0.625, "margin": 0.25,
        "nfeat": 8, "optional": 0x02 | 0x04, "hddm_alarm": 1, "lr": 0.001953125,
        "z0": 0, "z2": 1.25, "z5": -0.75, "dropped": 0, "unknown_records": 2,
        "ignored_labels": 1, "time": 1700000000, "time_relative": 0,
    }
    for k, v in want.items():
        if isinstance(v, str):
            check(got.get(k) == v, "C decoded %s=%r, want %r" % (k, got.get(k), v))
        else:
            check(k in got and float(got[k]) == f32(v),
                  "C decoded %s=%r, want %r" % (k, got.get(k), v))
    for k in ("z1", "z3", "hddm", "steps"):
        check(k not in got, "C decoder reports no %s" % k)

    # Malformed packs built by cbor2, each with its code (protocol/.../error.h).
    def variant(name, edit, code):
        p = [dict(r) for r in pack]
        edit(p)
        rc2, g = decode_with_c(tool, work, "bad-" + name, p)
        err = g.get("error", "").split(" ")[0]
        check(rc2 == 1 and err == str(code), "%s: error %s, want %d" % (name, err, code))

    variant("v-and-vb", lambda p: p[9].update({4: True}), -36)
    variant("dup-name", lambda p: p.append({0: "acc", 2: 0.5}), -25)
    variant("short-base", lambda p: p[0].update({-2: "gw-test-3/"}), -38)
    variant("nan", lambda p: p[3].update({2: float("nan")}), -29)
    variant("label-9", lambda p: p[3].update({9: 1}), -24)
    variant("bver-11", lambda p: p[0].update({-1: 11}), -38)
    variant("vb-as-int", lambda p: p[14].update({4: 1}), -22)
    variant("missing-acc", lambda p: p.pop(19), -23)
    variant("bad-name", lambda p: p.append({0: "a b", 2: 1}), -37)
    variant("must-understand", lambda p: p[9].update({"x_": 1}), -24)


def diag_item(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, str)):
        return json.dumps(x)
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, bytes):
        return "h'%s'" % x.hex()
    if isinstance(x, list):
        return "[" + ", ".join(diag_item(i) for i in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join("%s: %s" % (diag_item(k), diag_item(v)) for k, v in x.items()) + "}"
    raise ValueError("no diagnostic form for %r" % (x,))


def diag_pack(data):
    """One record per line; floats are printed without their encoding width."""
    pack = cbor2.loads(data)
    return "[\n" + ",\n".join("  " + diag_item(r) for r in pack) + "\n]\n"


def read_hex(path):
    with open(path) as f:
        return bytes.fromhex("".join(f.read().split()))


def check_examples(examples):
    data = read_hex(os.path.join(examples, "telemetry.hex"))
    resolve(cbor2.loads(data))
    with open(os.path.join(examples, "telemetry.diag")) as f:
        check(f.read() == diag_pack(data), "telemetry.diag is the diagnostic form of telemetry.hex")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--diag":
        sys.stdout.write(diag_pack(read_hex(sys.argv[2])))
        return 0
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    tool, work = sys.argv[1], sys.argv[2]
    check_examples(sys.argv[3])
    os.makedirs(work, exist_ok=True)
    check(check_our_pack(tool, work, 4096) == 0, "unbounded pack is complete")
    for budget in (700, 500, 420, 380):
        n = check_our_pack(tool, work, budget)
        print("budget %d: %d records dropped" % (budget, n))
    check_python_pack(tool, work)
    print("telemetry interop: %s" % ("ok" if failures == 0 else "%d failure(s)" % failures))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
