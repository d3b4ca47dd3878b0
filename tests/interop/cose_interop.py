#!/usr/bin/python3
"""Interop test: tinyfleet's C COSE_Sign1/ES256 manifests against an independent
implementation built here from Debian's python3-cryptography and python3-cbor2.

1. C signs a manifest (manifest_tool sign); Python verifies it, building the
   Sig_structure of RFC 9052 section 4.4 itself, and decodes the payload.
2. Python signs a manifest; C verifies it (manifest_tool verify) and prints the fields.
3. For both messages, every single-byte change (xor 0x01 and xor 0xff at every offset)
   must fail verification on both sides.
4. The committed schemas/examples/manifest.cose.hex verifies in Python as well.
The kid convention (first 8 bytes of SHA-256 over the uncompressed point, in hex) is
computed independently on each side, so a mismatch shows up as an unknown key.
Files go to --workdir (in the build tree). Exit status 0 only if every check holds.
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import time

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

ES256 = -7
FIELDS = {1: "name", 2: "version", 3: "sequence", 4: "device_class", 5: "req",
          6: "digest", 7: "image_size", 8: "container_version", 9: "expiry", 10: "key_id"}
REQ_FIELDS = {1: "min_ram", 2: "min_flash", 3: "sensors", 4: "agent_abi"}


def point_of(pub):
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def kid_of(pub):
    return hashlib.sha256(point_of(pub)).hexdigest()[:16]


def loads_exact(data):
    """cbor2.loads, but refusing trailing bytes."""
    fp = io.BytesIO(data)
    obj = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(data):
        raise ValueError("trailing bytes")
    return obj


def py_verify(msg, pub):
    """Returns the decoded payload dict, or raises on any failure."""
    obj = loads_exact(msg)
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != 18:
            raise ValueError("tag %d" % obj.tag)
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise ValueError("not a COSE_Sign1 array")
    protected, unprotected, payload, sig = obj
    if not isinstance(protected, bytes) or not isinstance(unprotected, dict):
        raise ValueError("bad headers")
    hdr = loads_exact(protected) if protected else {}
    if not isinstance(hdr, dict) or hdr.get(1) != ES256 or 1 in unprotected:
        raise ValueError("alg")
    kid = hdr.get(4, unprotected.get(4))
    if kid != kid_of(pub).encode():
        raise ValueError("kid")
    if not isinstance(payload, bytes) or not isinstance(sig, bytes) or len(sig) != 64:
        raise ValueError("payload/signature type")
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))
    return loads_exact(payload)


def py_sign(manifest, key):
    kid = kid_of(key.public_key()).encode()
    protected = cbor2.dumps({1: ES256, 4: kid})
    payload = cbor2.dumps(manifest_to_cbor(manifest))
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, sig]))


def manifest_to_cbor(m):
    out = {}
    for k, name in FIELDS.items():
        if name not in m:
            continue
        v = m[name]
        if name == "req":
            v = {rk: m["req"][rn] for rk, rn in REQ_FIELDS.items()}
        elif name == "digest":
            v = bytes.fromhex(v)
        out[k] = v
    return out


def manifest_from_cbor(d):
    m = {}
    for k, v in d.items():
        name = FIELDS[k]
        if name == "req":
            v = {REQ_FIELDS[rk]: rv for rk, rv in v.items()}
        elif name == "digest":
            v = v.hex()
        m[name] = v
    return m


def c_verify(tool, pub_pem, files):
    out = subprocess.run([tool, "verify", pub_pem, str(int(time.time()))] + files,
                         check=True, capture_output=True, text=True).stdout.splitlines()
    if len(out) != len(files):
        raise SystemExit("manifest_tool printed %d lines for %d files" % (len(out), len(files)))
    return out


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def flipped_variants(msg):
    for i in range(len(msg)):
        for x in (0x01, 0xff):
            b = bytearray(msg)
            b[i] ^= x
            yield "%d^%02x" % (i, x), bytes(b)


def check_flips(label, msg, pub, pub_pem, tool, workdir):
    failures = 0
    names, files = [], []
    d = os.path.join(workdir, label + "-flips")
    os.makedirs(d, exist_ok=True)
    for name, data in flipped_variants(msg):
        path = os.path.join(d, name.replace("^", "x"))
        write(path, data)
        names.append(name)
        files.append(path)
        try:
            py_verify(data, pub)
            print("FAIL %s: python accepted flipped message %s" % (label, name))
            failures += 1
        except Exception:  # noqa: BLE001 - any exception is a rejection (even MemoryError
            pass           # from a huge declared length)
    for name, line in zip(names, c_verify(tool, pub_pem, files)):
        if not line.startswith("ERR "):
            print("FAIL %s: C accepted flipped message %s" % (label, name))
            failures += 1
    print("%s: %d single-byte variants, %d accepted" % (label, len(files), failures))
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--source", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    failures = 0

    # Two fresh P-256 keys: A signs in C, B signs in Python.
    key_a = ec.generate_private_key(ec.SECP256R1())
    key_b = ec.generate_private_key(ec.SECP256R1())
    a_pem = os.path.join(args.workdir, "a.key.pem")
    a_pub = os.path.join(args.workdir, "a.pub.pem")
    b_pub = os.path.join(args.workdir, "b.pub.pem")
    write(a_pem, key_a.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    for path, k in ((a_pub, key_a), (b_pub, key_b)):
        write(path, k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))

    # The C side derives the same kid.
    c_kid = subprocess.run([args.tool, "kid", a_pub], check=True, capture_output=True,
                           text=True).stdout.strip()
    if c_kid != kid_of(key_a.public_key()):
        print("FAIL: kid convention differs: C %s, Python %s" % (c_kid, kid_of(key_a.public_key())))
        failures += 1

    base = {
        "name": "pump-anomaly", "version": "2.0.1", "sequence": 7,
        "device_class": "stm32l4-vib",
        "req": {"min_ram": 24576, "min_flash": 131072, "sensors": ["accel3", "temp"],
                "agent_abi": 3},
        "digest": hashlib.sha256(b"model image").hexdigest(), "image_size": 48213,
        "container_version": 1,
    }

    # 1. C signs, Python verifies.
    m_c = dict(base, key_id=kid_of(key_a.public_key()))
    m_json = os.path.join(args.workdir, "c-manifest.json")
    with open(m_json, "w") as f:
        json.dump(m_c, f)
    c_cose = os.path.join(args.workdir, "c-signed.cose")
    subprocess.run([args.tool, "sign", a_pem, m_json, c_cose], check=True)
    with open(c_cose, "rb") as f:
        c_msg = f.read()
    try:
        got = manifest_from_cbor(py_verify(c_msg, key_a.public_key()))
        if got != m_c:
            print("FAIL: Python decoded %r, C signed %r" % (got, m_c))
            failures += 1
        else:
            print("C-signed manifest (%d bytes) verified by Python" % len(c_msg))
    except Exception as e:  # noqa: BLE001 - report any failure as a test failure
        print("FAIL: Python rejected the C-signed manifest: %r" % e)
        failures += 1
    # The wrong key must not verify.
    try:
        py_verify(c_msg, key_b.public_key())
        print("FAIL: Python verified with the wrong key")
        failures += 1
    except (ValueError, InvalidSignature):
        pass

    # 2. Python signs, C verifies.
    m_py = dict(base, sequence=8, version="2.1.0", expiry=4102444800,
                key_id=kid_of(key_b.public_key()))
    py_msg = py_sign(m_py, key_b)
    py_cose = os.path.join(args.workdir, "py-signed.cose")
    write(py_cose, py_msg)
    line = c_verify(args.tool, b_pub, [py_cose])[0]
    if not line.startswith("OK "):
        print("FAIL: C rejected the Python-signed manifest: %s" % line)
        failures += 1
    elif json.loads(line[3:]) != m_py:
        print("FAIL: C decoded %s, Python signed %r" % (line[3:], m_py))
        failures += 1
    else:
        print("Python-signed manifest (%d bytes) verified by C" % len(py_msg))
    line = c_verify(args.tool, a_pub, [py_cose])[0]
    if not line.startswith("ERR "):
        print("FAIL: C verified with the wrong key")
        failures += 1

    # The committed schema example verifies here too (signed by the test release key).
    with open(os.path.join(args.source, "tests/interop/keys/release-test.pub.pem"), "rb") as f:
        test_pub = serialization.load_pem_public_key(f.read())
    with open(os.path.join(args.source, "schemas/examples/manifest.cose.hex")) as f:
        example = bytes.fromhex("".join(l for l in f if not l.startswith("#")))
    try:
        got = py_verify(example, test_pub)
        if got.get(10) != kid_of(test_pub) or got.get(1) != "pump-anomaly":
            print("FAIL: schemas/examples/manifest.cose.hex decoded to %r" % got)
            failures += 1
        else:
            print("schemas/examples/manifest.cose.hex verified by Python")
    except Exception as e:  # noqa: BLE001
        print("FAIL: Python rejected schemas/examples/manifest.cose.hex: %r" % e)
        failures += 1

    # 3. Every single-byte change fails on both sides.
    failures += check_flips("c-signed", c_msg, key_a.public_key(), a_pub, args.tool, args.workdir)
    failures += check_flips("py-signed", py_msg, key_b.public_key(), b_pub, args.tool,
                            args.workdir)

    print("interop: %s" % ("ok" if failures == 0 else "%d failure(s)" % failures))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
