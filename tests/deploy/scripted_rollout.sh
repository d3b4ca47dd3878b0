#!/usr/bin/env bash
# README's "Scripting a rollout", run exactly as documented (cut out of README.md between
# its markers) with only mosquitto_pub, mosquitto_sub and jq, against a real Mosquitto, a
# real tinyfleetd and simulated devices that take the update.
#   scripted_rollout.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
TF_SRC=$1 TF_BIN=$2
. "$TF_SRC/tests/cli/lib.sh"
tf_init "$TF_BIN/tests/deploy/scripted_rollout"
w=$TF_WORK
tf=$TF_BIN/tools/cli/tinyfleet

sed -n '/^<!-- rollout.sh begin -->$/,/^<!-- rollout.sh end -->$/p' "$TF_SRC/README.md" |
	sed '1,2d;$d' | sed '$d' >"$w/rollout.sh"
head -1 "$w/rollout.sh" | grep -q '^#!/bin/sh$' || tf_fail "no script between the README markers"

tf_pki "$w/pki" plant 4
port=$(tf_port)
tf_broker broker "$w/pki" "$port" plant
"$tf" keygen "$w/release" >/dev/null
tf_gateway gw "$w/pki" "$port" plant "$w/release/release.pub.pem"
"$TF_BIN/tests/device-agent/ota-model-tool" "$w/boot.tfm" >/dev/null
"$TF_BIN/device-agent/sim/tinyfleet-sim" --pki "$w/pki" --devices 4 --port "$port" --site plant \
	--model "$w/boot.tfm" --release-pub "$w/release/release.pub.pem" --duration 120 \
	--sample-ms 10 --every 10 --label-rate 1 --timeout 20 >"$w/sim.log" 2>&1 &
TF_PIDS+=($!)

export TINYFLEET_URI=ssl://127.0.0.1:$port TINYFLEET_SITE=plant TINYFLEET_CA=$w/pki/ca.crt
export TINYFLEET_CERT=$w/pki/op-alice.crt TINYFLEET_KEY=$w/pki/op-alice.key TINYFLEET_CONFIG=/dev/null
tf_model "$w/v1.tfm" pump 1.0.0 1
"$tf" model publish --release-key "$w/release/release.key.pem" --seq 2 --class sim-m4 --abi 65538 \
	"$w/v1.tfm" >/dev/null || tf_fail "publish"
for _ in $(seq 40); do
	[ "$("$tf" --json status | jq -r .devices.online)" = 4 ] && break
	sleep 0.5
done

# The README's invocation, with MQ pointing at this broker.
MQ="-h 127.0.0.1 -p $port --cafile $w/pki/ca.crt --cert $w/pki/op-alice.crt --key $w/pki/op-alice.key"
set +e
env -i PATH="$PATH" MQ="$MQ" SITE=plant ME=op-alice SETTLE=1 POLL=1 \
	timeout 150 sh "$w/rollout.sh" pump 1.0.0 >"$w/out.txt" 2>"$w/err.txt"
rc=$?
set -e
[ $rc = 0 ] || tf_fail "rollout.sh exit $rc: $(cat "$w/out.txt" "$w/err.txt")"
grep -q "^rollout pump-1.0.0-r1: 4 device(s) targeted" "$w/out.txt" || tf_fail "create: $(cat "$w/out.txt")"
grep -q "^completed wave [0-9]*: 4/4 succeeded, 0 failed" "$w/out.txt" || tf_fail "end: $(cat "$w/out.txt")"
# The devices really run the new version.
[ "$("$tf" --json devices --model pump --version 1.0.0 | jq length)" = 4 ] || tf_fail "devices not on pump 1.0.0"
# A repeat is refused without harm: the rollout id exists with the same definition, and
# starting a completed rollout is not allowed (invalid_state, exit 2).
set +e
env -i PATH="$PATH" MQ="$MQ" SITE=plant ME=op-alice SETTLE=1 POLL=1 \
	timeout 60 sh "$w/rollout.sh" pump 1.0.0 >"$w/out2.txt" 2>"$w/err2.txt"
rc=$?
set -e
[ $rc = 2 ] && grep -q "^invalid_state" "$w/err2.txt" || tf_fail "repeat: exit $rc, $(cat "$w/err2.txt")"
echo "scripted_rollout: README's script rolled pump 1.0.0 out to 4 devices"
cat "$w/out.txt"
