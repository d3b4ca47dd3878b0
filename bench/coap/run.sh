#!/usr/bin/env bash
# Blob throughput to one device: CoAP Block2 (1024-byte blocks, DTLS) vs the same bytes in
# 1024-byte MQTT chunks (mutual TLS, through Mosquitto), both served by one tinyfleetd from
# one LMDB blob, in one run, on loopback. A device pulls one chunk at a time (stop and
# wait), as the agent's OTA core does; every pull checks the SHA-256. Rows:
#   mqtt          tf-blob-pull with the port/posix MQTT transport (chunk/req -> chunk/resp)
#   coap          tf-blob-pull with the port/posix CoAP transport (GET obj/<hex>, Block2)
#   coap-client   Debian's coap-client-openssl -b 1024 (libcoap's own block-wise client)
#
#   bench/coap/run.sh BUILD_DIR [BYTES=1048576] [REPS=3]
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd); bytes=${2:-1048576}; reps=${3:-3}
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/tf-bench-coap-XXXXXX)
broker= daemon=
cleanup() {
	for p in $daemon $broker; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
pull=$build/bench/coap/tf-blob-pull

bash "$top/deploy/pki.sh" "$work/pki" --devices 1 >/dev/null
pki=$work/pki
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash "$top/deploy/mosquitto/gen-config.sh" "$work/mosq" "$pki" --port "$port" --user root >/dev/null
sed -i -e 's/^persistence true/persistence false/' -e '/^log_type/d' "$work/mosq/mosquitto.conf"
echo "log_type error" >> "$work/mosq/mosquitto.conf"
mosquitto -c "$work/mosq/mosquitto.conf" > "$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

hex=$("$pull" put "$work/state" "$bytes")
cat > "$work/tinyfleetd.conf" <<CONF
site = site1
state_dir = $work/state
log_level = warning
mqtt.uri = ssl://127.0.0.1:$port
mqtt.ca = $pki/ca.crt
mqtt.cert = $pki/gateway.crt
mqtt.key = $pki/gateway.key
release_keys = $top/tests/interop/keys/release-test.pub.pem
store.map_size_mb = 256
store.reserve_mb = 8
coap.listen = 127.0.0.1:$cport
coap.device_rate = 0
CONF
"$build/gateway/tinyfleetd" -f "$work/tinyfleetd.conf" > "$work/daemon.log" 2>&1 &
daemon=$!
sleep 1.5

echo "# $bytes bytes, 1024-byte chunks/blocks, one request in flight, loopback; $(nproc) cores"
for r in $(seq "$reps"); do
	"$pull" pull mqtt --port "$port" --pki "$pki" --id dev-0001 --object "$hex" --size "$bytes"
	"$pull" pull coap --port "$cport" --pki "$pki" --id dev-0001 --object "$hex" --size "$bytes"
	t0=$(date +%s.%N)
	coap-client-openssl -B 60 -m get -b 1024 -c "$pki/devices/dev-0001.crt" \
		-j "$pki/devices/dev-0001.key" -C "$pki/ca.crt" -o "$work/out" \
		"coaps://127.0.0.1:$cport/obj/$hex" 2>/dev/null
	t1=$(date +%s.%N)
	sum=$(sha256sum "$work/out" | cut -d' ' -f1)
	[ "$sum" = "$hex" ] || { echo "coap-client: sha256 mismatch" >&2; exit 1; }
	python3 -c "import sys; b=$bytes; s=$t1-$t0; print('coap-client %d B in %.3f s: %.2f MB/s (process start and handshake included), sha256 ok' % (b, s, b/s/1e6))"
done
