#!/usr/bin/env bash
# tinyfleet-agent against a local Mosquitto (project PKI, ACL, mutual TLS): it must publish
# conn = 1, its state and telemetry from the generated stream; after a restart it boots from
# the same flash file (no second provisioning); on exit it leaves conn = 2.
#   agent_smoke.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/tf-agent-smoke-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
bash "$top/deploy/pki.sh" "$work/pki" --devices 1 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash "$top/deploy/mosquitto/gen-config.sh" "$work/mosq" "$work/pki" --port "$port" --user root >/dev/null
mosquitto -c "$work/mosq/mosquitto.conf" > "$work/broker.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
"$build/tests/device-agent/ota-model-tool" "$work/v1.tfm"
sub() {
	timeout "$1" mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$work/pki/ca.crt" \
		--cert "$work/pki/gateway.crt" --key "$work/pki/gateway.key" \
		-t 'tf/site1/dev/#' -v -F '%t %x' > "$2" 2>&1 || true
}
agent() {
	"$build/device-agent/sim/tinyfleet-agent" --pki "$work/pki" --id dev-0001 \
		--flash "$work/flash.bin" --model "$work/v1.tfm" --port "$port" --period-ms 10 \
		--every 50 --duration 2 --release-pub "$top/tests/interop/keys/release-test.pub.pem"
}
sub 4 "$work/run1.txt" &
subpid=$!
sleep 0.5
agent
wait "$subpid"
grep -q '^tf/site1/dev/dev-0001/conn 01$' "$work/run1.txt" || { echo "no conn 1"; cat "$work/run1.txt"; exit 1; }
grep -q '^tf/site1/dev/dev-0001/state ' "$work/run1.txt" || { echo "no state"; exit 1; }
n=$(grep -c '^tf/site1/dev/dev-0001/telemetry ' "$work/run1.txt" || true)
[ "$n" -ge 2 ] || { echo "telemetry: $n records"; cat "$work/run1.txt"; exit 1; }
grep -q '^tf/site1/dev/dev-0001/conn 02$' "$work/run1.txt" || { echo "no conn 2"; exit 1; }
# Restart on the same flash file: the flash keeps its model (bytes unchanged by a boot).
sum1=$(sha256sum < "$work/flash.bin")
agent
sum2=$(sha256sum < "$work/flash.bin")
[ "$sum1" = "$sum2" ] || { echo "flash changed across a plain restart"; exit 1; }
# The simulator's data streams: the same device inside tinyfleet-sim, with drift injected.
sub 4 "$work/run2.txt" &
subpid=$!
sleep 0.5
"$build/device-agent/sim/tinyfleet-sim" --pki "$work/pki" --devices 1 --port "$port" \
	--model "$work/v1.tfm" --duration 2 --sample-ms 10 --every 50 --drift-at 1 \
	--drift-share 100 --label-rate 0.5 > /dev/null
wait "$subpid"
m=$(grep -c '^tf/site1/dev/dev-0001/telemetry ' "$work/run2.txt" || true)
[ "$m" -ge 2 ] || { echo "sim telemetry: $m records"; cat "$work/run2.txt"; exit 1; }
echo "agent_smoke: conn, state and $n telemetry records; restart kept the flash;" \
	"simulator streams: $m records"
