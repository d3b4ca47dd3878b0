#!/bin/sh
# Manifest verification benchmark with a same-run baseline.
#   bench/manifest/run.sh [BUILD_DIR] [RUNS]      (default build/default, 2000 runs)
# Prints the machine, OpenSSL's P-256 verify rate (baseline), bench_manifest's figures and
# the -fstack-usage figures of the verification code.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/default}
runs=${2:-2000}
bin=$build/bench/manifest/bench_manifest
[ -x "$bin" ] || { echo "run.sh: build first: cmake --build --preset default" >&2; exit 1; }

echo "== machine"
echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "$(uname -srm); $(gcc --version | head -1); $(openssl version)"
echo
echo "== baseline: openssl speed -seconds 3 ecdsap256"
openssl speed -seconds 3 ecdsap256 2>/dev/null | tail -2
echo
echo "== bench_manifest $runs"
"$bin" "$runs"
echo
echo "== -fstack-usage (bytes, x86-64, RelWithDebInfo): verification path"
find "$build/bench/manifest/CMakeFiles/bench_manifest_su.dir" -name '*.su' -exec cat {} + |
	awk -F'\t' '{ n = split($1, p, ":"); printf "  %-34s %6s  %s\n", p[n], $2, $3 }' |
	sort -k2 -n -r | head -25
