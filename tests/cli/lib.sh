# Shared by the operator-side shell tests (tests/cli, tests/deploy): start Mosquitto brokers
# and tinyfleetd gateways on 127.0.0.1 with the project's own PKI and configuration
# generator, and stop exactly what was started, by PID, newest first.
#
#   . tests/cli/lib.sh; tf_init WORKDIR; ...; (cleanup runs on exit)
# Needs: TF_SRC (source tree) and TF_BIN (build tree) set by the caller.

TF_PIDS=()
tf_init() {
	TF_WORK=$1
	rm -rf "$TF_WORK"
	mkdir -p "$TF_WORK"
	chmod 755 "$TF_WORK"
	trap tf_cleanup EXIT
}
tf_cleanup() {
	local i
	for ((i = ${#TF_PIDS[@]} - 1; i >= 0; i--)); do
		kill "${TF_PIDS[i]}" 2>/dev/null || true
		wait "${TF_PIDS[i]}" 2>/dev/null || true
	done
	TF_PIDS=()
}
tf_fail() {
	echo "FAIL: $*" >&2
	for f in "$TF_WORK"/*.log; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}
tf_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
tf_wait_port() {
	local _
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# tf_pki DIR SITE DEVICES [CA_FROM_DIR]: a site's PKI; with CA_FROM_DIR, under that CA.
tf_pki() {
	mkdir -p "$1"
	if [ -n "${4:-}" ]; then cp "$4/ca.key" "$4/ca.crt" "$4/ca.srl" "$1/" 2>/dev/null || cp "$4/ca.key" "$4/ca.crt" "$1/"; fi
	bash "$TF_SRC/deploy/pki.sh" "$1" --site "$2" --devices "$3" --operators alice >/dev/null
}
# tf_broker NAME PKI PORT SITE [extra gen-config options]: starts Mosquitto; pid in TF_PIDS.
tf_broker() {
	local name=$1 pki=$2 port=$3 site=$4
	shift 4
	bash "$TF_SRC/deploy/mosquitto/gen-config.sh" "$TF_WORK/$name" "$pki" --port "$port" \
		--site "$site" --user root "$@" >/dev/null
	mosquitto -c "$TF_WORK/$name/mosquitto.conf" >"$TF_WORK/$name.log" 2>&1 &
	TF_PIDS+=($!)
	tf_wait_port "$port" || tf_fail "broker $name did not start"
}
# tf_gateway NAME PKI PORT SITE RELEASE_PUB: starts tinyfleetd and waits until it is online.
tf_gateway() {
	local name=$1 pki=$2 port=$3 site=$4 pub=$5 _ st=
	cat >"$TF_WORK/$name.conf" <<CONF
site = $site
state_dir = $TF_WORK/$name.state
mqtt.uri = ssl://127.0.0.1:$port
mqtt.ca = $pki/ca.crt
mqtt.cert = $pki/gateway.crt
mqtt.key = $pki/gateway.key
release_keys = $pub
store.map_size_mb = 64
store.reserve_mb = 4
CONF
	"$TF_BIN/gateway/tinyfleetd" -f "$TF_WORK/$name.conf" 2>"$TF_WORK/$name.log" &
	TF_PIDS+=($!)
	TF_LAST_GATEWAY=$!
	for _ in $(seq 30); do
		st=$(mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$pki/ca.crt" \
			--cert "$pki/op-alice.crt" --key "$pki/op-alice.key" \
			-t "tf/$site/status/gateway" -C 1 -W 1 2>/dev/null || true)
		[ "$st" = online ] && return 0
	done
	tf_fail "gateway $name did not come online"
}
# tf_stop PID: stops one process this script started.
tf_stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# A small model container (classify 8 inputs into 3 classes), packed by `tinyfleet model pack`.
# tf_model OUT.tfm NAME VERSION SEED
tf_model() {
	/usr/bin/python3 - "$1.npz" "$2" "$3" "$4" <<'PY'
import json, sys, numpy as np
out, name, version, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(seed)
meta = {"name": name, "version": version, "task": "classify", "input": [1, 8],
        "layers": [{"op": "dense", "act": "relu", "w": "w1", "b": "b1"},
                   {"op": "dense", "act": "softmax", "w": "w2", "b": "b2", "update": True}]}
np.savez(out, __meta__=json.dumps(meta),
         w1=rng.normal(size=(6, 8)).astype(np.float32), b1=np.zeros(6, np.float32),
         w2=rng.normal(size=(3, 6)).astype(np.float32), b2=np.zeros(3, np.float32),
         train_x=rng.normal(size=(64, 8)).astype(np.float32),
         test_x=rng.uniform(-1, 1, size=(4, 8)).astype(np.float32))
PY
	"$TF_BIN/tools/cli/tinyfleet" model pack -q "$1.npz" "$1" || tf_fail "model pack"
}
