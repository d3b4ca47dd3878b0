# shellcheck shell=bash
# Rollout harness: a bash library (source it) that brings up, on 127.0.0.1, what a rollout
# needs and tears down exactly what it started, by PID. Used by tests/rollout/crash.sh and
# bench/rollout/run.sh; described in tests/rollout/README.md.
#
#   . tests/rollout/harness.sh
#   rh_init BUILD_DIR            scratch dir $RH_WORK, cleanup trap, fd limit raised
#   rh_pki N [PKI_DIR]           fleet PKI with N devices and operator op-alice (or reuse one)
#   rh_broker_start              Mosquitto with the project's config and ACL, free port
#   rh_models                    v1/v2 containers (ota-model-tool) signed with the test key
#   rh_daemon_conf [k = v ...]   tinyfleetd config ($RH_WORK/tinyfleetd.conf), extra keys
#   rh_daemon_start / rh_daemon_kill9 / rh_daemon_stop
#   rh_rr OP JSON                one operator request (mosquitto_rr, MQTT v5); prints the answer
#   rh_publish NAME              model.publish of $RH_WORK/NAME.cose + NAME.tfm; fails unless ok
#   rh_sims_start N [ARGS...]    N tinyfleet-sim devices (processes of at most RH_SIM_PER)
#   rh_sims_wait                 until every simulator printed "devices connected"
#   rh_sims_stop                 SIGTERM, so each writes its --summary file
#   rh_wait_devices N VERSION    until fleet.status counts N devices on VERSION
#   rh_rollout_wait ID TIMEOUT   until the rollout is completed/aborted/rolled_back
#
# Site site1, operator op-alice, gateway gw-site1, devices dev-<n> (width from the PKI).
# Everything it starts is recorded in RH_PIDS and ended by rh_cleanup (newest first:
# simulators, then tinyfleetd, then the broker). KEEP=1 keeps $RH_WORK.

rh_die() { echo "harness: $*" >&2; exit 1; }
rh_log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
rh_now() { date +%s.%N; }

rh_init() {   # BUILD_DIR
	RH_BUILD=$(cd "${1:?build dir}" && pwd)
	RH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	RH_WORK=$(mktemp -d /tmp/tf-rollout-XXXXXX)
	RH_SITE=site1
	RH_PIDS=() RH_SIMS=() RH_DAEMON= RH_BROKER=
	RH_SIM_PER=${RH_SIM_PER:-2500}
	RH_PY=/usr/bin/python3
	RH_PUB=$RH_TOP/tests/interop/keys/release-test.pub.pem
	RH_KEY=$RH_TOP/tests/interop/keys/release-test.key.pem
	ulimit -n "$(ulimit -Hn)"
	trap rh_cleanup EXIT
	trap 'exit 130' INT TERM
}

rh_cleanup() {
	local rc=$? p
	for p in "${RH_SIMS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${RH_SIMS[@]}"; do wait "$p" 2>/dev/null || true; done
	RH_SIMS=()
	[ -n "$RH_DAEMON" ] && { kill -TERM "$RH_DAEMON" 2>/dev/null || true; wait "$RH_DAEMON" 2>/dev/null || true; }
	for ((p = ${#RH_PIDS[@]} - 1; p >= 0; p--)); do
		kill -TERM "${RH_PIDS[p]}" 2>/dev/null || true
		wait "${RH_PIDS[p]}" 2>/dev/null || true
	done
	[ -n "$RH_BROKER" ] && { kill -TERM "$RH_BROKER" 2>/dev/null || true; wait "$RH_BROKER" 2>/dev/null || true; }
	if [ "${KEEP:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "${KEEP_ON_FAIL:-0}" = 1 ]; }; then
		echo "harness: kept $RH_WORK" >&2
	else
		rm -rf "$RH_WORK"
	fi
	exit "$rc"
}

rh_pki() {   # N [PKI_DIR]: reuse PKI_DIR when it has at least N devices
	local n=$1 have=0 first digits
	RH_PKI=${2:-$RH_WORK/pki}
	[ -d "$RH_PKI/devices" ] && have=$(find "$RH_PKI/devices" -name '*.crt' | wc -l)
	if [ "$have" -lt "$n" ]; then
		rh_log "making a PKI with $n devices in $RH_PKI"
		bash "$RH_TOP/deploy/pki.sh" "$RH_PKI" --site "$RH_SITE" --devices "$n" \
			--operators alice > /dev/null
	fi
	[ -f "$RH_PKI/op-alice.crt" ] || bash "$RH_TOP/deploy/pki.sh" "$RH_PKI" --site "$RH_SITE" \
		--operators alice > /dev/null
	first=$(find "$RH_PKI/devices" -name 'dev-*.crt' -printf '%f\n' -quit)
	digits=${first#dev-}; digits=${digits%.crt}
	RH_WIDTH=${#digits}
}

rh_dev_id() { printf 'dev-%0*d' "$RH_WIDTH" "$1"; }

rh_free_port() {
	$RH_PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Mosquitto as deploy/ configures it (mutual TLS, ACL, max_queued_messages 200000,
# max_inflight_messages 100, TCP_NODELAY), without persistence (nothing outlives a run) and
# logging errors only.
rh_broker_start() {
	RH_PORT=$(rh_free_port)
	bash "$RH_TOP/deploy/mosquitto/gen-config.sh" "$RH_WORK/mosq" "$RH_PKI" --port "$RH_PORT" \
		--site "$RH_SITE" --operators alice --user root > /dev/null
	sed -i -e 's/^persistence true/persistence false/' -e '/^log_type/d' \
		"$RH_WORK/mosq/mosquitto.conf"
	echo "log_type error" >> "$RH_WORK/mosq/mosquitto.conf"
	mosquitto -c "$RH_WORK/mosq/mosquitto.conf" > "$RH_WORK/broker.log" 2>&1 &
	RH_BROKER=$!
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$RH_PORT") 2>/dev/null && break
		kill -0 "$RH_BROKER" 2>/dev/null || { cat "$RH_WORK/broker.log" >&2; rh_die "mosquitto exited"; }
		sleep 0.1
	done
	RH_OP=(-h 127.0.0.1 -p "$RH_PORT" --cafile "$RH_PKI/ca.crt" --cert "$RH_PKI/op-alice.crt"
	       --key "$RH_PKI/op-alice.key")
	RH_GW=(-h 127.0.0.1 -p "$RH_PORT" --cafile "$RH_PKI/ca.crt" --cert "$RH_PKI/gateway.crt"
	       --key "$RH_PKI/gateway.key")
	rh_log "mosquitto pid $RH_BROKER on 127.0.0.1:$RH_PORT"
}

# v1: ota-model-tool's test classifier (7,704 B, 16->64->64->4, self-test vectors), as every
# simulated device is provisioned with; v2: its fine-tuned variant with the container's
# version field (offset 48, 5 bytes like "0.0.1") set to 1.1.0. Both signed for class sim-m4
# (4 KiB of RAM, sensor accel3, agent ABI 0x00010002, as a simulated device offers) with the committed test
# release key, sequence 1 and 2.
RH_V1=0.0.1 RH_V2=1.1.0 RH_MODEL=test-model
rh_models() {
	# RH_MODEL_HIDDEN=128 RH_MODEL_RETRAIN=1: a 22.5 KB model whose v2 has its upper layers
	# retrained (an 18 KB delta; needs tinyfleet-sim --slot-kb 32). Default: a 7.7 KB model
	# and a fine-tune (a 1 KB delta).
	local shape=(--hidden "${RH_MODEL_HIDDEN:-64}") v2shape=()
	[ "${RH_MODEL_RETRAIN:-0}" = 1 ] && v2shape=(--retrain)
	"$RH_BUILD/tests/device-agent/ota-model-tool" "$RH_WORK/v1.tfm" "${shape[@]}"
	"$RH_BUILD/tests/device-agent/ota-model-tool" "$RH_WORK/v2.tfm" 1 "${shape[@]}" "${v2shape[@]}"
	printf '%s' "$RH_V2" | dd of="$RH_WORK/v2.tfm" bs=1 seek=48 conv=notrunc 2>/dev/null
	"$RH_BUILD/tools/cli/tinyfleet" model sign --key "$RH_KEY" --seq 1 --class sim-m4 --min-ram 4096 --sensors accel3 --abi 65538 \
		"$RH_WORK/v1.tfm" "$RH_WORK/v1.cose" > /dev/null
	"$RH_BUILD/tools/cli/tinyfleet" model sign --key "$RH_KEY" --seq 2 --class sim-m4 --min-ram 4096 --sensors accel3 --abi 65538 \
		"$RH_WORK/v2.tfm" "$RH_WORK/v2.cose" > /dev/null
	RH_V2_DIGEST=$(sha256sum "$RH_WORK/v2.tfm" | cut -d' ' -f1)
	RH_V2_SIZE=$(stat -c %s "$RH_WORK/v2.tfm")
}

rh_daemon_conf() {   # extra "key = value" lines
	{
		echo "site = $RH_SITE"
		echo "state_dir = $RH_WORK/state"
		echo "log_level = ${RH_LOG_LEVEL:-warning}"
		echo "mqtt.uri = ssl://127.0.0.1:$RH_PORT"
		echo "mqtt.ca = $RH_PKI/ca.crt"
		echo "mqtt.cert = $RH_PKI/gateway.crt"
		echo "mqtt.key = $RH_PKI/gateway.key"
		echo "release_keys = $RH_PUB"
		echo "store.map_size_mb = 512"
		echo "store.reserve_mb = 32"
		local kv
		for kv in "$@"; do echo "$kv"; done
	} > "$RH_WORK/tinyfleetd.conf"
	"$RH_BUILD/gateway/tinyfleetd" -n -f "$RH_WORK/tinyfleetd.conf" > /dev/null ||
		rh_die "tinyfleetd refuses its configuration"
}

# One operator request; prints the JSON answer (empty when none came within RH_RR_WAIT s).
RH_RR_N=0
rh_rr() {   # OP JSON
	RH_RR_N=$((RH_RR_N + 1))
	local corr="rh-$$-$RH_RR_N"
	mosquitto_rr "${RH_OP[@]}" -V mqttv5 -q 1 -t "tf/$RH_SITE/api/req/$1/op-alice" \
		-e "tf/$RH_SITE/api/resp/op-alice/$corr" -D publish correlation-data "$corr" \
		-D publish message-expiry-interval 30 -W "${RH_RR_WAIT:-10}" -m "$2" 2>/dev/null || true
}

# Started and answering: a fleet.status request answered ok (the retained "online" can be
# stale right after a kill -9, an answer cannot).
rh_daemon_wait_ready() {
	local i
	for i in $(seq "${1:-60}"); do
		kill -0 "$RH_DAEMON" 2>/dev/null || { tail -20 "$RH_WORK/tinyfleetd.log" >&2; rh_die "tinyfleetd exited"; }
		RH_RR_WAIT=2 rh_rr fleet.status '{}' | jq -e .ok > /dev/null 2>&1 && return 0
	done
	tail -20 "$RH_WORK/tinyfleetd.log" >&2
	rh_die "tinyfleetd does not answer"
}

rh_daemon_start() {
	"$RH_BUILD/gateway/tinyfleetd" -f "$RH_WORK/tinyfleetd.conf" 2>> "$RH_WORK/tinyfleetd.log" &
	RH_DAEMON=$!
	rh_daemon_wait_ready
}

rh_daemon_kill9() {
	kill -KILL "$RH_DAEMON" 2>/dev/null || true
	wait "$RH_DAEMON" 2>/dev/null || true
	RH_DAEMON=
}

rh_daemon_stop() {
	kill -TERM "$RH_DAEMON" 2>/dev/null || true
	wait "$RH_DAEMON" 2>/dev/null || true
	RH_DAEMON=
}

rh_publish() {   # NAME: $RH_WORK/NAME.cose + NAME.tfm
	local ans
	printf '{"manifest":"%s","container":"%s"}' "$(base64 -w0 "$RH_WORK/$1.cose")" \
		"$(base64 -w0 "$RH_WORK/$1.tfm")" > "$RH_WORK/publish-$1.json"
	ans=$(RH_RR_WAIT=20 rh_rr model.publish "$(cat "$RH_WORK/publish-$1.json")")
	echo "$ans" | jq -e .ok > /dev/null 2>&1 || rh_die "model.publish $1: ${ans:-no answer}"
}

# Does this tinyfleet-sim take --summary FILE (the per-device JSON summary)?
rh_sim_has_summary() {
	local usage
	usage=$("$RH_BUILD/device-agent/sim/tinyfleet-sim" 2>&1 || true)
	grep -q -- '--summary' <<< "$usage"
}

rh_sims_start() {   # N [extra tinyfleet-sim arguments]
	local n=$1 p procs count first; shift
	procs=$(( (n + RH_SIM_PER - 1) / RH_SIM_PER ))
	RH_SIM_N=$n RH_SIM_SUMMARY=()
	for ((p = 0; p < procs; p++)); do
		first=$(( p * RH_SIM_PER + 1 ))
		count=$(( n - p * RH_SIM_PER < RH_SIM_PER ? n - p * RH_SIM_PER : RH_SIM_PER ))
		local extra=()
		if rh_sim_has_summary; then
			extra=(--summary "$RH_WORK/sim-summary.$p.json")
			RH_SIM_SUMMARY+=("$RH_WORK/sim-summary.$p.json")
		fi
		"$RH_BUILD/device-agent/sim/tinyfleet-sim" --pki "$RH_PKI" --devices "$count" \
			--first "$first" --id-width "$RH_WIDTH" --port "$RH_PORT" --site "$RH_SITE" \
			--model "$RH_WORK/v1.tfm" --release-pub "$RH_PUB" --ramp "${RH_RAMP:-200}" \
			--duration 86400 --timeout 600 "${extra[@]}" "$@" \
			> "$RH_WORK/sim.$p.out" 2> "$RH_WORK/sim.$p.err" &
		RH_SIMS+=($!)
	done
	rh_log "started $n simulated devices in $procs process(es)"
}

rh_sims_wait() {
	local p i
	for ((p = 0; p < ${#RH_SIMS[@]}; p++)); do
		for i in $(seq 6000); do
			grep -q 'devices connected' "$RH_WORK/sim.$p.out" 2>/dev/null && break
			kill -0 "${RH_SIMS[p]}" 2>/dev/null || { cat "$RH_WORK/sim.$p.err" >&2; rh_die "simulator $p exited"; }
			sleep 0.1
		done
		grep -q 'devices connected' "$RH_WORK/sim.$p.out" || rh_die "simulator $p: not all connected"
	done
	rh_log "all $RH_SIM_N simulated devices connected"
}

rh_sims_stop() {
	local p
	for p in "${RH_SIMS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${RH_SIMS[@]}"; do wait "$p" 2>/dev/null || true; done
	RH_SIMS=()
}

# Devices fleet.status counts on model version VERSION (0 when none or no answer).
rh_fleet_on_version() {   # VERSION
	rh_rr fleet.status '{}' | jq -r --arg v "$1" '
		[.result.models[]? | select(.version == $v) | .devices] | add // 0' 2>/dev/null || echo 0
}

rh_wait_devices() {   # N VERSION [TRIES]
	local i have=0
	for i in $(seq "${3:-300}"); do
		have=$(rh_fleet_on_version "$2")
		[ "$have" -ge "$1" ] && return 0
		sleep 1
	done
	rh_die "fleet.status: $have of $1 devices on $2"
}

# Until the rollout reaches a terminal state; prints the final rollout.status result.
rh_rollout_state() {   # ID
	rh_rr rollout.status "{\"id\": \"$1\"}"
}
rh_rollout_wait() {   # ID TIMEOUT_S
	local end=$(( $(date +%s) + $2 )) st state
	while [ "$(date +%s)" -lt "$end" ]; do
		st=$(rh_rollout_state "$1")
		state=$(echo "$st" | jq -r '.result.state // empty' 2>/dev/null)
		case $state in completed|aborted|rolled_back) echo "$st"; return 0 ;; esac
		sleep 0.5
	done
	echo "$st"
	return 1
}
