#!/usr/bin/env bash
# Gateway telemetry ingest benchmark (issue 6): N device connections with their own
# certificates (tf-telemetry-load, libmosquitto, mutual TLS) publish telemetry to a local
# Mosquitto (the project's PKI, ACL and generated config) at a fixed offered rate, at QoS 0
# and then QoS 1. In the same run tinyfleetd stores it (counted afterwards in its LMDB
# `telemetry` database with mdb_stat) and mosquitto_sub, with the gateway's certificate (the
# ACL lets gw-site1 read tf/site1/dev/#) and its own client id, counts what it receives on
# the same topics. Prints stored/s vs received/s, their ratio, the broker's drops
# ($SYS/broker/publish/messages/dropped), CPU per message of tinyfleetd and mosquitto_sub,
# and tinyfleetd's RSS with 0, 10k and 100k registered devices (slope per device).
#
#   bench/gateway/ingest.sh BUILD_DIR [DEVICES=1000] [RATE=2000] [SECONDS=20] [PKI_DIR]
#
# Optionally a tinyfleet-sim run (QoS 0, the simulator's own telemetry) as a third row:
# SIM=1 bench/gateway/ingest.sh ...; only the RSS rows: RSS_ONLY=1 bench/gateway/ingest.sh ...;
# without them: NO_RSS=1 bench/gateway/ingest.sh ... Extra tinyfleetd options:
# GW_CONF="telemetry.flush_ms = 50" bench/gateway/ingest.sh ... Where the time goes (KEEP=1
# keeps the files): PERF=1 (perf record of both processes), STRACE=1 (system call counts),
# CALLGRIND=1 GW_WRAP="valgrind --tool=callgrind --callgrind-out-file=DIR/cg.%p" (tinyfleetd's
# instructions while the load runs; use a low RATE).
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd); n=${2:-1000}; rate=${3:-2000}; secs=${4:-20}; pki=${5:-}
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/tf-bench-gw-XXXXXX)
broker= daemon=
cleanup() {
	for p in $daemon $broker; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)

if [ -z "$pki" ]; then
	pki=$work/pki
	bash "$top/deploy/pki.sh" "$pki" --devices "$n" >/dev/null
fi
first=$(find "$pki/devices" -name 'dev-*.crt' -printf '%f\n' -quit)
digits=${first#dev-}; digits=${digits%.crt}; width=${#digits}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash "$top/deploy/mosquitto/gen-config.sh" "$work/mosq" "$pki" --port "$port" --user root >/dev/null
sed -i -e 's/^persistence true/persistence false/' -e '/^log_type/d' "$work/mosq/mosquitto.conf"
echo "log_type error" >> "$work/mosq/mosquitto.conf"
mosquitto -c "$work/mosq/mosquitto.conf" > "$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

gw_tls="-h 127.0.0.1 -p $port --cafile $pki/ca.crt --cert $pki/gateway.crt --key $pki/gateway.key"
sys_dropped() {
	mosquitto_sub $gw_tls -i bench-sys -t '$SYS/broker/publish/messages/dropped' -C 1 -W 5 \
		2>/dev/null || echo "?"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_user() { awk '{print $14}' "/proc/$1/stat"; }

write_conf() {   # state dir
	cat > "$work/tinyfleetd.conf" <<CONF
site = site1
state_dir = $1
log_level = warning
mqtt.uri = ssl://127.0.0.1:$port
mqtt.ca = $pki/ca.crt
mqtt.cert = $pki/gateway.crt
mqtt.key = $pki/gateway.key
release_keys = $top/tests/interop/keys/release-test.pub.pem
CONF
	# GW_CONF="key = value; key = value" adds options (e.g. telemetry.flush_ms) to compare.
	if [ -n "${GW_CONF:-}" ]; then
		tr ';' '\n' <<< "$GW_CONF" | sed 's/^ *//' >> "$work/tinyfleetd.conf"
	fi
}
start_daemon() {
	# GW_WRAP: a command prefix for tinyfleetd, e.g. "valgrind --tool=callgrind" (same pid).
	${GW_WRAP:-} "$build/gateway/tinyfleetd" -f "$work/tinyfleetd.conf" 2>> "$work/tinyfleetd.log" &
	daemon=$!
	for _ in $(seq 50); do
		[ "$(mosquitto_sub $gw_tls -i bench-st -t tf/site1/status/gateway -C 1 -W 1 2>/dev/null)" = online ] && return 0
		sleep 0.2
	done
	echo "ingest.sh: tinyfleetd did not come online" >&2; cat "$work/tinyfleetd.log" >&2; exit 1
}
stop_daemon() {
	kill -TERM "$daemon"; wait "$daemon" || true; daemon=
}
telemetry_count() {
	mdb_stat -s telemetry "$1" 2>/dev/null | awk '/Entries:/ {print $2}'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "broker: mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), mutual TLS, port $port"

# One phase: load (or simulator) at QoS q while tinyfleetd and mosquitto_sub take the stream.
phase() {   # name qos command...
	local name=$1 q=$2; shift 2
	local state=$work/state-$name
	write_conf "$state"
	start_daemon
	local d0; d0=$(sys_dropped)
	mosquitto_sub $gw_tls -i bench-sub -q "$q" -t 'tf/site1/dev/+/telemetry' -F '%t' \
		-W $((secs + 90)) > "$work/sub-$name.txt" 2>/dev/null &
	local sub=$!
	sleep 1
	"$@" > "$work/load-$name.txt" &
	local load=$!
	# CPU from the moment the load starts publishing.
	until grep -q 'connected' "$work/load-$name.txt" 2>/dev/null; do
		kill -0 "$load" 2>/dev/null || break; sleep 0.05; done
	sleep 0.5
	local g0 s0 r0 t0 g1 s1 r1 t1 gu0 su0 gu1 su1
	kill -0 "$daemon" || { echo "ingest.sh: tinyfleetd is gone" >&2; tail "$work/tinyfleetd.log" >&2; }
	g0=$(cpu_ticks "$daemon"); s0=$(cpu_ticks "$sub"); r0=$(wc -l < "$work/sub-$name.txt")
	gu0=$(cpu_user "$daemon"); su0=$(cpu_user "$sub")
	t0=$(date +%s.%N)
	# Time-to-durable: one probe record at a time under the load, watched in LMDB.
	local probe=
	if [ -x "$build/bench/gateway/tf-durable-probe" ]; then
		"$build/bench/gateway/tf-durable-probe" --pki "$pki" --port "$port" \
			--id "$(printf 'dev-%0*d' "$width" 1)" --state "$state" --count $((secs * 7)) \
			--gap-ms 100 > "$work/probe-$name.txt" 2>&1 &
		probe=$!
	fi
	# Diagnostics (KEEP=1 keeps what they write): PERF=1 samples both processes with
	# perf (cpu-clock, call graphs), STRACE=1 counts the system calls of tinyfleetd (all threads)
	# and mosquitto_sub's (strace slows both: CPU figures of such a run are not comparable).
	local diag=()
	if [ "${PERF:-0}" = 1 ]; then
		perf record -q -e cpu-clock -F 1999 -g -p "$daemon" -o "$work/perf-$name-gw.data" \
			>/dev/null 2>&1 & diag+=($!)
		perf record -q -e cpu-clock -F 1999 -g -p "$sub" -o "$work/perf-$name-sub.data" \
			>/dev/null 2>&1 & diag+=($!)
	fi
	if [ "${STRACE:-0}" = 1 ]; then
		strace -c -f -p "$daemon" -o "$work/strace-$name-gw.txt" 2>/dev/null & diag+=($!)
		strace -c -f -p "$sub" -o "$work/strace-$name-sub.txt" 2>/dev/null & diag+=($!)
	fi
	# With GW_WRAP="valgrind --tool=callgrind --callgrind-out-file=DIR/cg.%p": count only
	# while the load runs (zeroed at its start, dumped at its end).
	[ "${CALLGRIND:-0}" = 1 ] && callgrind_control -z "$daemon" >/dev/null
	wait "$load"
	[ "${CALLGRIND:-0}" = 1 ] && callgrind_control -d "$daemon" >/dev/null
	for p in "${diag[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	[ -n "$probe" ] && { wait "$probe" || true; cat "$work/probe-$name.txt"; }
	sleep 2   # let the last batch reach disk and the subscriber
	g1=$(cpu_ticks "$daemon"); s1=$(cpu_ticks "$sub"); r1=$(wc -l < "$work/sub-$name.txt")
	gu1=$(cpu_user "$daemon"); su1=$(cpu_user "$sub")
	t1=$(date +%s.%N)
	local d1; d1=$(sys_dropped)
	kill "$sub" 2>/dev/null || true; wait "$sub" 2>/dev/null || true
	stop_daemon
	local stored; stored=$(telemetry_count "$state")
	local recv; recv=$(wc -l < "$work/sub-$name.txt")
	cat "$work/load-$name.txt"
	awk -v name="$name" -v q="$q" -v stored="$stored" -v recv="$recv" -v secs="$secs" \
	    -v g="$((g1 - g0))" -v s="$((s1 - s0))" -v gu="$((gu1 - gu0))" -v su="$((su1 - su0))" \
	    -v hz="$hz" -v d0="$d0" -v d1="$d1" 'BEGIN {
		printf "%s (QoS %d): gateway stored %d (%.0f msg/s), mosquitto_sub received %d (%.0f msg/s), ratio %.3f\n",
			name, q, stored, stored / secs, recv, recv / secs, recv ? stored / recv : 0
		printf "%s (QoS %d): broker dropped %s -> %s; CPU tinyfleetd %.1f us/msg, mosquitto_sub %.1f us/msg (ratio %.2f)\n",
			name, q, d0, d1, g * 1e6 / hz / (stored ? stored : 1), s * 1e6 / hz / (recv ? recv : 1),
			(s && recv && stored) ? (g / stored) / (s / recv) : 0
		us = 1e6 / hz
		printf "%s (QoS %d): user + sys: tinyfleetd %.1f + %.1f us/msg, mosquitto_sub %.1f + %.1f us/msg\n",
			name, q, gu * us / (stored ? stored : 1), (g - gu) * us / (stored ? stored : 1),
			su * us / (recv ? recv : 1), (s - su) * us / (recv ? recv : 1)
	}'
}

# tf-telemetry-load: libmosquitto's select() loop caps a process at ~300 connections, so
# ceil(N / 250) processes share devices and rate, released together once all are connected.
multi_load() {   # qos
	local per=250 procs=$(( (n + 249) / 250 )) pids=() p
	rm -f "$work/go"
	for ((p = 0; p < procs; p++)); do
		local cnt=$(( n - p * per < per ? n - p * per : per ))
		"$build/bench/gateway/tf-telemetry-load" --pki "$pki" --port "$port" --devices "$cnt" \
			--first $((p * per + 1)) --id-width "$width" --rate $((rate * cnt / n)) \
			--seconds "$secs" --qos "$1" --start-file "$work/go" > "$work/ml.$p.txt" &
		pids+=($!)
	done
	for ((p = 0; p < procs; p++)); do
		until grep -q connected "$work/ml.$p.txt" 2>/dev/null; do
			kill -0 "${pids[$p]}" 2>/dev/null || { cat "$work/ml.$p.txt"; return 1; }
			sleep 0.1
		done
	done
	echo "load: all $n devices connected ($procs processes)"
	touch "$work/go"
	for p in "${pids[@]}"; do wait "$p"; done
	cat "$work"/ml.*.txt | grep -v connected
}
if [ "${RSS_ONLY:-0}" != 1 ] && [ "${SIM_ONLY:-0}" != 1 ]; then
echo "offered: $n devices, $rate msg/s in total, $secs s per phase"
phase qos0 0 multi_load 0
phase qos1 1 multi_load 1
fi
if [ "${SIM:-0}" = 1 ] && [ "${RSS_ONLY:-0}" != 1 ]; then
	"$build/tests/device-agent/ota-model-tool" "$work/v1.tfm" >/dev/null
	# tinyfleet-sim: every device samples every 50 ms and sends telemetry every E samples.
	every=$(( n * 20 / rate )); [ "$every" -ge 1 ] || every=1
	sim_wrap() {
		"$build/device-agent/sim/tinyfleet-sim" --pki "$pki" --devices "$n" --port "$port" \
			--id-width "$width" --model "$work/v1.tfm" --ramp 500 --sample-ms 50 \
			--every "$every" --duration "$secs" --timeout 120 \
			--release-pub "$top/tests/interop/keys/release-test.pub.pem" |
			sed -u 's/devices connected/devices connected (sim)/'
	}
	phase sim-qos0 0 sim_wrap
fi

# RSS per registered device: the store filled through the registry (tf-registry-fill), then
# tinyfleetd started on it; VmRSS once it is online.
rss_row() {   # devices
	local state=$work/reg-$1
	mkdir -p "$state"
	[ "$1" -gt 0 ] && "$build/bench/gateway/tf-registry-fill" "$state" "$1" >/dev/null
	write_conf "$state"
	start_daemon
	sleep 1
	# VmRSS, and its parts: RssAnon (heap, stacks) and RssFile (mapped files: LMDB's map
	# pages that loading the registry read are resident and counted too).
	local kb; kb=$(awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2}' "/proc/$daemon/status")
	stop_daemon
	echo "$kb"
}
{ [ "${SIM_ONLY:-0}" = 1 ] || [ "${NO_RSS:-0}" = 1 ]; } && exit 0
r0=$(rss_row 0); r10=$(rss_row 10000); r100=$(rss_row 100000)
echo "$r0|$r10|$r100" | awk -F'|' '{
	split($1, a, " "); split($2, b, " "); split($3, c, " ")
	printf "RSS: tinyfleetd %d KB with 0 devices, %d KB with 10k, %d KB with 100k registered (VmRSS)\n", a[1], b[1], c[1]
	printf "RSS slope 10k -> 100k: %.0f B/device VmRSS, %.0f B/device RssAnon (heap), %.0f B/device RssFile (LMDB map)\n",
		(c[1] - b[1]) * 1024 / 90000, (c[2] - b[2]) * 1024 / 90000, (c[3] - b[3]) * 1024 / 90000
}'
