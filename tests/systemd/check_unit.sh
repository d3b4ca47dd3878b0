#!/bin/sh
# check_unit.sh UNIT TINYFLEETD WORKDIR: verifies the unit (pointing ExecStart at the
# built daemon, since verify checks that the binary exists) and its security exposure.
set -eu
unit=$1 bin=$2 work=$3
max_exposure=2.0
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze missing: skipped"; exit 77; }
mkdir -p "$work"
sed "s|/usr/sbin/tinyfleetd|$bin|g" "$unit" > "$work/tinyfleetd.service"
out=$(systemd-analyze verify "$work/tinyfleetd.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
	echo "systemd-analyze verify warned:"
	echo "$out"
	exit 1
fi
exposure=$(systemd-analyze security --offline=yes "$work/tinyfleetd.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for tinyfleetd.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || { echo "no exposure figure"; exit 1; }
echo "systemd-analyze verify: clean; security exposure $exposure (threshold $max_exposure)"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'
