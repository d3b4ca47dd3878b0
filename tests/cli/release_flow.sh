#!/bin/sh
# tinyfleet model pack / keygen / model sign / model verify, with the manifest cross-checked by the
# Python interop verifier (Debian python3-cryptography + python3-cbor2, written
# independently of our C code).
#   release_flow.sh TINYFLEET WORKDIR PYTHON SOURCE_DIR
set -eu
tf=$1 work=$2 py=$3 src=$4
rm -rf "$work"
mkdir -p "$work"
fail() { echo "release_flow: $*" >&2; exit 1; }

# A small model container, packed by the project's packer.
"$py" - "$work" <<'PY'
import json, sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(1)
meta = {"name": "cli-test", "version": "2.1.0", "task": "classify", "input": [1, 8],
        "layers": [{"op": "dense", "act": "relu", "w": "w1", "b": "b1"},
                   {"op": "dense", "act": "softmax", "w": "w2", "b": "b2", "update": True}]}
arrays = dict(w1=rng.normal(size=(6, 8)).astype(np.float32), b1=np.zeros(6, np.float32),
              w2=rng.normal(size=(3, 6)).astype(np.float32), b2=np.zeros(3, np.float32),
              train_x=rng.normal(size=(64, 8)).astype(np.float32))
np.savez(out + "/notest.npz", __meta__=json.dumps(meta), **arrays)
np.savez(out + "/m.npz", __meta__=json.dumps(meta), test_x=arrays["train_x"][:4], **arrays)
PY
"$tf" model pack -q "$work/m.npz" "$work/m.tfm" || fail "model pack"
"$tf" model pack -q "$work/notest.npz" "$work/notest.tfm" || fail "model pack (no test vectors)"

"$tf" keygen "$work/keys" > "$work/keygen.out"
[ "$(stat -c %a "$work/keys/release.key.pem")" = 600 ] || fail "private key is not 0600"
if "$tf" keygen "$work/keys" 2>/dev/null; then fail "keygen replaced an existing key"; fi

"$tf" model sign --key "$work/keys/release.key.pem" --seq 7 --class stm32l4-vib \
	--sensors accel3,temp --min-ram 65536 "$work/m.tfm" "$work/m.cose" > "$work/sign.out"
grep -q "cli-test 2.1.0 (sequence 7)" "$work/sign.out" || fail "sign did not name the model"
"$tf" model verify --pub "$work/keys/release.pub.pem" "$work/m.cose" "$work/m.tfm" \
	> "$work/verify.out"
grep -q "signature OK" "$work/verify.out" || fail "verify did not accept its own manifest"

# The Python verifier, knowing nothing of our code, accepts it too.
"$py" - "$work/m.cose" "$work/keys/release.pub.pem" <<'PY' || fail "Python refused the manifest"
import sys, cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
msg = cbor2.loads(open(sys.argv[1], "rb").read())
if isinstance(msg, cbor2.CBORTag):
    assert msg.tag == 18
    msg = msg.value
prot, unprot, payload, sig = msg
tbs = cbor2.dumps(["Signature1", prot, b"", payload])
key = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
key.verify(utils.encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA256()))
assert cbor2.loads(prot)[1] == -7
PY

# Refusals: another container, a flipped byte, another key, a non-container.
cp "$work/m.tfm" "$work/other.tfm"
printf '\001' | dd of="$work/other.tfm" bs=1 seek=200 conv=notrunc 2>/dev/null
set +e
"$tf" model verify --pub "$work/keys/release.pub.pem" "$work/m.cose" "$work/other.tfm" \
	>/dev/null 2>&1
[ $? = 2 ] || fail "a changed container was accepted"
cp "$work/m.cose" "$work/bad.cose"
printf '\377' | dd of="$work/bad.cose" bs=1 seek=40 conv=notrunc 2>/dev/null
"$tf" model verify --pub "$work/keys/release.pub.pem" "$work/bad.cose" >/dev/null 2>&1
[ $? = 2 ] || fail "a flipped manifest byte was accepted"
"$tf" keygen "$work/keys2" >/dev/null
"$tf" model verify --pub "$work/keys2/release.pub.pem" "$work/m.cose" >/dev/null 2>&1
[ $? = 2 ] || fail "another key's verify accepted the manifest"
"$tf" model sign --key "$work/keys/release.key.pem" --seq 1 --class c "$work/m.npz" \
	"$work/x.cose" >/dev/null 2>&1
[ $? = 2 ] || fail "signed something that is not a container"
"$tf" model sign --key "$work/keys/release.key.pem" --seq 1 --class c "$work/notest.tfm" \
	"$work/x.cose" >/dev/null 2>"$work/notest.err"
[ $? = 2 ] && grep -q "no self-test vectors" "$work/notest.err" || fail "signed a container without self-test vectors"
"$tf" model sign --seq 1 "$work/m.tfm" "$work/x.cose" >/dev/null 2>&1
[ $? = 1 ] || fail "missing options were not a usage error"
"$tf" model verify --pub "$work/nonexistent.pem" "$work/m.cose" >/dev/null 2>&1
[ $? = 5 ] || fail "a missing file was not an I/O error"
"$tf" help > "$work/help.out" || fail "help exited non-zero"
for w in "EXIT STATUS" "tinyfleet model publish" "tinyfleet rollout status" "TINYFLEET_URI"; do
	grep -q "$w" "$work/help.out" || fail "help does not mention $w"
done
"$tf" help frobnicate >/dev/null 2>&1
[ $? = 1 ] || fail "help on an unknown topic was not a usage error"
"$tf" frobnicate >/dev/null 2>&1
[ $? = 1 ] || fail "an unknown command was not a usage error"
echo "release_flow: keygen, sign, verify, help and 9 refusals OK"
