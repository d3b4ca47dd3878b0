#!/usr/bin/env bash
# tinyfleet on one machine, on loopback: a plant's fleet, its gateway and an operator.
#
#   bash deploy/demo.sh            (as root on Debian 12; installs what it needs)
#
# It builds the project, creates a fleet PKI, starts Mosquitto (mutual TLS only) and
# tinyfleetd on 127.0.0.1 and a simulated fleet of 100 devices (tinyfleet-sim, each
# running the agent's drift detectors) whose data drifts on the devices that run v3, then
# plays the operator with the `tinyfleet` CLI: trains and signs models v1 (the devices'
# factory image), a pruned v2 and a v3 that turns out bad for the data the devices see, and
# publishes them; shows a tampered manifest refused; rolls v2 out in waves (canary, then
# stages) as model-aware deltas; rolls v3 out, whose canary devices raise drift alarms and
# lose accuracy, so the quality gate fails and the canary is rolled back. It prints a
# summary (devices per version, bytes saved by deltas, drift alerts, the rollback and
# why), stops everything it started (by PID) and removes its temporary directory.
#
#   TF_DEMO_KEEP=1      keep the work directory
#   TF_DEMO_BOUNDED=1   CI mode: 24 devices, shorter waits, no package install or build when
#                       TF_DEMO_BIN names a build directory, no on-device learning bench
#   TF_DEMO_BIN=DIR     use the binaries of this build directory (skips the build)
#   TF_DEMO_DEVICES=N   fleet size (default 100; 24 when bounded)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
bounded=${TF_DEMO_BOUNDED:-0}
ndev=${TF_DEMO_DEVICES:-$([ "$bounded" = 1 ] && echo 24 || echo 100)}
py=/usr/bin/python3

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   /'; }

if [ -n "${TF_DEMO_BIN:-}" ]; then
	bin=$(cd "$TF_DEMO_BIN" && pwd)
else
	say "Installing Debian packages and building (first run takes a few minutes)"
	bash deploy/install-deps.sh >/dev/null
	cmake --preset default >/dev/null
	cmake --build --preset default -j "$(nproc)" >/dev/null
	bin=$src/build/default
fi
tf=$bin/tools/cli/tinyfleet

work=$(mktemp -d /tmp/tinyfleet-demo.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	local i
	# Newest first: devices leave, the gateway drains and says "offline", then the broker.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [ "${TF_DEMO_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
	echo "demo: $*" >&2
	for f in "$work"/*.log; do [ -s "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
	exit 1
}

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "A fleet PKI ($ndev devices) and a Mosquitto broker on 127.0.0.1:$port (mutual TLS, per-device ACL)"
bash deploy/pki.sh "$work/pki" --site demo --devices "$ndev" --operators alice | indent
bash deploy/mosquitto/gen-config.sh "$work/mosq" "$work/pki" --port "$port" --user root \
	--site demo | indent
mosquitto -c "$work/mosq/mosquitto.conf" 2>"$work/mosquitto.log" &
pids+=($!)
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
	sleep 0.1
done

say "The operator's release key (stays with the operator; the gateway gets the public half)"
"$tf" keygen "$work/release" | indent

say "tinyfleetd, the gateway daemon"
cat > "$work/tinyfleetd.conf" <<CONF
site = demo
state_dir = $work/state
mqtt.uri = ssl://127.0.0.1:$port
mqtt.ca = $work/pki/ca.crt
mqtt.cert = $work/pki/gateway.crt
mqtt.key = $work/pki/gateway.key
release_keys = $work/release/release.pub.pem
store.map_size_mb = 256
store.reserve_mb = 16
CONF
"$bin/gateway/tinyfleetd" -n -f "$work/tinyfleetd.conf" >/dev/null
"$bin/gateway/tinyfleetd" -f "$work/tinyfleetd.conf" 2>"$work/tinyfleetd.log" &
pids+=($!)
mq=(-h 127.0.0.1 -p "$port" --cafile "$work/pki/ca.crt" --cert "$work/pki/op-alice.crt"
    --key "$work/pki/op-alice.key")
online=
for _ in $(seq 20); do
	online=$(mosquitto_sub "${mq[@]}" -t tf/demo/status/gateway -C 1 -W 1 2>/dev/null || true)
	[ "$online" = online ] && break
	sleep 0.2
done
[ "$online" = online ] || fail "tinyfleetd did not come online"
note "tf/demo/status/gateway: online (retained; the broker publishes 'offline' if it dies)"

# The operator's CLI settings, as an operator keeps them in ~/.config/tinyfleet/cli.conf.
cat > "$work/cli.conf" <<CONF
uri = ssl://127.0.0.1:$port
site = demo
ca = $work/pki/ca.crt
cert = $work/pki/op-alice.crt
key = $work/pki/op-alice.key
timeout = 20
CONF
export TINYFLEET_CONFIG=$work/cli.conf

say "Train the models: vibration classes from 8 features (scikit-learn MLP, int8 + TinyOL head)"
# The simulator's devices see 8 inputs in [-1, 1] whose class is the largest of the first
# three; v1 learns that. v2 is v1 pruned by 30 % (a smaller, equally good release). v3 has
# v1's weights: good on the training data, but the devices that run it meet data it gets
# wrong (the simulator's --drift-version: their labels rotate a few seconds after the
# install).
$py - "$work" <<'PY' 2>&1 | grep -v -i warn | indent
import json, sys, warnings
import numpy as np
from sklearn.neural_network import MLPClassifier
warnings.filterwarnings("ignore")
out = sys.argv[1]
rng = np.random.default_rng(7)
X = rng.uniform(-1, 1, size=(6000, 8)).astype(np.float32)
y = X[:, :3].argmax(axis=1)
clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=0).fit(X, y)
w1, b1 = clf.coefs_[0].T.astype(np.float32), clf.intercepts_[0].astype(np.float32)
w2, b2 = clf.coefs_[1].T.astype(np.float32), clf.intercepts_[1].astype(np.float32)
for version, tag in (("1.0.0", "v1"), ("1.2.0", "v3")):
    w = w1.copy()
    meta = {"name": "vib-anomaly", "version": version, "task": "classify", "input": [1, 8],
            "layers": [{"op": "dense", "act": "relu", "w": "w1", "b": "b1"},
                       {"op": "dense", "act": "softmax", "w": "w2", "b": "b2", "update": True}]}
    np.savez(f"{out}/{tag}.npz", __meta__=json.dumps(meta), w1=w, b1=b1, w2=w2, b2=b2,
             train_x=X[:512], test_x=X[:4])
print(f"v1 training accuracy {clf.score(X, y):.3f}")
PY
"$tf" model pack -q "$work/v1.npz" "$work/v1.tfm"
"$tf" model pack -q --prune 0.3 --version 1.1.0 "$work/v1.npz" "$work/v2.tfm"
"$tf" model pack -q "$work/v3.npz" "$work/v3.tfm"
note "containers: v1 $(stat -c %s "$work/v1.tfm") B, v2 $(stat -c %s "$work/v2.tfm") B, v3 $(stat -c %s "$work/v3.tfm") B"

# Everything the gateway tells operators, recorded (one JSON line per message).
"$tf" watch --json >"$work/events.jsonl" 2>"$work/watch.log" &
pids+=($!)

say "The fleet: $ndev simulated devices (tinyfleet-sim, one process), factory image = v1's weights"
drift_after=5
"$bin/device-agent/sim/tinyfleet-sim" --pki "$work/pki" --devices "$ndev" --port "$port" \
	--site demo --model "$work/v1.tfm" --release-pub "$work/release/release.pub.pem" \
	--duration 3600 --timeout 60 --sample-ms 50 --every 20 --label-rate 0.5 \
	--drift-version 1.2.0 --drift-at "$drift_after" >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
	n=$("$tf" --json status 2>/dev/null | jq -r .devices.online || echo 0)
	[ "$n" = "$ndev" ] && break
	sleep 0.5
done
[ "$n" = "$ndev" ] || fail "only $n of $ndev devices came online"
note "all $ndev devices online; a device's data will drift ${drift_after} s after it installs v3 (1.2.0)"
"$tf" status | indent

say "Sign and publish releases (COSE_Sign1 ES256; the gateway verifies before it stores)"
seq=1
for v in v1 v2 v3; do
	"$tf" model publish --release-key "$work/release/release.key.pem" --seq "$seq" \
		--class sim-m4 --abi 65538 --sensors accel3 --out "$work/$v.cose" "$work/$v.tfm" \
		| grep "published on site" | indent
	seq=$((seq + 1))
done
cp "$work/v2.cose" "$work/tampered.cose"
printf '\377' | dd of="$work/tampered.cose" bs=1 seek=60 conv=notrunc 2>/dev/null
note "a manifest with one byte changed:"
refused=0
if "$tf" model publish "$work/v2.tfm" "$work/tampered.cose" >/dev/null 2>"$work/tampered.err"; then
	fail "the gateway accepted a tampered manifest"
fi
grep -q bad_signature "$work/tampered.err" && refused=1
indent < "$work/tampered.err"
"$tf" models | indent

# A rollout to the whole fleet, created from a definition (schemas/operator/
# rollout-definition), started and followed to its end or pause.
rollout() {   # rollout ID VERSION STAGES ON_FAILURE
	jq -n --arg id "$1" --arg v "$2" --argjson stages "[$3]" --arg onfail "$4" \
		--argjson settle "$settle" --argjson drift "$drift_gate" --argjson accdrop "$acc_drop" '{id: $id, model: "vib-anomaly", version: $v,
		target: {all: true}, waves: {canary: {count: 5}, stages: $stages},
		max_in_flight: 50, success_threshold: 90, settle_seconds: $settle,
		wave_timeout_seconds: 180,
		retry: {max_attempts: 3, backoff_seconds: 2},
		gates: {max_failure_rate: 10, quality: {min_samples: 40, drift_alarm: $drift,
		        max_accuracy_drop: $accdrop, control_group: true}},
		on_gate_failure: $onfail}' >"$work/$1.json"
	"$tf" rollout create "$work/$1.json" | indent
	"$tf" rollout start "$1" | indent
	"$tf" rollout status "$1" --wait | indent
}
settle=$([ "$bounded" = 1 ] && echo 5 || echo 15)
drift_gate=true
acc_drop=0.2

say "Roll v2 out in waves (a canary of 5, then 25 %, then everyone) as deltas from v1"
note "each wave passes when its devices confirmed the update and, after ${settle} s, kept their accuracy"
rollout v2-r1 1.1.0 25,100 pause
"$tf" rollout status v2-r1 | sed -n '2,$p' | indent

# v3's canary meets data v3 gets wrong a few seconds after the install: its devices' drift
# detectors raise alarms (drift.alert events) within about a second, and its accuracy falls
# below the devices' own pre-update baseline. The settle window outlasts the drift's onset;
# the accuracy limit is looser than v2's (a backstop), so the alarms speak first.
settle=$((drift_after + 15))
acc_drop=0.5
say "Roll v3 out: its canary's data drifts, drift alarms and the quality gate fail it, rollback"
rollout v3-r1 1.2.0 25,100 rollback_all
for _ in $(seq 30); do   # the rollback is a slot switch on each canary device
	[ "$("$tf" --json rollout status v3-r1 | jq '.totals.rolled_back')" -ge 5 ] && break
	sleep 1
done
"$tf" rollout status v3-r1 --devices | awk 'NR == 1 || /^WAVE/ || /^[0-9]  / || / rolled_back / || /^DEVICE/' | indent

say "Shipping v2 to a device running v1: the model-aware delta, against bsdiff and zstd"
"$bin/tools/delta/tinyfleet-delta" diff "$work/v1.tfm" "$work/v2.tfm" "$work/v1-v2.tfd" >/dev/null
"$bin/tools/delta/tinyfleet-delta" apply "$work/v1.tfm" "$work/v1-v2.tfd" "$work/v2.check" >/dev/null
cmp -s "$work/v2.tfm" "$work/v2.check" && note "the device-side applier rebuilds v2 byte for byte"
bsdiff "$work/v1.tfm" "$work/v2.tfm" "$work/v1-v2.bsdiff"
zstd -q -19 -c "$work/v2.tfm" > "$work/v2.zst"
note "full image $(stat -c %s "$work/v2.tfm") B | zstd -19 $(stat -c %s "$work/v2.zst") B | bsdiff $(stat -c %s "$work/v1-v2.bsdiff") B | tinyfleet delta $(stat -c %s "$work/v1-v2.tfd") B"

say "The fleet now"
"$tf" status | indent
"$tf" --json devices >"$work/devices.json"
jq -r 'map(select(.metrics.accuracy_avg != null)) | sort_by(.metrics.accuracy_avg) | .[0:5][]
       | "\(.id)  accuracy \(.metrics.accuracy_avg * 1000 | round / 1000)  drifting \(.drifting)"' "$work/devices.json" \
	| sed 's/^/   lowest: /'

if [ "$bounded" != 1 ]; then
	say "On the device: the TinyOL learner over a drifting stream (digits, gain drift at row 2000)"
	$py tools/model/train_digits.py --out "$work/digits" --seed 0 >/dev/null
	$py bench/learn/digits_drift.py --eval "$bin/tools/eval/tinyfleet-eval" --work "$work/drift" \
		--seeds 1 --rates 0.1 2>&1 | awk '/^\| scenario \| detector/ { exit } /^\|/' | indent
fi

say "Summary"
"$tf" --json status >"$work/final.json"
{
	echo "fleet: $(jq -r '.devices | "\(.total) devices, \(.online) online"' "$work/final.json")"
	echo "devices per version: $(jq -r '[.models[] | "\(.name) \(.version): \(.devices)"] | join(", ")' "$work/final.json")"
	"$tf" --json rollout status v2-r1 >"$work/v2.json"
	echo "v2 rollout: $(jq -r '"\(.state), \(.totals.succeeded) devices updated in \(.waves | length) waves; \(.bytes.sent) bytes sent instead of \(.bytes.full_equivalent) as full images (\(if .bytes.full_equivalent > 0 then (100 - 100 * .bytes.sent / .bytes.full_equivalent | floor) else 0 end) % saved by deltas)"' "$work/v2.json")"
	"$tf" --json rollout status v3-r1 >"$work/v3.json"
	echo "v3 rollout: $(jq -r '"\(.state) (\(.reason)): the canary'"'"'s \(.waves[0].devices) devices were switched back (\(.totals.rolled_back) rolled back); failing gates (value/limit): \([.waves[].gates[] | select(.ok == false) | "\(.gate) \(.value)/\(.limit)"] | join(", ")); the other \(.totals.targeted - .waves[0].devices) devices never got v3"' "$work/v3.json")"
	echo "drift: $(jq -sr '[.[].message | select(.event == "drift.alert" and .data.state == "raised")] | "\(length) drift alarm(s) raised by the devices (drift.alert), on \([.[].data.device] | unique | length) device(s), versions \([.[].data.version] | unique | join(", "))"' "$work/events.jsonl")"
	echo "security: $refused tampered manifest refused (bad_signature)"
	echo "events recorded: $(wc -l <"$work/events.jsonl") (tinyfleet watch --json)"
} | tee "$work/summary.txt" | indent
note "(logs: the work directory, kept with TF_DEMO_KEEP=1)"
