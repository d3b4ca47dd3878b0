#!/usr/bin/env bash
# README's main command in CI's bounded mode (TF_DEMO_BOUNDED=1: 24 devices, the build's own
# binaries), and the summary it prints checked against what the person is told they see.
#   demo_bounded.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 bin=$2
out=$bin/tests/deploy/demo.out
mkdir -p "$(dirname "$out")"
TF_DEMO_BOUNDED=1 TF_DEMO_BIN=$bin bash "$src/deploy/demo.sh" >"$out" 2>&1 || {
	tail -40 "$out" >&2
	echo "FAIL: demo exited non-zero" >&2
	exit 1
}
summary=$(sed -n '/== Summary/,$p' "$out" | sed 's/\x1b\[[0-9;]*m//g')
echo "$summary"
fail() { echo "FAIL: $*" >&2; exit 1; }
grep -q "^   fleet: 24 devices, 24 online$" <<<"$summary" || fail "fleet line"
grep -q "^   devices per version: " <<<"$summary" || fail "devices per version"
grep -q "^   security: 1 tampered manifest refused (bad_signature)$" <<<"$summary" || fail "tampered manifest"
n=$(sed -n 's/^   drift: \([0-9]*\) drift alarm(s) raised by the devices.*/\1/p' <<<"$summary")
[ "${n:-0}" -ge 1 ] || fail "no drift alarm in the summary"
grep -q "^   drift: .* versions .*1\.2\.0" <<<"$summary" || fail "no drift alarm on v3 (1.2.0)"
if grep -q "^   rollouts: not in this gateway build yet" <<<"$summary"; then
	grep -q "^   deltas (offline): v1 -> v2 is [0-9]* bytes" <<<"$summary" || fail "delta line"
else
	grep -q "^   v2 rollout: completed, 24 devices updated in 3 waves" <<<"$summary" || fail "v2 rollout line"
	grep -q "% saved by deltas" <<<"$summary" || fail "delta savings"
	grep -q "^   v3 rollout: rolled_back (gate_quality)" <<<"$summary" || fail "v3 rollback line"
	grep -q "^   devices per version: .*vib-anomaly 1.1.0: 24" <<<"$summary" || fail "fleet not back on 1.1.0"
fi
# Everything it started is gone: no process still uses its work directory.
dir=$(sed -n 's/.*pki: created fleet CA in \(.*\)\/pki$/\1/p' "$out" | head -1)
[ -n "$dir" ] && [ ! -e "$dir" ] || fail "work directory $dir left behind"
if pgrep -f "$dir" >/dev/null; then fail "processes of the demo still run"; fi
echo "demo_bounded: summary OK"
