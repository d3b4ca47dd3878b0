#!/usr/bin/env bash
# Fleet simulator benchmark: N simulated devices (tinyfleet-sim, one thread) connect with
# mutual TLS to a local Mosquitto that uses the project's PKI, ACL and config; prints the
# connect time and memory per device (simulator RSS, broker RSS).
#
#   bench/agent/run.sh BUILD_DIR N [PKI_DIR] [RAMP_PER_S]
#
# Environment: SIM_ARGS (extra tinyfleet-sim options, e.g. --tls-per-device), PER (devices
# per simulator process; default N: one process).
#
# PKI_DIR must hold at least N device certificates (deploy/pki.sh DIR --devices N; the
# device ids' width follows from the count given there, see --id-width below). Without it a
# fresh PKI with N devices is made in a scratch folder (slow for large N: ~20 ms/device).
set -euo pipefail
build=${1:?build dir}; n=${2:?device count}; pki=${3:-}; ramp=${4:-500}
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/tf-bench-agent-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
# One fd per client in the broker, three in the simulator (which raises its own limit): as
# root the hard limit is raised too, else the soft one goes to the hard one.
need=$(( 3 * n + 1024 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
	ulimit -Hn "$need" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)"

if [ -z "$pki" ]; then
	pki=$work/pki
	bash "$top/deploy/pki.sh" "$pki" --devices "$n" >/dev/null
fi
count=$(ls "$pki/devices" | grep -c '\.crt$')
[ "$count" -ge "$n" ] || { echo "run.sh: $pki has $count devices, need $n" >&2; exit 1; }
first=$(find "$pki/devices" -name 'dev-*.crt' -printf '%f\n' -quit)
digits=${first#dev-}; digits=${digits%.crt}; width=${#digits}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash "$top/deploy/mosquitto/gen-config.sh" "$work/mosq" "$pki" --port "$port" --user root >/dev/null
# A benchmark broker keeps nothing on disk and logs nothing per connection.
sed -i -e 's/^persistence true/persistence false/' -e '/^log_type/d' "$work/mosq/mosquitto.conf"
echo "log_type error" >> "$work/mosq/mosquitto.conf"
# Bench sizing: no $SYS traffic, no connection cap, no broker memory cap.
printf "sys_interval 0\nmax_connections -1\nmemory_limit 0\n" >> "$work/mosq/mosquitto.conf"
mosquitto -c "$work/mosq/mosquitto.conf" > "$work/broker.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
b0=$(rss_kb "$pid")
"$build/tests/device-agent/ota-model-tool" "$work/v1.tfm"
# One simulator process (one thread, one poll() loop) holds as many devices as its open
# files allow: libmosquitto keeps three per client (socket and a wake-up socket pair). Where
# the hard limit cannot be raised (no CAP_SYS_RESOURCE, e.g. this machine's container with
# 20,000), the fleet is split evenly into processes started together; PER overrides.
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=$(( 3 * n + 1024 ))
maxper=$(( (hard - 256) / 3 ))
procs=$(( (n + maxper - 1) / maxper ))
per=${PER:-$(( (n + procs - 1) / procs ))}
procs=$(( (n + per - 1) / per ))
echo "run.sh: $n devices in $procs simulator process(es) (open files: $(ulimit -n))"
t0=$(date +%s.%N)
pids=()
for ((p = 0; p < procs; p++)); do
	first=$(( p * per + 1 ))
	count=$(( n - p * per < per ? n - p * per : per ))
	/usr/bin/time -v "$build/device-agent/sim/tinyfleet-sim" --pki "$pki" --devices "$count" \
		--first "$first" --port "$port" --id-width "$width" --model "$work/v1.tfm" \
		--ramp "$ramp" --release-pub "$top/tests/interop/keys/release-test.pub.pem" \
		--duration 0 --timeout 240 ${SIM_ARGS:-} > "$work/sim.$p.txt" 2> "$work/time.$p.txt" &
	pids+=($!)
done
ok=1
for p in "${pids[@]}"; do wait "$p" || ok=0; done
t1=$(date +%s.%N)
b1=$(rss_kb "$pid")
cat "$work"/sim.*.txt
[ "$ok" = 1 ] || { echo "run.sh: a simulator failed"; cat "$work"/time.*.txt; exit 1; }
awk -v n="$n" -v procs="$procs" -v wall="$(echo "$t1 - $t0" | bc)" '
	/devices connected/ {
		for (i = 1; i <= NF; i++) {
			if ($i == "in") t = $(i + 1) + 0
			if ($i == "RSS") { a = $(i + 1) + 0; b = $(i + 4) + 0 }
		}
		if (t > tmax) tmax = t
		grow += b - a; rss += b
	}
	END {
		printf "all %d devices connected (mutual TLS) in %.2f s (slowest process; wall %.2f s, %d process(es))\n", n, tmax, wall, procs
		printf "simulator RSS %d KB in total, %.1f KB per device (growth while connecting)\n", rss, grow / n
	}' "$work"/sim.*.txt
echo "broker RSS: $b0 KB idle -> $b1 KB with $n TLS clients ($(( (b1 - b0) / n )) KB per client)"
grep -h -E 'Percent of CPU' "$work"/time.*.txt | sed 's/^\t/simulator: /'
