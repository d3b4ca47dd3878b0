#!/usr/bin/env bash
# Two sites bridged to a central broker, all on 127.0.0.1: site-a and site-b each run a
# Mosquitto broker (deploy/mosquitto/gen-config.sh), a bridge to the central broker
# (gen-bridge.sh site), tinyfleetd and three simulated devices; the central broker
# (gen-bridge.sh central) has only bridges and operators. One operator, connected to the
# central broker only, publishes a model to both sites, reads their status and rolls the
# model out on both. A read-all tap on the central broker proves that device traffic never
# crosses a bridge while events, status and responses do.
#   two_site.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
TF_SRC=$1 TF_BIN=$2
. "$TF_SRC/tests/cli/lib.sh"
tf_init "$TF_BIN/tests/deploy/two_site"
w=$TF_WORK
tf=$TF_BIN/tools/cli/tinyfleet
sim=$TF_BIN/device-agent/sim/tinyfleet-sim

# One fleet CA; the central broker's PKI holds the operator and the audit tap.
bash "$TF_SRC/deploy/pki.sh" "$w/central-pki" --site central --operators alice,audit >/dev/null
cport=$(tf_port)
bash "$TF_SRC/deploy/mosquitto/gen-bridge.sh" central "$w/central" "$w/central-pki" \
	--sites site-a,site-b --operators alice --port "$cport" --user root --reader op-audit >/dev/null
mosquitto -c "$w/central/mosquitto.conf" >"$w/central.log" 2>&1 &
TF_PIDS+=($!)
tf_wait_port "$cport" || tf_fail "central broker did not start"
ctls=(--cafile "$w/central-pki/ca.crt" --cert "$w/central-pki/op-audit.crt" --key "$w/central-pki/op-audit.key")
mosquitto_sub -h 127.0.0.1 -p "$cport" "${ctls[@]}" -V mqttv5 -q 1 -t 'tf/#' -v >"$w/tap.txt" 2>&1 &
TF_PIDS+=($!)

"$tf" keygen "$w/release" >/dev/null
"$TF_BIN/tests/device-agent/ota-model-tool" "$w/boot.tfm" >/dev/null
declare -A port
for s in site-a site-b; do
	tf_pki "$w/$s-pki" "$s" 3 "$w/central-pki"
	port[$s]=$(tf_port)
	bash "$TF_SRC/deploy/mosquitto/gen-config.sh" "$w/$s" "$w/$s-pki" --port "${port[$s]}" \
		--site "$s" --user root >/dev/null
	bash "$TF_SRC/deploy/mosquitto/gen-bridge.sh" site "$w/$s" "$w/$s-pki" --site "$s" \
		--central "127.0.0.1:$cport" >/dev/null
	mosquitto -c "$w/$s/mosquitto.conf" >"$w/$s-broker.log" 2>&1 &
	TF_PIDS+=($!)
	tf_wait_port "${port[$s]}" || tf_fail "broker of $s did not start"
	# What the devices send on the site, seen by the site's gateway certificate.
	mosquitto_sub -h 127.0.0.1 -p "${port[$s]}" --cafile "$w/$s-pki/ca.crt" \
		--cert "$w/$s-pki/gateway.crt" --key "$w/$s-pki/gateway.key" -t "tf/$s/dev/#" \
		-F '%t' >"$w/$s-dev.txt" 2>&1 &
	TF_PIDS+=($!)
	tf_gateway "$s-gw" "$w/$s-pki" "${port[$s]}" "$s" "$w/release/release.pub.pem"
	"$sim" --pki "$w/$s-pki" --devices 3 --port "${port[$s]}" --site "$s" --model "$w/boot.tfm" \
		--release-pub "$w/release/release.pub.pem" --duration 90 \
		--sample-ms 20 --every 10 --timeout 20 >"$w/$s-sim.log" 2>&1 &
	TF_PIDS+=($!)
done

# The operator knows only the central broker.
export TINYFLEET_URI=ssl://127.0.0.1:$cport TINYFLEET_CA=$w/central-pki/ca.crt
export TINYFLEET_CERT=$w/central-pki/op-alice.crt TINYFLEET_KEY=$w/central-pki/op-alice.key
export TINYFLEET_CONFIG=/dev/null
for s in site-a site-b; do
	ok=
	for _ in $(seq 20); do
		online=$("$tf" --site "$s" --timeout 2 --json status 2>/dev/null | jq -r .devices.online || true)
		[ "$online" = 3 ] && { ok=1; break; }
		sleep 0.5
	done
	[ -n "$ok" ] || tf_fail "$s: status through the central broker: online=$online"
done

tf_model "$w/v1.tfm" vib-net 1.0.0 1
for s in site-a site-b; do
	"$tf" --site "$s" model publish --release-key "$w/release/release.key.pem" --seq 2 \
		--class sim-m4 --abi 65538 "$w/v1.tfm" >"$w/$s-pub.out" 2>&1 || tf_fail "$s publish: $(cat "$w/$s-pub.out")"
	grep -q "vib-net 1.0.0 published on site $s" "$w/$s-pub.out" || tf_fail "$s: $(cat "$w/$s-pub.out")"
	[ "$("$tf" --site "$s" --json models vib-net 1.0.0 | jq -r .published_by)" = op-alice ] \
		|| tf_fail "$s: model.get through the bridge"
done

# A rollout on both sites, driven from the central broker.
for s in site-a site-b; do
	"$tf" --site "$s" rollout create --id "r1-$s" --model vib-net --version 1.0.0 --all \
		--canary 1 --stages 100 --settle 1 --on-failure pause >/dev/null \
		|| tf_fail "$s: rollout create"
	"$tf" --site "$s" rollout start "r1-$s" >/dev/null || tf_fail "$s: rollout start"
done
for s in site-a site-b; do
	"$tf" --site "$s" --timeout 10 rollout status "r1-$s" --wait >"$w/$s-wait.out" \
		|| tf_fail "$s: rollout status --wait"
	[ "$("$tf" --site "$s" --json rollout status "r1-$s" | jq -r .state)" = completed ] \
		|| tf_fail "$s: rollout did not complete: $(tail -3 "$w/$s-wait.out")"
	[ "$("$tf" --site "$s" --json devices --model vib-net --version 1.0.0 | jq length)" = 3 ] \
		|| tf_fail "$s: devices not on vib-net 1.0.0"
done

# The central broker's ACL: a site's bridge cannot speak for another site, and an operator
# cannot publish into a device subtree (nor would it cross: dev/ is not bridged).
mosquitto_pub -h 127.0.0.1 -p "$cport" --cafile "$w/central-pki/ca.crt" \
	--cert "$w/site-a-pki/bridge-site-a.crt" --key "$w/site-a-pki/bridge-site-a.key" \
	-V mqttv5 -q 1 -t tf/site-b/status/fleet -m forged-by-site-a 2>/dev/null || true
mosquitto_pub -h 127.0.0.1 -p "$cport" --cafile "$w/central-pki/ca.crt" \
	--cert "$w/central-pki/op-alice.crt" --key "$w/central-pki/op-alice.key" \
	-V mqttv5 -q 1 -t tf/site-a/dev/dev-0001/cmd -m forged-by-operator 2>/dev/null || true
sleep 1
# Device traffic flowed on each site, and none of it reached the central broker; the
# operator plane did (events, status, responses).
for s in site-a site-b; do
	n=$(grep -c "^tf/$s/dev/dev-000[123]/telemetry$" "$w/$s-dev.txt" || true)
	[ "$n" -gt 0 ] || tf_fail "$s: no device telemetry on the site broker"
	grep -q "^tf/$s/events/device.online " "$w/tap.txt" || tf_fail "$s: no event crossed the bridge"
	grep -q "^tf/$s/status/fleet " "$w/tap.txt" || tf_fail "$s: no status crossed the bridge"
done
if grep -q "forged" "$w/tap.txt"; then
	tf_fail "the central ACL let through: $(grep forged "$w/tap.txt")"
fi
if grep -q "/dev/" "$w/tap.txt"; then
	tf_fail "device traffic crossed a bridge: $(grep /dev/ "$w/tap.txt" | head -3)"
fi
echo "two_site: publish and rollout on both sites through the central broker; $(wc -l <"$w/tap.txt") operator-plane messages and no device message crossed"
