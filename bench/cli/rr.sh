#!/usr/bin/env bash
# What one operator command costs end to end: a fresh process, the mutual-TLS connection,
# one fleet.status request and its answer. `tinyfleet status --json` against the baseline
# `mosquitto_rr` (the same exchange with the Mosquitto clients), N runs each, interleaved,
# against a real Mosquitto + tinyfleetd on 127.0.0.1 with 50 simulated devices.
#   bench/cli/rr.sh BUILD_DIR [N]
set -euo pipefail
TF_SRC=$(cd "$(dirname "$0")/../.." && pwd) TF_BIN=$(cd "$1" && pwd)
n=${2:-50}
. "$TF_SRC/tests/cli/lib.sh"
tf_init "$TF_BIN/bench/cli-rr"
w=$TF_WORK
tf_pki "$w/pki" bench 50
port=$(tf_port)
tf_broker broker "$w/pki" "$port" bench
"$TF_BIN/tools/cli/tinyfleet" keygen "$w/release" >/dev/null
tf_gateway gw "$w/pki" "$port" bench "$w/release/release.pub.pem"
"$TF_BIN/tests/device-agent/ota-model-tool" "$w/boot.tfm" >/dev/null
"$TF_BIN/device-agent/sim/tinyfleet-sim" --pki "$w/pki" --devices 50 --port "$port" --site bench \
	--model "$w/boot.tfm" --duration 600 --sample-ms 100 --every 20 --timeout 30 >/dev/null 2>&1 &
TF_PIDS+=($!)
sleep 3
export TINYFLEET_URI=ssl://127.0.0.1:$port TINYFLEET_SITE=bench TINYFLEET_CA=$w/pki/ca.crt
export TINYFLEET_CERT=$w/pki/op-alice.crt TINYFLEET_KEY=$w/pki/op-alice.key TINYFLEET_CONFIG=/dev/null
ms() { date +%s%N | cut -c1-13; }
: >"$w/cli.ms"
: >"$w/rr.ms"
for i in $(seq "$n"); do
	t=$(ms); "$TF_BIN/tools/cli/tinyfleet" --json status >/dev/null; echo $(($(ms) - t)) >>"$w/cli.ms"
	t=$(ms)
	mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$port" --cafile "$w/pki/ca.crt" --cert "$w/pki/op-alice.crt" \
		--key "$w/pki/op-alice.key" -q 1 -t tf/bench/api/req/fleet.status/op-alice \
		-e "tf/bench/api/resp/op-alice/b$i" -m '{}' -W 10 >/dev/null
	echo $(($(ms) - t)) >>"$w/rr.ms"
done
stats() { sort -n "$1" | awk '{a[NR]=$1; s+=$1} END {printf "mean %.1f ms, p50 %d ms, p95 %d ms, max %d ms (n=%d)", s/NR, a[int(NR*0.5+0.5)], a[int(NR*0.95+0.5)], a[NR], NR}'; }
echo "tinyfleet --json status   $(stats "$w/cli.ms")"
echo "mosquitto_rr fleet.status $(stats "$w/rr.ms")"
