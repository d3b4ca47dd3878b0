#!/usr/bin/env bash
# Rollout crash test (issue 7): kill -9 tinyfleetd at KILLS random points of a rollout to N
# simulated devices, restarting it each time; then the rollout must have finished, every
# device must run the new version (or the old one where a gate or the rollout says so),
# no device may have installed it twice, and the audit log must have no gap.
#
#   tests/rollout/crash.sh BUILD_DIR [N=1000] [KILLS=50] [PKI_DIR]
#
# What is checked, and from where:
#   - the rollout (rollout.status): state completed; per device (all pages): succeeded, or
#     skipped / rolled_back with a reason; the counts add up to N;
#   - the gateway's view (fleet.status): devices per model version;
#   - the devices' own word, from a passive subscriber with the gateway's certificate that
#     records every report for the whole run and reads the retained states at the end
#     (device_view.py): each device's active, confirmed slot holds the new version, and it
#     confirmed an install at most once (once exactly when it runs the new version); and
#     the simulators' --summary files written at exit: the running version and the count of
#     confirmed updates per device (exactly one on the new version), nothing bricked;
#   - the audit log (tf-audit-dump, read-only LMDB), after every kill and at the end:
#     sequence numbers 0..n-1 without a gap, n never shrinks; and no device has two
#     audit entries of a succeeded update in this rollout (entries that name the device in
#     details.device with details.outcome / details.state "succeeded").
#
# Kill points: after each restart the driver waits a random 0.2..KILL_MAX s (default 1.2)
# before the next kill -9. The transfer is slowed with the chunk rate limiter so that the
# rollout outlasts the kills: chunks.rate_kbps = RATE_KBPS (default N x image / (KILLS x 3 s),
# at least 1 KiB/s) and max_in_flight = MAX_IN_FLIGHT (default: the rate in KiB/s), with
# transfer "full" (a delta between these two versions is a few hundred bytes, which would
# end the rollout within a few kills). The test fails if the rollout ended before the last
# kill.
# Exit 77 (CTest: skipped) when the gateway has no rollout.create operation.
# Env: SEED (random), RATE_KBPS, MAX_IN_FLIGHT, KILL_MAX, DRY=1, KEEP=1 / KEEP_ON_FAIL=1.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd); n=${2:-1000}; kills=${3:-50}; pki_dir=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=harness.sh
. "$here/harness.sh"
rh_init "$build"
RANDOM=${SEED:-$$}
echo "crash: $n devices, $kills kills, seed ${SEED:-$$}"

rh_pki "$n" "$pki_dir"
rh_broker_start
rh_models
rate=${RATE_KBPS:-$(( n * RH_V2_SIZE / 1024 / (kills * 3) ))}
[ "$rate" -ge 1 ] || rate=1
# At most `rate` downloads at once, so each gets >= 1 KiB/s: an agent re-asks a chunk after
# 2 s and gives up (download_stalled) after 5 re-asks, and re-asks queue up at the limiter.
inflight=${MAX_IN_FLIGHT:-$rate}
# 1 KiB chunks, as an MCU agent asks: each restart refills the limiter's bucket, and one
# chunk may overdraw it, so host-sized 16 KiB chunks would let the kills speed the rollout.
rh_daemon_conf "chunks.rate_kbps = $rate" "rollout.chunk_size = 1024"
rh_daemon_start
rh_publish v1
rh_publish v2

# The devices' side, recorded by a client the kills cannot touch.
mosquitto_sub "${RH_GW[@]}" -i crash-reports -q 1 -t "tf/$RH_SITE/dev/+/report" \
	-F '%t %x' > "$RH_WORK/reports.txt" 2>/dev/null &
RH_PIDS+=($!)
rh_sims_start "$n" --sample-ms 100 --every 10 --label-rate 1
rh_sims_wait
for _ in $(seq 120); do
	online=$(rh_rr fleet.status '{}' | jq '.result.devices.online // 0')
	[ "$online" -ge "$n" ] && break
	sleep 1
done
[ "$online" -ge "$n" ] || rh_die "fleet.status: $online of $n devices online"

id=crash-1
canary=$(( n / 100 > 0 ? n / 100 : 1 ))
def=$(jq -nc --arg id "$id" --arg m "$RH_MODEL" --arg v "$RH_V2" --argjson c "$canary" \
	--argjson f "$inflight" '{
	id: $id, model: $m, version: $v, target: {all: true},
	waves: {canary: {count: $c}, stages: [50, 100]}, max_in_flight: $f, transfer: "full",
	success_threshold: 100, settle_seconds: 0, wave_timeout_seconds: 3600,
	retry: {max_attempts: 10, backoff_seconds: 1},
	gates: {max_failure_rate: 5, quality: {min_samples: 1, baseline_samples: 1, drift_alarm: false}},
	on_gate_failure: "pause"}')
dry=${DRY:-0}
if [ "$dry" = 1 ]; then
	echo "crash: DRY=1: no rollout; every device must keep the old version across the kills"
else
ans=$(rh_rr rollout.create "$def")
if echo "$ans" | jq -e '.error.code == "unknown_operation"' > /dev/null 2>&1; then
	echo "crash: SKIPPED: this tinyfleetd has no rollout engine (rollout.create: unknown_operation)"
	exit 77
fi
echo "$ans" | jq -e .ok > /dev/null || rh_die "rollout.create: $ans"
ans=$(rh_rr rollout.start "{\"id\": \"$id\"}")
echo "$ans" | jq -e .ok > /dev/null || rh_die "rollout.start: $ans"
rh_log "rollout $id started (rate limit $rate KiB/s, $inflight in flight, canary $canary)"
fi

audit_n=0
audit_check() {   # the audit log opens, has no gap, and never shrinks
	local out got
	out=$("$build/tests/rollout/tf-audit-dump" -q "$RH_WORK/state" 2>&1) ||
		rh_die "after kill $k: $out"
	got=$(echo "$out" | sed -n 's/^audit: \([0-9]*\) entries.*/\1/p')
	[ "$got" -ge "$audit_n" ] || rh_die "after kill $k: audit log shrank from $audit_n to $got"
	audit_n=$got
}

killmax=${KILL_MAX:-1.2}
t0=$(rh_now)
ended_at= state=?
for ((k = 1; k <= kills; k++)); do
	sleep "$(awk -v r="$RANDOM" -v m="$killmax" 'BEGIN { printf "%.3f", 0.2 + (m - 0.2) * r / 32767 }')"
	rh_daemon_kill9
	audit_check
	rh_daemon_start
	if [ -z "$ended_at" ] && [ "$dry" = 0 ]; then
		state=$(RH_RR_WAIT=5 rh_rollout_state "$id" | jq -r '.result.state // "?"')
		case $state in completed|aborted|rolled_back) ended_at=$k ;; esac
	fi
	(( k % 10 == 0 )) && rh_log "kill $k: audit $audit_n entries, rollout $state"
done
rh_log "$kills kills in $(echo "$(rh_now) - $t0" | bc) s"
[ -z "$ended_at" ] || [ "$ended_at" -ge "$kills" ] ||
	rh_die "the rollout ended after kill $ended_at of $kills: lower RATE_KBPS so it lasts longer"

fail=0
if [ "$dry" = 0 ]; then
st=$(rh_rollout_wait "$id" $(( 600 + n ))) || rh_die "rollout not finished: $(echo "$st" | jq -c .result)"
echo "$st" | jq -c '.result | {state, reason, totals, bytes}'
[ "$(echo "$st" | jq -r .result.state)" = completed ] || { echo "FAIL: rollout state is not completed"; fail=1; }

# Every device of the rollout, page by page.
: > "$RH_WORK/devices.jsonl"
cursor=null
while :; do
	req=$(jq -nc --arg id "$id" --argjson c "$cursor" '{id: $id, devices: true, limit: 500} + (if $c == null then {} else {cursor: $c} end)')
	page=$(rh_rr rollout.status "$req")
	echo "$page" | jq -e .ok > /dev/null || rh_die "rollout.status devices: $page"
	echo "$page" | jq -c '.result.devices[]' >> "$RH_WORK/devices.jsonl"
	cursor=$(echo "$page" | jq -c '.result.next_cursor')
	[ "$cursor" = null ] && break
done
jq -rs --argjson n "$n" '
	(map(select(.state == "succeeded")) | length) as $ok
	| (map(select(.state == "skipped" or .state == "rolled_back") | select(.reason != null)) | length) as $kept
	| (length) as $all
	| "rollout devices: \($all) listed, \($ok) succeeded, \($kept) kept the old version with a reason, \($all - $ok - $kept) other",
	  (map(select(.state != "succeeded" and ((.state != "skipped" and .state != "rolled_back") or .reason == null)))[:20][]
	   | "  \(.id): \(.state) \(.reason // "")"),
	  (if $all != $n then "FAIL: \($all) devices listed, \($n) expected" else empty end),
	  (if $ok + $kept != $all then "FAIL: devices neither succeeded nor kept back with a reason" else empty end)
' "$RH_WORK/devices.jsonl" | tee "$RH_WORK/devices.txt"
grep -q '^FAIL' "$RH_WORK/devices.txt" && fail=1
fi
echo "gateway: $(rh_rr fleet.status '{}' | jq -c '[.result.models[] | {version, devices}]')"

# The devices' side: retained states now, reports of the whole run.
mosquitto_sub "${RH_GW[@]}" -i crash-states -q 1 -t "tf/$RH_SITE/dev/+/state" -W 5 \
	-F '%t %x' > "$RH_WORK/states.txt" 2>/dev/null || true
old=
[ "$dry" = 1 ] && old=all
[ -s "$RH_WORK/devices.jsonl" ] &&
	old=$(jq -r 'select(.state == "skipped" or .state == "rolled_back") | .id' "$RH_WORK/devices.jsonl" | head -1)
/usr/bin/python3 "$here/device_view.py" --reports "$RH_WORK/reports.txt" \
	--states "$RH_WORK/states.txt" --devices "$n" --width "$RH_WIDTH" --version "$RH_V2" \
	${old:+--allow-old 0.0.0} || fail=1

# The simulators' own account (--summary, written at exit): each device runs the new
# version with exactly one confirmed update, or (where the rollout kept it back) the old one
# with none; nothing bricked.
rh_sims_stop
if [ "${#RH_SIM_SUMMARY[@]}" -gt 0 ]; then
	jq -rs --arg v "$RH_V2" --arg old "${old:+0.0.0}" --argjson n "$n" '
		(map(.devices[]) ) as $d
		| ($d | map(select(.model.version == $v and .updates_completed == 1 and (.bricked | not))) | length) as $new
		| ($d | map(select($old != "" and .model.version == $old and .updates_completed == 0 and (.bricked | not))) | length) as $kept
		| "simulators: \($d | length) devices, \($new) on \($v) with one update, \($kept) on the old version with none; totals \(map(.totals) | {updates_completed: (map(.updates_completed) | add), duplicates: (map(.duplicates) | add), reverts: (map(.reverts) | add), bricked: (map(.bricked) | add)})",
		  ($d | map(select(((.model.version == $v and .updates_completed == 1) or ($old != "" and .model.version == $old and .updates_completed == 0)) and (.bricked | not) | not))[:20][]
		   | "  \(.id): \(.model.version) after \(.updates_completed) updates, bricked \(.bricked)"),
		  (if $new + $kept != $n or ($d | length) != $n then "FAIL: simulators: \($n - $new - $kept) devices not as expected" else empty end)
	' "${RH_SIM_SUMMARY[@]}" | tee "$RH_WORK/sims.txt"
	grep -q '^FAIL' "$RH_WORK/sims.txt" && fail=1
else
	echo "simulators: this tinyfleet-sim writes no --summary; not checked from that side"
fi

# The audit log at the end, and no device with two succeeded-update entries.
rh_daemon_stop
"$build/tests/rollout/tf-audit-dump" "$RH_WORK/state" > "$RH_WORK/audit.jsonl" || fail=1
jq -rs '
	map(.entry | select(.details.device? != null)
	    | select((.details.outcome? // .details.state? // "") == "succeeded") | .details.device)
	| group_by(.) | map(select(length > 1) | "FAIL: audit: \(.[0]) has \(length) succeeded-update entries")
	| if length == 0 then "audit: no device with two succeeded-update entries" else .[] end
' "$RH_WORK/audit.jsonl" | tee "$RH_WORK/audit-dup.txt"
grep -q '^FAIL' "$RH_WORK/audit-dup.txt" && fail=1
echo "audit: $(wc -l < "$RH_WORK/audit.jsonl") entries, actions: $(jq -r .entry.action "$RH_WORK/audit.jsonl" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')"

if [ "$fail" = 0 ] && [ "$dry" = 1 ]; then
	echo "crash: PASS (DRY, no rollout): $kills kills of tinyfleetd, $n devices kept their version"
elif [ "$fail" = 0 ]; then
	echo "crash: PASS: $kills kills of tinyfleetd during a rollout to $n devices"
else
	echo "crash: FAIL"
fi
exit "$fail"
