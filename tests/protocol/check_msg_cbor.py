#!/usr/bin/python3
"""Independent check of the device-plane CBOR examples (schemas/examples/msg-*.hex).

Decodes every example with Python's cbor2 (Debian python3-cbor2), a decoder nobody here
wrote, and checks it against the rules of schemas/device-plane.cddl, restated below as
Python validators: key 0 first with the right message type, keys ascending (deterministic
encoding), every key known and of the right CBOR type and range, required keys present,
no bytes after the message. For messages without floats it also checks that cbor2's own
encoding of the decoded value is byte-identical to ours (shortest integer heads, definite
lengths). Floats are excluded there only because cbor2 writes doubles where we write
singles.

Each file carries the message's diagnostic notation (RFC 8949 section 8) in its comment
block; this script renders it from the decoded value and fails when the comment is stale.
`--write` rewrites the comment instead (used by regen-msg-examples.sh).

`--emit OUTDIR` also writes, for each example, the same message as cbor2 encodes it in a
form our encoder never writes (keys after key 0 in reverse order, nested maps reversed,
floats as doubles) to OUTDIR/msg-<name>.cbor; test_msg_examples (TFP_FOREIGN_DIR) then
checks that our strict decoders accept it and re-encode it to the committed bytes.

Usage: check_msg_cbor.py [--write] [--emit OUTDIR] EXAMPLES_DIR
"""
import io
import math
import re
import struct
import sys
from pathlib import Path

import cbor2

DIAG_MARK = "# Diagnostic notation (rendered and checked by tests/protocol/check_msg_cbor.py):"


class Bad(Exception):
    pass


# ---- validators, one per CDDL rule ----

def uint(lo=0, hi=2**64 - 1):
    def check(v, where):
        if type(v) is not int or not lo <= v <= hi:
            raise Bad(f"{where}: want uint in {lo}..{hi}, got {v!r}")
    return check


U32 = uint(0, 2**32 - 1)
ID_RE = re.compile(r"[A-Za-z0-9._-]+")
IDENT_RE = re.compile(r"[!-~]+")


def tstr(maxlen, pattern):
    def check(v, where):
        if type(v) is not str:
            raise Bad(f"{where}: want tstr, got {v!r}")
        n = len(v.encode())
        if not 1 <= n <= maxlen or not pattern.fullmatch(v):
            raise Bad(f"{where}: bad text {v!r} (1..{maxlen} bytes of {pattern.pattern})")
    return check


def bstr(lo, hi):
    def check(v, where):
        if type(v) is not bytes or not lo <= len(v) <= hi:
            raise Bad(f"{where}: want bstr of {lo}..{hi} bytes, got {v!r}")
    return check


DIGEST = bstr(32, 32)


def number(hi):
    def check(v, where):
        if type(v) not in (int, float) or not (0 <= v <= hi) or \
                (type(v) is float and not math.isfinite(v)):
            raise Bad(f"{where}: want number in 0..{hi}, got {v!r}")
    return check


def array(item, lo, hi):
    def check(v, where):
        if type(v) is not list or not lo <= len(v) <= hi:
            raise Bad(f"{where}: want array of {lo}..{hi}, got {v!r}")
        for i, x in enumerate(v):
            item(x, f"{where}[{i}]")
    return check


def nint32(v, where):
    if type(v) is not int or not -2**31 <= v <= -1:
        raise Bad(f"{where}: want nint >= -2^31, got {v!r}")


def strict_map(v, where, fields, required):
    if type(v) is not dict:
        raise Bad(f"{where}: want map, got {v!r}")
    keys = list(v)
    if any(type(k) is not int for k in keys):
        raise Bad(f"{where}: non-integer key in {keys}")
    if keys != sorted(keys):
        raise Bad(f"{where}: keys not in ascending order: {keys}")
    for k in keys:
        if k not in fields:
            raise Bad(f"{where}: unknown key {k}")
        fields[k](v[k], f"{where}.{k}")
    missing = set(required) - set(keys)
    if missing:
        raise Bad(f"{where}: missing keys {sorted(missing)}")


def const(c):
    def check(v, where):
        if type(v) is not int or v != c:
            raise Bad(f"{where}: want {c}, got {v!r}")
    return check


def slot(v, where):
    if type(v) is dict and v.get(0) == 0:
        strict_map(v, where, {0: const(0)}, [0])
        return
    fields = {0: uint(1, 3), 1: tstr(32, IDENT_RE), 2: tstr(24, IDENT_RE), 3: uint(),
              4: DIGEST}
    strict_map(v, where, fields, fields)


def device_state(v):
    fields = {0: const(1), 1: uint(1, 2**32 - 1), 2: tstr(64, ID_RE),
              3: tstr(32, IDENT_RE), 4: U32, 5: U32, 6: array(tstr(16, IDENT_RE), 0, 8),
              7: tstr(24, IDENT_RE), 8: U32, 9: array(slot, 2, 2), 10: uint(0, 1),
              11: uint()}
    strict_map(v, "state", fields, range(11))


CHUNK = uint(1, 16384)


def update_offer(v):
    fields = {0: const(3), 1: uint(), 2: bstr(1, 1024), 3: uint(0, 2), 4: DIGEST,
              5: DIGEST, 6: uint(1, 2**32 - 1), 7: CHUNK}
    strict_map(v, "update", fields, [0, 1, 2, 3, 5, 6, 7])
    if (v[3] == 2) != (4 in v):
        raise Bad("update: key 4 (base digest) goes with fetch = delta (2) only")


def rollback(v):
    strict_map(v, "rollback", {0: const(4), 1: uint()}, [0, 1])


def config(v):
    fields = {0: const(5), 1: uint(), 2: uint(1, 86400), 3: uint(1, 2**32 - 1),
              4: number(1e6), 5: number(1e9), 6: number(1.0), 7: number(1e3),
              8: number(1e3), 9: number(1.0)}
    strict_map(v, "config", fields, [0, 1])


def chunk_request(v):
    fields = {0: const(6), 1: uint(), 2: DIGEST, 3: U32, 4: CHUNK}
    strict_map(v, "chunk-request", fields, fields)
    if v[3] + v[4] > 2**32 - 1:
        raise Bad("chunk-request: offset + length past 2^32-1")


def chunk_response(v):
    fields = {0: const(7), 1: DIGEST, 2: U32, 3: U32, 4: bstr(0, 16384)}
    strict_map(v, "chunk-response", fields, fields)
    if v[2] + len(v[4]) > v[3]:
        raise Bad("chunk-response: offset + len(data) past total")


PHASE = uint(0, 8)
SUCCESS = {0, 1, 2, 3}
FAILURE = set(range(16, 27)) | set(range(48, 52)) | set(range(64, 71)) | set(range(96, 102))


def progress(v):
    fields = {0: const(8), 1: uint(), 2: PHASE, 3: U32, 4: U32}
    strict_map(v, "progress", fields, fields)
    if v[3] > v[4]:
        raise Bad("progress: bytes done > total")


def result(v):
    fields = {0: const(9), 1: uint(), 2: PHASE, 3: U32, 4: U32, 5: uint(0, 3),
              6: uint(0, 255), 7: nint32}
    strict_map(v, "result", fields, [0, 1, 2, 5, 6])
    if (3 in v) != (4 in v):
        raise Bad("result: keys 3 and 4 go together")
    if 3 in v and v[3] > v[4]:
        raise Bad("result: bytes done > total")
    if v[6] not in SUCCESS | FAILURE:
        raise Bad(f"result: unknown reason {v[6]}")
    if (v[5] == 0) != (v[6] in SUCCESS):
        raise Bad("result: outcome ok iff success reason")


BY_TYPE = {1: device_state, 3: update_offer, 4: rollback, 5: config, 6: chunk_request,
           7: chunk_response, 8: progress, 9: result}


# ---- diagnostic notation ----

def float_diag(x):
    """Shortest decimal that round-trips through single precision, with the _2 width
    indicator when single precision holds the value exactly (as our encoder writes)."""
    single = struct.unpack("<f", struct.pack("<f", x))[0]
    if single == x:
        for digits in range(1, 10):
            s = f"{x:.{digits}g}"
            if struct.unpack("<f", struct.pack("<f", float(s)))[0] == single:
                return repr(float(s)) + "_2"
    return repr(x) + "_3"


def diag(v):
    if type(v) is bool:
        return "true" if v else "false"
    if type(v) is int:
        return str(v)
    if type(v) is float:
        return float_diag(v)
    if type(v) is bytes:
        return "h'" + v.hex() + "'"
    if type(v) is str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if type(v) is list:
        return "[" + ", ".join(diag(x) for x in v) + "]"
    if type(v) is dict:
        return "{" + ", ".join(f"{diag(k)}: {diag(x)}" for k, x in v.items()) + "}"
    raise Bad(f"no diagnostic form for {v!r}")


def diag_lines(v):
    """The top-level map one key per line."""
    return ["{"] + [f"  {k}: {diag(x)}," for k, x in v.items()] + ["}"]


def check_file(path, write):
    lines = path.read_text().splitlines()
    head, hex_lines = [], []
    for line in lines:
        if line.startswith("#"):
            head.append(line)
        elif line.strip():
            hex_lines.append(line.strip())
    data = bytes.fromhex("".join(hex_lines))
    fp = io.BytesIO(data)
    value = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(data):
        raise Bad(f"{len(data) - fp.tell()} trailing bytes")
    if type(value) is not dict or not value or next(iter(value)) != 0:
        raise Bad("not a map starting with key 0")
    mtype = value[0]
    if mtype not in BY_TYPE:
        raise Bad(f"unknown message type {mtype!r}")
    BY_TYPE[mtype](value)

    if not any(type(x) is float for x in walk(value)):
        again = cbor2.dumps(value)
        if again != data:
            raise Bad(f"cbor2 re-encodes differently:\n ours  {data.hex()}\n cbor2 {again.hex()}")

    want = [DIAG_MARK] + ["# " + x for x in diag_lines(value)]
    if DIAG_MARK in head:
        intro = head[:head.index(DIAG_MARK)]
        have = head[head.index(DIAG_MARK):]
    else:
        intro, have = head, []
    if write:
        path.write_text("\n".join(intro + want + hex_lines) + "\n")
    elif have != want:
        raise Bad("diagnostic notation in the comment is missing or stale "
                  "(run tests/protocol/regen-msg-examples.sh)")
    return mtype, len(data)


def reordered(v, top=True):
    """v with every map's keys reversed (key 0 kept first at the top level)."""
    if type(v) is list:
        return [reordered(x, False) for x in v]
    if type(v) is not dict:
        return v
    keys = list(v)[::-1]
    if top:
        keys = [0] + [k for k in keys if k != 0]
    return {k: reordered(v[k], False) for k in keys}


def emit_foreign(path, outdir):
    """Writes the cbor2 encoding of the reordered example; returns its length."""
    data = read_example(path)
    value = cbor2.loads(data)
    foreign = cbor2.dumps(reordered(value))
    if len(value) > 2 and foreign == data:
        raise Bad("foreign encoding is identical to ours; the check would prove nothing")
    (Path(outdir) / (path.stem + ".cbor")).write_bytes(foreign)
    return len(foreign)


def read_example(path):
    hex_lines = [x.strip() for x in path.read_text().splitlines()
                 if x.strip() and not x.startswith("#")]
    return bytes.fromhex("".join(hex_lines))


def walk(v):
    yield v
    if type(v) is list:
        for x in v:
            yield from walk(x)
    elif type(v) is dict:
        for x in v.values():
            yield from walk(x)


def main(argv):
    write = "--write" in argv
    args = [a for a in argv if a != "--write"]
    emit = None
    if "--emit" in args:
        i = args.index("--emit")
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        emit = args[i + 1]
        del args[i:i + 2]
        Path(emit).mkdir(parents=True, exist_ok=True)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    files = sorted(Path(args[0]).glob("msg-*.hex"))
    seen, failed = set(), 0
    for path in files:
        try:
            mtype, n = check_file(path, write)
            seen.add(mtype)
            note = f", foreign form {emit_foreign(path, emit)} bytes" if emit else ""
            print(f"{path.name}: type {mtype}, {n} bytes{note}: ok")
        except (Bad, ValueError, cbor2.CBORDecodeError) as e:
            print(f"{path.name}: FAIL: {e}")
            failed += 1
    missing = set(BY_TYPE) - seen
    if missing:
        print(f"no example for message types {sorted(missing)}")
        failed += 1
    print(f"{len(files)} example(s), {failed} failure(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
