#!/usr/bin/env bash
# tinyfleet on one machine, on loopback: what exists so far, end to end.
#
#   bash deploy/demo.sh            (as root on Debian 12; installs what it needs)
#
# It builds the project, creates a fleet PKI, starts Mosquitto (mutual TLS only) and
# tinyfleetd on 127.0.0.1, then plays an operator: creates a release key, trains and packs
# a model, signs and publishes v1 and a pruned v2 over MQTT v5, shows a tampered manifest
# being refused, ships v2 as a model-aware delta (against bsdiff and a compressed full
# image), and runs the on-device learner over a drifting sensor stream. Everything it
# starts it stops again (by PID), and it leaves its files in a temporary directory.
#
#   TF_DEMO_KEEP=1   keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

say "Installing Debian packages and building (first run takes a few minutes)"
bash deploy/install-deps.sh >/dev/null
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)" >/dev/null
bin=$src/build/default
py=/usr/bin/python3

work=$(mktemp -d /tmp/tinyfleet-demo.XXXXXX)
pids=()
cleanup() {
	local i
	# Newest first: the gateway drains and says "offline" while the broker still runs.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [ "${TF_DEMO_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "A fleet PKI and a Mosquitto broker on 127.0.0.1:$port (mutual TLS, per-device ACL)"
bash deploy/pki.sh "$work/pki" --site demo --devices 3 --operators alice | sed 's/^/   /'
bash deploy/mosquitto/gen-config.sh "$work/mosq" "$work/pki" --port "$port" --user root \
	--site demo | sed 's/^/   /'
mosquitto -c "$work/mosq/mosquitto.conf" 2>"$work/mosquitto.log" &
pids+=($!)
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
	sleep 0.1
done

say "The operator's release key (stays with the operator; the gateway gets the public half)"
"$bin/tools/cli/tinyfleet" keygen "$work/release" | sed 's/^/   /'

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
if [ "$online" != online ]; then
	echo "demo: tinyfleetd did not come online; its log:" >&2
	cat "$work/tinyfleetd.log" >&2
	exit 1
fi
note "tf/demo/status/gateway: online (retained; the broker publishes 'offline' if it dies)"

say "Train and pack a model: an int8 MLP on scikit-learn's digits (v1), and v2 pruned 50 %"
$py tools/model/train_digits.py --out "$work/model" --seed 0 | sed 's/^/   /'
cp "$work/model/digits-mlp.tfm" "$work/v1.tfm"
$py tools/model/tfpack.py -q --prune 0.5 --name digits-mlp --version 1.1.0 \
	"$work/model/digits-mlp.npz" "$work/v2.tfm"
note "v1 $(stat -c %s "$work/v1.tfm") bytes, v2 $(stat -c %s "$work/v2.tfm") bytes"

say "Sign the manifests (COSE_Sign1, ES256)"
"$bin/tools/cli/tinyfleet" model sign --key "$work/release/release.key.pem" --seq 1 \
	--class stm32l4-vib --sensors accel3 "$work/v1.tfm" "$work/v1.cose" | sed 's/^/   /'
"$bin/tools/cli/tinyfleet" model sign --key "$work/release/release.key.pem" --seq 2 \
	--class stm32l4-vib --sensors accel3 "$work/v2.tfm" "$work/v2.cose" | sed 's/^/   /'

publish() {   # publish MANIFEST CONTAINER: one MQTT v5 request, prints the gateway's answer
	printf '{"manifest":"%s","container":"%s"}' "$(base64 -w0 "$1")" "$(base64 -w0 "$2")" \
		> "$work/req.json"
	mosquitto_rr "${mq[@]}" -V mqttv5 -q 1 -t tf/demo/api/req/model.publish/op-alice \
		-e tf/demo/api/resp/op-alice/demo -D publish correlation-data "demo-$RANDOM" \
		-W 10 -m "$(cat "$work/req.json")"
}

say "Publish v1 and v2 to the gateway over MQTT v5 request/response (mosquitto_rr + jq)"
accepted=0 refused=0
for v in v1 v2; do
	publish "$work/$v.cose" "$work/$v.tfm" > "$work/answer.json"
	jq -r 'if .ok then "   \(.result.model.name) \(.result.model.version): created=\(.result.created), digest \(.result.model.digest[0:16])…, key \(.result.model.key_id)"
		else "   refused: \(.error.code): \(.error.message)" end' "$work/answer.json"
	jq -e .ok "$work/answer.json" >/dev/null && accepted=$((accepted + 1))
done
say "A tampered manifest (one byte changed) is refused"
cp "$work/v2.cose" "$work/v3.cose"
printf '\377' | dd of="$work/v3.cose" bs=1 seek=60 conv=notrunc 2>/dev/null
publish "$work/v3.cose" "$work/v2.tfm" > "$work/answer.json"
jq -r '"   ok=\(.ok): \(.error.code): \(.error.message)"' "$work/answer.json"
jq -e '.ok == false' "$work/answer.json" >/dev/null && refused=$((refused + 1))

say "Shipping v2 to a device running v1: a model-aware delta"
"$bin/tools/delta/tinyfleet-delta" diff "$work/v1.tfm" "$work/v2.tfm" "$work/v1-v2.tfd" >/dev/null
"$bin/tools/delta/tinyfleet-delta" apply "$work/v1.tfm" "$work/v1-v2.tfd" "$work/v2.check" >/dev/null
cmp -s "$work/v2.tfm" "$work/v2.check" && note "the applier rebuilt v2 byte for byte"
bsdiff "$work/v1.tfm" "$work/v2.tfm" "$work/v1-v2.bsdiff"
zstd -q -19 -c "$work/v2.tfm" > "$work/v2.zst"
note "full image $(stat -c %s "$work/v2.tfm") B | zstd -19 $(stat -c %s "$work/v2.zst") B | bsdiff $(stat -c %s "$work/v1-v2.bsdiff") B | tinyfleet delta $(stat -c %s "$work/v1-v2.tfd") B"

say "On the device: the TinyOL learner over a drifting sensor stream (digits, gain drift at row 2000)"
$py bench/learn/digits_drift.py --eval "$bin/tools/eval/tinyfleet-eval" --work "$work/drift" \
	--seeds 1 --rates 0.1 2>&1 | awk '/^\| scenario \| detector/ { exit } /^\|/' | sed 's/^/   /'

say "Summary"
note "gateway: $accepted model version(s) accepted, $refused tampered manifest(s) refused (log: tinyfleetd.log in the work directory, kept with TF_DEMO_KEEP=1)"
note "delta v1 -> v2: $(stat -c %s "$work/v1-v2.tfd") bytes instead of $(stat -c %s "$work/v2.tfm") (bsdiff: $(stat -c %s "$work/v1-v2.bsdiff"))"
note "not in this demo yet: simulated devices taking updates from the gateway, staged rollouts"
note "with quality gates, and rollback (they arrive with the rollout and operator issues)."
