#!/usr/bin/env bash
# Rollout benchmark (issue 7): how long tinyfleetd needs to get an update to N devices
# through a local Mosquitto, against the time the same broker needs, in the same run, to
# deliver the same bytes to the same number of subscribers from a plain publisher; and
# whether the chunk rate limiter holds its configured rate.
#
#   bench/rollout/run.sh BUILD_DIR N [PKI_DIR]
#
# Phases (tests/rollout/harness.sh brings up the broker, tinyfleetd, the models):
#   rollout   N tinyfleet-sim devices on v1; rollout.create + rollout.start of v2 (one canary
#             device, then 100 %, settle 0 s, no rate limit, at most ROLL_MAX_IN_FLIGHT =
#             1,000 downloads at once (unlimited, 10,000 devices asking for 16 KiB each
#             queue seconds of data and re-ask), transfer TRANSFER = auto: the
#             gateway sends a delta when it has one) through the MQTT API; time from
#             the start request to the `completed` rollout.state event (mosquitto_sub
#             timestamps), and the CPU time tinyfleetd, the broker and the simulators used
#             in that window. Needs the rollout engine: without rollout.create the phase
#             says so and is skipped.
#             The models (MODEL = large, the default): a 22.5 KB 16->128->128->4 model
#             whose v2 has its upper layers retrained, an 18.4 KB delta (issue 7's ~20 KB);
#             the simulators get 32 KiB slots, take the offers' 16 KiB chunks, and share
#             signature checks (SHARED_VERIFY=1, tinyfleet-sim --shared-verify: on this
#             host a thousand devices' ES256 checks would otherwise take the cores the
#             broker and the gateway need). MODEL=small: the 7.7 KB model and its 1 KB delta.
#   pull      the gateway's chunk server alone: N device connections (tf-fanout --pull) each
#             pull v2 from tinyfleetd in the agent's 1,024-byte chunks, one request at a time;
#             time from release to the last byte.
#   baseline  the same broker, no gateway: tf-fanout-pub (Paho, the gateway's certificate,
#             at most BASE_WINDOW = 100 unacknowledged) sends the same bytes per device to N
#             subscribed device connections (tf-fanout), once in 16,384-byte chunks (the
#             rollout's) and once in 1,024-byte chunks; time from the first publish to the
#             last byte. Bytes per device: the object one rollout device got (the delta when
#             the gateway sent one), else the full v2 image.
#   rate      chunks.rate_kbps = RATE_KBPS (default 256): the pull phase again (and the
#             rollout, when there is an engine); achieved rate = bytes / (last byte - first
#             byte), and the same without the bucket's one-second burst.
#
# Env: TRANSFER (auto | full | delta), RATE_KBPS, PHASES (default "rollout pull baseline rate"), BASE_WINDOW,
# SAMPLE_MS (the devices' sample period, 1000), SIM_EVERY (samples between telemetry
# records, 60), MODEL (large | small),
# SHARED_VERIFY (1 | 0), RH_SIM_PER (devices per simulator process, default N / 2 up to
# 2,500), KEEP=1 keeps the scratch dir.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd); n=${2:?devices}; pki_dir=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/rollout/harness.sh
. "$here/../../tests/rollout/harness.sh"
model=${MODEL:-large}
sim_args=()
case $model in
large) export RH_MODEL_HIDDEN=128 RH_MODEL_RETRAIN=1; sim_args+=(--slot-kb 32) ;;
small) ;;
*) echo "MODEL must be large or small" >&2; exit 2 ;;
esac
[ "${SHARED_VERIFY:-1}" = 1 ] && sim_args+=(--shared-verify)
export RH_SIM_PER=${RH_SIM_PER:-$(( (n + 1) / 2 < 2500 ? (n + 1) / 2 : 2500 ))}
rh_init "$build"
rate_kbps=${RATE_KBPS:-256}
phases=${PHASES:-rollout pull baseline rate}
per=${RH_SIM_PER:-2500}
procs=$(( (n + per - 1) / per ))
has() { case " $phases " in *" $1 "*) return 0 ;; esac; return 1; }

rh_pki "$n" "$pki_dir"
rh_broker_start
rh_models
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "broker: mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), mutual TLS, 127.0.0.1:$RH_PORT; $n devices; object v2 $RH_V2_SIZE B"

# tf-fanout over ceil(N / per) processes; prints each process's output file.
fanout_start() {   # tag extra-args...
	local tag=$1 p first count; shift
	FAN_PIDS=() FAN_OUT=()
	for ((p = 0; p < procs; p++)); do
		first=$(( p * per + 1 ))
		count=$(( n - p * per < per ? n - p * per : per ))
		"$build/bench/rollout/tf-fanout" --pki "$RH_PKI" --port "$RH_PORT" --devices "$count" \
			--first "$first" --id-width "$RH_WIDTH" --ramp 400 --timeout 900 "$@" \
			> "$RH_WORK/fan-$tag.$p.out" 2>&1 &
		FAN_PIDS+=($!) FAN_OUT+=("$RH_WORK/fan-$tag.$p.out")
		RH_PIDS+=($!)
	done
	for ((p = 0; p < procs; p++)); do
		until grep -q 'connected in' "${FAN_OUT[p]}" 2>/dev/null; do
			kill -0 "${FAN_PIDS[p]}" 2>/dev/null || { cat "${FAN_OUT[p]}" >&2; rh_die "tf-fanout exited"; }
			sleep 0.2
		done
	done
}
fanout_wait() {   # sets FAN_OK; run in this shell (the processes are its children)
	local p
	FAN_OK=1
	for p in "${FAN_PIDS[@]}"; do wait "$p" || FAN_OK=0; done
}
fanout_sum() {   # prints "devices bytes first last retries ok" over all processes
	cat "${FAN_OUT[@]}" | awk -v ok="$FAN_OK" '/fanout: done/ {
		split($3, d, "/"); dev += d[1]; bytes += $5
		f = $10 + 0; l = $14 + 0; r += $15
		sub(",", "", f); if (f > 0 && (first == 0 || f < first)) first = f
		if (l > last) last = l }
		END { printf "%d %d %.3f %.3f %d %d\n", dev, bytes, first, last, r, ok }'
}

# ---- rollout ------------------------------------------------------------------------------
cpu_ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
cpu_split() { echo "$(cpu_ticks "$RH_DAEMON") $(cpu_ticks "$RH_BROKER") $(cpu_ticks "${RH_SIMS[@]}")"; }

rollout_phase() {   # tag [config lines...]
	local tag=$1; shift
	rm -rf "$RH_WORK/state"
	rh_daemon_conf "$@"
	rh_daemon_start
	rh_publish v1
	rh_publish v2
	# The rollout below judges no quality (no limits, drift_alarm false: success is the
	# confirmed install and settle 0), so the devices' data stream is background load: a
	# sample every SAMPLE_MS (1,000) and a telemetry record every SIM_EVERY samples (60),
	# as a plant sensor might. On this host every simulated device's inference and
	# learning shares the cores with the broker and the gateway.
	rh_sims_start "$n" --sample-ms "${SAMPLE_MS:-1000}" --every "${SIM_EVERY:-60}" --label-rate 1 "${sim_args[@]}"
	rh_sims_wait
	local ans id="bench-$tag"
	ans=$(rh_rr rollout.create "$(jq -nc --arg id "$id" --arg m "$RH_MODEL" --arg v "$RH_V2" \
		--argjson f "${ROLL_MAX_IN_FLIGHT:-1000}" --arg t "${TRANSFER:-auto}" '{
		id: $id, model: $m, version: $v, target: {all: true},
		waves: {canary: {count: 1}, stages: [100]}, max_in_flight: $f, transfer: $t,
		success_threshold: 100, settle_seconds: 0, wave_timeout_seconds: 3600,
		gates: {quality: {min_samples: 1, baseline_samples: 1, drift_alarm: false}}, on_gate_failure: "pause"}')")
	if ! echo "$ans" | jq -e .ok > /dev/null 2>&1; then
		echo "rollout ($tag): rollout.create answered: ${ans:-nothing} -- phase skipped"
		rh_sims_stop; rh_daemon_stop
		return 1
	fi
	# Timestamps of the rollout's events and of every chunk response on the wire (the
	# gateway's certificate may read the device plane, the operator's the events).
	mosquitto_sub "${RH_OP[@]}" -i bench-ev -q 1 -t "tf/$RH_SITE/events/rollout.state" \
		-F '%U %p' > "$RH_WORK/events-$tag.txt" 2>/dev/null &
	local sub=$!; RH_PIDS+=($sub)
	mosquitto_sub "${RH_GW[@]}" -i bench-chunks -q 1 -t "tf/$RH_SITE/dev/+/chunk/resp" \
		-F '%U %t %l' > "$RH_WORK/chunks-$tag.txt" 2>/dev/null &
	local sub2=$!; RH_PIDS+=($sub2)
	sleep 1
	local t0 cpu0; t0=$(rh_now); cpu0=$(cpu_split)
	ans=$(rh_rr rollout.start "{\"id\": \"$id\"}")
	echo "$ans" | jq -e .ok > /dev/null || rh_die "rollout.start: $ans"
	local st; st=$(rh_rollout_wait "$id" 3600) || rh_die "rollout $id did not finish: $st"
	local t1 cpu1; t1=$(rh_now); cpu1=$(cpu_split)
	kill "$sub" "$sub2" 2>/dev/null || true; wait "$sub" "$sub2" 2>/dev/null || true
	echo "$st" | jq -c '.result | {state, reason, totals, bytes}'
	ROLL_BYTES=$(echo "$st" | jq '.result.bytes.sent')
	# One device's object (a device updated at its first attempt): what the baseline sends
	# each subscriber. bytes.sent / N is more when devices re-asked or retried.
	ROLL_OBJ=$(rh_rr rollout.status "{\"id\": \"$id\", \"devices\": true, \"limit\": 100}" |
		jq '[.result.devices[] | select(.attempts == 1 and .state == "succeeded") | .bytes_sent] | min // 0')
	ROLL_SECS=$(echo "$t1 - $t0" | bc)
	# The engine's own timestamps (when the broker delivered its rollout.state events):
	# started, canary passed, completed.
	local ev; ev=$(while read -r ts json; do
		echo "$json" | jq -r --arg ts "$ts" '.data | select(.to == "running" and .from == "draft") // select(.reason == "wave_passed") // select(.to == "completed") | "\($ts) \(.reason)"'
	done < "$RH_WORK/events-$tag.txt")
	local ts0 tsw tsc
	ts0=$(echo "$ev" | awk '/operator_start/ {print $1; exit}')
	tsw=$(echo "$ev" | awk '/wave_passed/ {print $1; exit}')
	tsc=$(echo "$ev" | awk '/rollout_completed/ {print $1; exit}')
	if [ -n "$ts0" ] && [ -n "$tsc" ]; then
		ROLL_SECS=$(echo "$tsc - $ts0" | bc)
		ROLL_MAIN=$(echo "$tsc - ${tsw:-$ts0}" | bc)
	else
		ROLL_MAIN=$ROLL_SECS
	fi
	echo "rollout ($tag): $n devices, $(echo "$st" | jq -r .result.state): started -> completed $ROLL_SECS s (rollout.state events), of which canary $(echo "${tsw:-$ts0} - ${ts0:-0}" | bc) s and wave 1 (the other $((n - 1)) devices) $ROLL_MAIN s; $ROLL_BYTES image bytes sent ($ROLL_OBJ B per device object, so $(echo "scale=3; $ROLL_BYTES / ($n * ${ROLL_OBJ:-1})" | bc)x of one object each)"
	read -r g0 b0 s0 <<< "$cpu0"; read -r g1 b1 s1 <<< "$cpu1"
	awk -v tag="$tag" -v g=$((g1 - g0)) -v b=$((b1 - b0)) -v s=$((s1 - s0)) \
		-v hz="$(getconf CLK_TCK)" -v w="$(echo "$t1 - $t0" | bc)" 'BEGIN {
		printf "rollout (%s) CPU from the start request to the answer that it completed (%.2f s): tinyfleetd %.2f s, broker %.2f s, simulators %.2f s\n",
			tag, w, g / hz, b / hz, s / hz }'
	rh_sims_stop
	rh_daemon_stop
}

# ---- pull ---------------------------------------------------------------------------------
pull_phase() {   # tag [config lines...]
	local tag=$1; shift
	rm -rf "$RH_WORK/state" "$RH_WORK/go"
	rh_daemon_conf "$@"
	rh_daemon_start
	rh_publish v1
	rh_publish v2
	fanout_start "$tag" --expect "$RH_V2_SIZE" --pull "$RH_V2_DIGEST" --chunk 1024 \
		--start-file "$RH_WORK/go"
	local t0; t0=$(rh_now)
	touch "$RH_WORK/go"
	fanout_wait
	read -r dev bytes first last retries ok <<< "$(fanout_sum)"
	rh_daemon_stop
	PULL_SECS=$(echo "$last - $t0" | bc)
	PULL_BYTES=$bytes PULL_FIRST=$first PULL_LAST=$last
	echo "pull ($tag): $dev/$n devices pulled $bytes B in 1,024-byte chunks in $PULL_SECS s (release to last byte), $retries retries"
	[ "$ok" = 1 ] || rh_die "pull ($tag): not every device got the object"
}

# ---- baseline -----------------------------------------------------------------------------
# The object: what one device of the rollout got (a delta when the gateway chose one), else
# the full v2 image.
baseline_phase() {   # chunk size
	local c=$1 size=$RH_V2_SIZE
	[ "${ROLL_OBJ:-0}" -gt 0 ] && size=$ROLL_OBJ
	head -c "$size" "$RH_WORK/v2.tfm" > "$RH_WORK/base.obj"
	[ "$size" -le "$RH_V2_SIZE" ] || rh_die "baseline: $size bytes per device is more than the image"
	fanout_start "base-$c" --expect "$size"
	"$build/bench/rollout/tf-fanout-pub" --pki "$RH_PKI" --port "$RH_PORT" --devices "$n" \
		--id-width "$RH_WIDTH" --object "$RH_WORK/base.obj" --chunk "$c" \
		--window "${BASE_WINDOW:-100}" > "$RH_WORK/pub-$c.out"
	cat "$RH_WORK/pub-$c.out"
	local t0; t0=$(sed -n 's/.*first publish at \([0-9.]*\),.*/\1/p' "$RH_WORK/pub-$c.out")
	fanout_wait
	read -r dev bytes first last retries ok <<< "$(fanout_sum)"
	[ "$ok" = 1 ] || rh_die "baseline: not every subscriber got the object"
	BASE_SECS=$(echo "$last - $t0" | bc)
	echo "baseline (chunk $c B): $dev/$n subscribers got $bytes B in $BASE_SECS s (first publish to last byte)"
}

roll_ok=0
if has rollout && rollout_phase nolimit; then roll_ok=1; fi
if has pull; then pull_phase nolimit; fi
if has baseline; then
	# The protocol's largest chunk (one message per device up to 16 KiB; what host agents
	# ask for), then the 1 KiB chunks of MCU agents.
	baseline_phase 16384; base_one=$BASE_SECS
	baseline_phase 1024; base_1k=$BASE_SECS
	if [ "$roll_ok" = 1 ]; then
		echo "RESULT rollout/baseline: $(echo "scale=3; $ROLL_SECS / $base_one" | bc)x (16,384-byte chunks), $(echo "scale=3; $ROLL_SECS / $base_1k" | bc)x (1,024-byte chunks); wave 1 alone: $(echo "scale=3; $ROLL_MAIN / $base_one" | bc)x (16 KiB), $(echo "scale=3; $ROLL_MAIN / $base_1k" | bc)x"
	fi
	if has pull && { [ "${ROLL_BYTES:-0}" = 0 ] || [ "${ROLL_BYTES:-0}" = $(( n * RH_V2_SIZE )) ]; }; then
		# The pull phase pulls the full image: comparable only with a full-image baseline.
		echo "RESULT gateway pull/baseline: $(echo "scale=3; $PULL_SECS / $base_one" | bc)x (one message per device), $(echo "scale=3; $PULL_SECS / $base_1k" | bc)x (1,024-byte chunks)"
	fi
fi
if has rate; then
	pull_phase "rate$rate_kbps" "chunks.rate_kbps = $rate_kbps"
	awk -v b="$PULL_BYTES" -v f="$PULL_FIRST" -v l="$PULL_LAST" -v r="$rate_kbps" 'BEGIN {
		want = r * 1024; span = l - f
		raw = b / span; net = (b - want) / span
		printf "RESULT rate limiter: configured %d KiB/s = %d B/s; achieved %.0f B/s over %.2f s (%+.1f %%), %.0f B/s without the 1 s burst (%+.1f %%)\n",
			r, want, raw, span, (raw / want - 1) * 100, net, (net / want - 1) * 100 }'
	if [ "$roll_ok" = 1 ]; then
		# Downloads at once capped at half the rate in KiB/s: each then gets >= 2 KiB/s, and
		# an agent's chunk request is answered before its 2 s re-ask.
		# Full images: a delta of a few hundred bytes per device would be all burst.
		TRANSFER=full ROLL_MAX_IN_FLIGHT=$(( rate_kbps / 2 > 0 ? rate_kbps / 2 : 1 )) \
			rollout_phase "rate$rate_kbps" "chunks.rate_kbps = $rate_kbps" || true
		# Span: first to last chunk response on the wire; bytes: the image bytes the rollout
		# reports sent (bytes.sent), and the whole MQTT payloads (CBOR framing included).
		awk -v r="$rate_kbps" -v img="$ROLL_BYTES" '$2 ~ /chunk\/resp$/ { if (!f) f = $1; l = $1; b += $3 }
			END { want = r * 1024; span = l - f
				printf "RESULT rollout rate: configured %d B/s; image bytes %.0f B/s over %.2f s (%+.1f %%), %.0f B/s without the 1 s burst (%+.1f %%); whole chunk responses %.0f B/s (%+.1f %%)\n",
				want, img / span, span, (img / span / want - 1) * 100, (img - want) / span, ((img - want) / span / want - 1) * 100,
				b / span, (b / span / want - 1) * 100 }' "$RH_WORK/chunks-rate$rate_kbps.txt"
	fi
fi
