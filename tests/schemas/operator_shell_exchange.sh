#!/bin/sh
# The request/response exchange of schemas/README.md, run with the real Mosquitto clients
# against a real (plain, loopback) Mosquitto broker and a stub gateway.
#
# The stub is check_operator_schemas.py respond: it refuses a request as the contract says
# (bad_json, unknown_operation, invalid_request with path and keyword), drops one whose
# response topic is not under the requesting operator's CN, and otherwise answers the
# operation's example response. So this shows that the README's commands (MQTT v5 response
# topic, correlation data, mosquitto_rr, the jq lines) work as documented; it does not test
# tinyfleetd, whose own tests replace the stub.
#
# usage: operator_shell_exchange.sh <python3> <source dir>; exits 77 (skipped) without the tools.
set -eu
PY=$1
SRC=$2
CHECK="$PY $SRC/tests/schemas/check_operator_schemas.py"
SCHEMAS=$SRC/schemas/operator
EXAMPLES=$SRC/schemas/examples/operator
PATH=$PATH:/usr/sbin

for tool in mosquitto mosquitto_sub mosquitto_pub mosquitto_rr jq; do
	command -v "$tool" > /dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

DIR=$(mktemp -d)
chmod 755 "$DIR"                # mosquitto may run as its own user after reading the config
BROKER= STUBSUB= STUBLOOP=
cleanup() {
	for pid in $STUBSUB $STUBLOOP $BROKER; do
		kill "$pid" 2> /dev/null || true
	done
	wait 2> /dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	echo "--- stub log" >&2; cat "$DIR/stub.log" >&2 2> /dev/null || true
	exit 1
}

PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$DIR/mosquitto.conf" << EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
EOF
mosquitto -c "$DIR/mosquitto.conf" > "$DIR/broker.log" 2>&1 &
BROKER=$!
i=0
until mosquitto_pub -h 127.0.0.1 -p "$PORT" -t probe -m x 2> /dev/null; do
	i=$((i + 1)); [ $i -lt 50 ] || fail "broker did not start: $(cat "$DIR/broker.log")"
	sleep 0.1
done

# The stub gateway of site plant-a. Fields are separated by '|', which no topic level and
# none of our correlation data contain; the payload comes last and keeps any '|' it has.
mkfifo "$DIR/requests"
mosquitto_sub -h 127.0.0.1 -p "$PORT" -V mqttv5 -q 1 -t 'tf/plant-a/api/req/+/+' \
	-F '%R|%D|%t|%p' > "$DIR/requests" &
STUBSUB=$!
while IFS='|' read -r rtopic corr topic body; do
	rest=${topic#tf/plant-a/api/req/}
	op=${rest%/*}
	cn=${rest#*/}
	case $rtopic in
	tf/plant-a/api/resp/"$cn"/?*) ;;
	*) echo "dropped $topic: response topic '$rtopic' is not under $cn" >> "$DIR/stub.log"; continue ;;
	esac
	printf '%s' "$body" | $CHECK respond --schemas "$SCHEMAS" --examples "$EXAMPLES" \
		--operation "$op" > "$DIR/answer-out.json"
	echo "answered $op for $cn" >> "$DIR/stub.log"
	mosquitto_pub -h 127.0.0.1 -p "$PORT" -V mqttv5 -q 1 -t "$rtopic" \
		-D publish correlation-data "$corr" -D publish content-type application/json \
		-f "$DIR/answer-out.json"
done < "$DIR/requests" &
STUBLOOP=$!

# ---- The README's commands, with MQ pointing at the test broker (no TLS here). ----
SITE=plant-a ME=alice
MQ="-h 127.0.0.1 -p $PORT -V mqttv5"

# Wait until the stub is subscribed (its subscription races with our first request).
i=0
until [ -n "$(mosquitto_rr $MQ -q 1 -t "tf/$SITE/api/req/fleet.status/$ME" \
	-e "tf/$SITE/api/resp/$ME/ready" -m '{}' -W 1 2> /dev/null)" ]; do
	i=$((i + 1)); [ $i -lt 10 ] || fail "stub gateway does not answer"
done

cd "$DIR"
# The README's exchange. Its 'sleep 0.5' lets mosquitto_sub subscribe before the request
# goes out; on a loaded machine that may not be enough, so the test tries up to 3 times.
exchange() {
	CORR=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	RESP=tf/$SITE/api/resp/$ME/$CORR
	mosquitto_sub $MQ -t "$RESP" -C 1 -W 10 -F '%D %p' > answer.txt &
	SUB=$!
	sleep "$1"
	mosquitto_pub $MQ -q 1 -t "tf/$SITE/api/req/device.list/$ME" \
		-D publish response-topic "$RESP" \
		-D publish correlation-data "$CORR" \
		-D publish content-type application/json \
		-D publish message-expiry-interval 30 \
		-m '{"online": true, "drifting": true}'
	wait $SUB
}
exchange 0.5 || exchange 1 || exchange 2 || fail "no answer to device.list"
read -r got body < answer.txt
[ "$got" = "$CORR" ] || fail "correlation data '$got', sent '$CORR'"
echo "$body" | jq -e '.ok' > /dev/null || fail "device.list refused: $body"
echo "$body" | jq -r '.result.items[] | "\(.id)\t\(.model.version // "-")\t\(.metrics.accuracy_avg)"' > ids.txt
printf 'vib-0007\t1.0.0\t0.94\nvib-0199\t-\tnull\n' | cmp -s - ids.txt || fail "jq listing: $(cat ids.txt)"
echo "$body" > answer.json
$CHECK validate --schemas "$SCHEMAS" --schema device-list-response --file answer.json \
	|| fail "answer breaks device-list-response"

total=$(mosquitto_rr $MQ -q 1 -t "tf/$SITE/api/req/fleet.status/$ME" -e "tf/$SITE/api/resp/$ME/rr-$$" \
	-D publish correlation-data "rr-$$" -D publish message-expiry-interval 30 -m '{}' -W 10 \
	| jq '.result.devices.total')
[ "$total" = 200 ] || fail "mosquitto_rr fleet.status: devices.total '$total'"

rr() {
	mosquitto_rr $MQ -q 1 -t "tf/$SITE/api/req/$1/$ME" -e "tf/$SITE/api/resp/$ME/$1.$$" \
		-D publish message-expiry-interval 30 -m "$2" -W 10
}
rr device.list '{"limit": 501}' > bad.json || fail "no answer to an invalid request"
[ "$(jq -r '.error.code + " " + .error.details.path + " " + .error.details.keyword' bad.json)" = \
	"invalid_request /limit maximum" ] || fail "invalid request answered $(cat bad.json)"
$CHECK validate --schemas "$SCHEMAS" --schema error-response --file bad.json || fail "bad error"
[ "$(rr device.frobnicate '{}' | jq -r .error.code)" = unknown_operation ] \
	|| fail "unknown operation not refused"
[ "$(rr rollout.pause '{"id": "pump-1.1.0-r1"}' | jq -r '.result.state')" = paused ] \
	|| fail "rollout.pause"

# A response topic under another operator's CN gets no answer at all.
if mosquitto_rr $MQ -q 1 -t "tf/$SITE/api/req/fleet.status/$ME" -e "tf/$SITE/api/resp/bob/x$$" \
	-m '{}' -W 2 > stray.txt 2> /dev/null && [ -s stray.txt ]; then
	fail "answered into another operator's response subtree"
fi
i=0
until grep -q "dropped tf/$SITE/api/req/fleet.status/$ME" stub.log; do
	i=$((i + 1)); [ $i -lt 20 ] || fail "stub did not see the stray request"
	sleep 0.1
done

echo "operator shell exchange: ok"
